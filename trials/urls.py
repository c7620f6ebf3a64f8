from django.urls import path

from . import referral_views, views

app_name = "trials"

urlpatterns = [
    path("", views.trial_list, name="trial_list"),
    path("new/", views.trial_create, name="trial_create"),
    path("<int:pk>/", views.trial_detail, name="trial_detail"),
    path("<int:pk>/status/", views.trial_status, name="trial_status"),
    path("<int:pk>/referral/", views.trial_referral, name="trial_referral"),
    path("<int:pk>/criteria/", views.criteria_edit, name="criteria_edit"),
    path("<int:pk>/funnel.csv", views.funnel_csv, name="funnel_csv"),
    path("<int:pk>/suggestions/<int:n>/accept/", views.suggestion_accept, name="suggestion_accept"),
    path("<int:pk>/suggestions/<int:n>/reject/", views.suggestion_reject, name="suggestion_reject"),
    path("<int:pk>/suggestions/<int:n>/edit/", views.suggestion_edit, name="suggestion_edit"),
    path("matches/", views.match_queue, name="match_queue"),
    path("referrals/", referral_views.referral_list, name="referral_list"),
    path("referrals/new/", referral_views.referral_create, name="referral_create"),
    path("referrals/<int:pk>/take-up/", referral_views.referral_take_up, name="referral_take_up"),
    path("matches/<int:pk>/", views.match_detail, name="match_detail"),
    path("matches/<int:pk>/reply/", views.match_reply, name="match_reply"),
]
