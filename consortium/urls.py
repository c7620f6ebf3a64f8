"""Root URLconf. Each app adds its pages under its own prefix and its API under /api/v1/."""

from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularSwaggerSplitView

from . import api, errors, inbox_api, inbox_views, views
from .api_docs import RoleSchemaView

# The admin site signs in through allauth, so it gets the same MFA and rate limits
# (allauth docs, common/admin.rst).
admin.site.login = secure_admin_login(admin.site.login)
admin.site.site_header = "NBTC platform administration"

directory_patterns = [
    path("", views.directory, name="list"),
    path("suggestions/", views.suggestion_list, name="suggestions"),
    path("suggestions/<int:pk>/resolve/", views.suggestion_resolve, name="suggestion_resolve"),
    path("<slug:slug>/", views.group_detail, name="group_detail"),
    path("<slug:slug>/edit/", views.group_edit, name="group_edit"),
    path("<slug:slug>/suggest/", views.group_suggest, name="group_suggest"),
]

# The member's inbox: included (without a namespace) so the visibility walk finds its
# routes under inbox/ and api/v1/inbox/ (tests/conftest.py url_routes).
inbox_patterns = [
    path("", inbox_views.inbox, name="inbox"),
    path("read-all/", inbox_views.inbox_read_all, name="inbox_read_all"),
    path("<int:pk>/", inbox_views.inbox_open, name="inbox_open"),
    path("<int:pk>/read/", inbox_views.inbox_read, name="inbox_read"),
]
inbox_api_patterns = [
    path("", inbox_api.InboxListApi.as_view(), name="inbox"),
    path("read/", inbox_api.InboxReadAllApi.as_view(), name="inbox_read_all"),
    path("unread-count/", inbox_api.InboxUnreadApi.as_view(), name="inbox_unread"),
    path("<int:pk>/", inbox_api.InboxItemApi.as_view(), name="inbox_item"),
    path("<int:pk>/read/", inbox_api.InboxReadApi.as_view(), name="inbox_read"),
]

api_patterns = [
    path("directory/groups/", api.GroupListApi.as_view(), name="directory_groups"),
    path("directory/groups/<slug:slug>/", api.GroupDetailApi.as_view(), name="directory_group"),
    path("me/", api.MeApi.as_view(), name="me"),
    path("members/", api.MemberListApi.as_view(), name="members"),
    path(
        "members/<int:member_id>/deactivate/",
        api.MemberStatusApi.as_view(action="deactivate"),
        name="member_deactivate",
    ),
    path(
        "members/<int:member_id>/reactivate/",
        api.MemberStatusApi.as_view(action="reactivate"),
        name="member_reactivate",
    ),
    path("inbox/", include(inbox_api_patterns)),
    path("registry/", include("registry.api_urls")),
    path("research/", include("registry.research_api_urls")),
    path("trials/", include("trials.api_urls")),
    path("screening/", include("screening.api_urls")),
]

# Under /api/ even Django's own error answers use the API's error shape.
handler400 = api.bad_request
handler403 = api.permission_denied
handler404 = api.page_not_found
handler500 = errors.server_error  # PostgreSQL unreachable: 503 with Retry-After

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/", include("allauth.urls")),
    path("account/", views.account, name="account"),
    path("account/api-token/", views.api_token_create, name="api_token_create"),
    path(
        "account/api-token/<str:token_key>/revoke/",
        views.api_token_revoke,
        name="api_token_revoke",
    ),
    path("members/", views.member_list, name="member_list"),
    path("inbox/", include(inbox_patterns)),
    path("members/invite/", views.member_invite, name="member_invite"),
    path(
        "members/<int:member_id>/deactivate/",
        views.member_status,
        {"action": "deactivate"},
        name="member_deactivate",
    ),
    path(
        "members/<int:member_id>/reactivate/",
        views.member_status,
        {"action": "reactivate"},
        name="member_reactivate",
    ),
    path("directory/", include((directory_patterns, "directory"))),
    path("registry/", include("registry.urls")),
    path("research/", include("registry.research_urls")),
    path("trials/", include("trials.urls")),
    path("screening/", include("screening.urls")),
    path("api/v1/", include((api_patterns, "api"))),
    path("api/schema/", RoleSchemaView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api_docs"),
    path("admin/", admin.site.urls),
]
