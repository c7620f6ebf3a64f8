"""The register's API routes, included under /api/v1/registry/ in the "api" namespace."""

from django.urls import path

from . import access_api, api, indicator_api, meeting_api
from .sections import SECTIONS

urlpatterns = [
    path("patients/", api.PatientListApi.as_view(), name="registry_patients"),
    path("patients/search/", api.PatientSearchApi.as_view(), name="registry_patient_search"),
    path(
        "patients/<str:register_number>/", api.PatientDetailApi.as_view(), name="registry_patient"
    ),
    path(
        "patients/<str:register_number>/national-id/",
        api.HNumberReplaceApi.as_view(),
        name="registry_patient_national_id",
    ),
    path(
        "patients/<str:register_number>/history/",
        api.PatientHistoryApi.as_view(),
        name="registry_patient_history",
    ),
    path(
        "patients/<str:register_number>/episodes/",
        api.EpisodeListApi.as_view(),
        name="registry_episodes",
    ),
    path("episodes/<int:episode_id>/", api.EpisodeDetailApi.as_view(), name="registry_episode"),
    path("episodes/<int:episode_id>/markers/", api.MarkersApi.as_view(), name="registry_markers"),
    path("episodes/<int:episode_id>/submit/", api.SubmitApi.as_view(), name="registry_submit"),
    path("episodes/<int:episode_id>/reopen/", api.ReopenApi.as_view(), name="registry_reopen"),
    path("worklist/", api.WorklistApi.as_view(), name="registry_worklist"),
    path("meetings/", meeting_api.MeetingListApi.as_view(), name="registry_meetings"),
    path(
        "meetings/<int:meeting_id>/",
        meeting_api.MeetingDetailApi.as_view(),
        name="registry_meeting",
    ),
    path(
        "meetings/<int:meeting_id>/items/",
        meeting_api.AgendaApi.as_view(),
        name="registry_meeting_items",
    ),
    path(
        "meetings/<int:meeting_id>/items/<int:item_id>/",
        meeting_api.AgendaItemApi.as_view(),
        name="registry_meeting_item",
    ),
    path(
        "meetings/<int:meeting_id>/items/<int:item_id>/decision/",
        meeting_api.DecisionApi.as_view(),
        name="registry_meeting_decision",
    ),
    path(
        "meetings/<int:meeting_id>/summary/",
        meeting_api.SummaryApi.as_view(),
        name="registry_meeting_summary",
    ),
    path("access-log/", access_api.AccessLogApi.as_view(), name="registry_access_log"),
    path(
        "access-log/export/",
        access_api.AccessLogExportApi.as_view(),
        name="registry_access_log_export",
    ),
    path("indicators/", indicator_api.IndicatorListApi.as_view(), name="registry_indicators"),
    path(
        "indicators/<str:code>/survival/",
        indicator_api.SurvivalApi.as_view(),
        name="registry_indicator_survival",
    ),
    path(
        "indicators/<str:code>/survival/compare/",
        indicator_api.SurvivalCompareApi.as_view(),
        name="registry_indicator_survival_compare",
    ),
    path(
        "indicator-reports/",
        indicator_api.IndicatorReportListApi.as_view(),
        name="registry_indicator_reports",
    ),
    path(
        "indicator-reports/<int:report_id>/",
        indicator_api.IndicatorReportDetailApi.as_view(),
        name="registry_indicator_report",
    ),
    path(
        "indicator-reports/<int:report_id>/release/",
        indicator_api.IndicatorReportReleaseApi.as_view(),
        name="registry_indicator_report_release",
    ),
    path(
        "indicator-snapshots/",
        indicator_api.IndicatorSnapshotListApi.as_view(),
        name="registry_indicator_snapshots",
    ),
    path(
        "indicator-snapshots/<int:snapshot_id>/",
        indicator_api.IndicatorSnapshotDetailApi.as_view(),
        name="registry_indicator_snapshot",
    ),
    path(
        "indicator-snapshots/<int:snapshot_id>/reproductions/",
        indicator_api.IndicatorSnapshotReproductionListApi.as_view(),
        name="registry_indicator_snapshot_reproductions",
    ),
    path(
        "indicator-reproductions/<int:reproduction_id>/",
        indicator_api.IndicatorReproductionDetailApi.as_view(),
        name="registry_indicator_reproduction",
    ),
    path(
        "indicator-subscriptions/",
        indicator_api.IndicatorSubscriptionListApi.as_view(),
        name="registry_indicator_subscriptions",
    ),
    path(
        "indicator-subscriptions/<int:subscription_id>/",
        indicator_api.IndicatorSubscriptionDetailApi.as_view(),
        name="registry_indicator_subscription",
    ),
    path(
        "indicator-reports/<int:report_id>/<str:kind>/",
        indicator_api.IndicatorReportFileApi.as_view(),
        name="registry_indicator_report_file",
    ),
]
for section in SECTIONS.values():
    list_view, detail_view = api.section_views(section)
    urlpatterns += [
        path(
            f"episodes/<int:episode_id>/{section.path}/",
            list_view.as_view(),
            name=f"registry_{section.key}",
        ),
        path(
            f"episodes/<int:episode_id>/{section.path}/<int:pk>/",
            detail_view.as_view(),
            name=f"registry_{section.key}_detail",
        ),
    ]
