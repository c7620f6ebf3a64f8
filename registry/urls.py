from django.urls import path

from . import access_views, indicator_views, meeting_views, views

app_name = "registry"

patient = "patients/<str:register_number>/"
episode = patient + "episodes/<int:episode_id>/"
meeting = "meetings/<int:meeting_id>/"

urlpatterns = [
    path("", views.patient_list, name="patient_list"),
    path("worklist/", views.worklist, name="worklist"),
    path("access-review/", access_views.access_review_page, name="access_review"),
    path(
        "access-review/export.csv",
        access_views.access_review_export,
        name="access_review_export",
    ),
    path("indicators/", indicator_views.indicator_list, name="indicators"),
    path("indicators/survival/", indicator_views.survival_page, name="indicator_survival"),
    path("indicators/reports/", indicator_views.report_list, name="indicator_reports"),
    path("indicators/notified/", indicator_views.notified_import, name="indicator_notified"),
    path(
        "indicators/reports/<int:report_id>/",
        indicator_views.report_detail,
        name="indicator_report",
    ),
    path(
        "indicators/reports/<int:report_id>/release/",
        indicator_views.report_release,
        name="indicator_report_release",
    ),
    path(
        "indicators/reports/<int:report_id>/<str:kind>/",
        indicator_views.report_download,
        name="indicator_report_download",
    ),
    path(
        "indicators/subscriptions/",
        indicator_views.subscription_list,
        name="indicator_subscriptions",
    ),
    path(
        "indicators/subscriptions/<int:subscription_id>/delete/",
        indicator_views.subscription_delete,
        name="indicator_subscription_delete",
    ),
    path(
        "indicators/snapshots/<int:snapshot_id>/",
        indicator_views.indicator_snapshot_status,
        name="indicator_snapshot_status",
    ),
    path(
        "indicators/snapshots/<int:snapshot_id>/reproduce/",
        indicator_views.indicator_snapshot_reproduce,
        name="indicator_snapshot_reproduce",
    ),
    path(
        "indicators/reproductions/<int:reproduction_id>/",
        indicator_views.indicator_reproduction_status,
        name="indicator_reproduction_status",
    ),
    path(
        "indicators/snapshots/",
        indicator_views.indicator_snapshot_request,
        name="indicator_snapshot_request",
    ),
    path(
        "indicators/<str:code>/missed/", indicator_views.indicator_missed, name="indicator_missed"
    ),
    # Tumour-board (MDT) meetings
    path("meetings/", meeting_views.meeting_list, name="meeting_list"),
    path("meetings/new/", meeting_views.meeting_create, name="meeting_create"),
    path(meeting, meeting_views.meeting_detail, name="meeting"),
    path(meeting + "edit/", meeting_views.meeting_edit, name="meeting_edit"),
    path(meeting + "items/", meeting_views.meeting_item_add, name="meeting_item_add"),
    path(meeting + "items/<int:item_id>/", meeting_views.meeting_item, name="meeting_item"),
    path(
        meeting + "items/<int:item_id>/remove/",
        meeting_views.meeting_item_remove,
        name="meeting_item_remove",
    ),
    path(
        meeting + "summary/new/",
        meeting_views.meeting_summary_request,
        name="meeting_summary_request",
    ),
    path(meeting + "summary/", meeting_views.meeting_summary, name="meeting_summary"),
    path(meeting + "summary/pdf/", meeting_views.meeting_summary_pdf, name="meeting_summary_pdf"),
    path("patients/new/", views.patient_create, name="patient_create"),
    path(patient, views.patient_detail, name="patient"),
    path(patient + "edit/", views.patient_edit, name="patient_edit"),
    path(patient + "national-id/", views.patient_replace_h_number, name="patient_national_id"),
    path(patient + "history/", views.patient_history, name="patient_history"),
    path(patient + "access/", views.patient_access, name="patient_access"),
    path(patient + "drafts/<str:form_key>/", views.draft_autosave, name="draft_autosave"),
    path(patient + "drafts/<str:form_key>/discard/", views.draft_discard, name="draft_discard"),
    path(patient + "episodes/new/", views.episode_form, name="episode_create"),
    path(episode, views.episode_form, name="episode_edit"),
    path(episode + "markers/", views.markers_form, name="markers"),
    path(episode + "submit/", views.episode_submit, name="episode_submit"),
    path(episode + "reopen/", views.episode_reopen, name="episode_reopen"),
    path(episode + "<str:section>/new/", views.section_form, name="section_create"),
    path(episode + "<str:section>/<int:pk>/", views.section_form, name="section_edit"),
    path(episode + "<str:section>/<int:pk>/delete/", views.section_delete, name="section_delete"),
]
