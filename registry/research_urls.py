"""Research access, under /research/ (the register owns the data; its own prefix because
researchers are its users, not the register's clinicians)."""

from django.urls import path

from . import research_views as views

app_name = "research"

urlpatterns = [
    path("", views.aggregate_page, name="aggregates"),
    path("markers/", views.marker_page, name="markers"),
    path("dictionary/", views.dictionary_page, name="dictionary"),
    path("dictionary.csv", views.dictionary_csv, name="dictionary_csv"),
    path("projects/", views.project_list, name="projects"),
    path("projects/apply/", views.project_apply, name="project_apply"),
    path("projects/<int:project_id>/", views.project_detail, name="project"),
    path("projects/<int:project_id>/decision/", views.project_decide, name="project_decide"),
    path("projects/<int:project_id>/extracts/", views.extract_start, name="extract_start"),
    path("extracts/<int:extract_id>/", views.extract_detail, name="extract"),
    path(
        "extracts/<int:extract_id>/files/<int:file_id>/",
        views.extract_download,
        name="extract_download",
    ),
    path("deliveries/", views.delivery_list, name="deliveries"),
]
