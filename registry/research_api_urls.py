"""Research access API routes, included under /api/v1/research/ in the "api" namespace."""

from django.urls import path

from . import research_api as api

urlpatterns = [
    path("aggregates/", api.AggregateApi.as_view(), name="research_aggregates"),
    path("markers/", api.MarkerProfileApi.as_view(), name="research_markers"),
    path("dictionary/", api.DictionaryApi.as_view(), name="research_dictionary"),
    path("projects/", api.ProjectListApi.as_view(), name="research_projects"),
    path("projects/<int:project_id>/", api.ProjectDetailApi.as_view(), name="research_project"),
    path(
        "projects/<int:project_id>/decision/",
        api.ProjectDecisionApi.as_view(),
        name="research_project_decision",
    ),
    path(
        "projects/<int:project_id>/extracts/",
        api.ExtractListApi.as_view(),
        name="research_extracts",
    ),
    path("extracts/<int:extract_id>/", api.ExtractDetailApi.as_view(), name="research_extract"),
    path(
        "extracts/<int:extract_id>/files/<int:file_id>/",
        api.ExtractFileApi.as_view(),
        name="research_extract_file",
    ),
    path("deliveries/", api.DeliveryListApi.as_view(), name="research_deliveries"),
]
