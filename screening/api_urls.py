"""The screening API routes, included under /api/v1/screening/ in the "api" namespace
(names prefixed screening_)."""

from django.urls import path

from . import api

urlpatterns = [
    path("requests/", api.RequestListApi.as_view(), name="screening_requests"),
    path("requests/<int:request_id>/", api.RequestDetailApi.as_view(), name="screening_request"),
    path(
        "requests/<int:request_id>/transitions/",
        api.TransitionApi.as_view(),
        name="screening_transitions",
    ),
    path(
        "requests/<int:request_id>/samples/", api.SampleListApi.as_view(), name="screening_samples"
    ),
    path(
        "samples/<int:sample_id>/shipment/",
        api.ShipmentCreateApi.as_view(),
        name="screening_shipment_create",
    ),
    path("samples/<int:sample_id>/receipt/", api.ReceiptApi.as_view(), name="screening_receipt"),
    path(
        "shipments/<int:shipment_id>/", api.ShipmentDetailApi.as_view(), name="screening_shipment"
    ),
    path(
        "shipments/<int:shipment_id>/handovers/",
        api.HandOverListApi.as_view(),
        name="screening_handovers",
    ),
    path(
        "shipments/<int:shipment_id>/readings/",
        api.ReadingListApi.as_view(),
        name="screening_readings",
    ),
    path(
        "shipments/<int:shipment_id>/readings/upload/",
        api.ReadingUploadApi.as_view(),
        name="screening_readings_upload",
    ),
    path("requests/<int:request_id>/results/", api.ResultsApi.as_view(), name="screening_results"),
    path(
        "requests/<int:request_id>/plates/", api.PlateUploadApi.as_view(), name="screening_plates"
    ),
    path(
        "plates/<int:plate_id>/override/",
        api.PlateOverrideApi.as_view(),
        name="screening_plate_override",
    ),
    path(
        "requests/<int:request_id>/reports/", api.ReportListApi.as_view(), name="screening_reports"
    ),
    path("reports/<int:report_id>/", api.ReportDetailApi.as_view(), name="screening_report"),
    path(
        "reports/<int:report_id>/sign/", api.ReportSignApi.as_view(), name="screening_report_sign"
    ),
]
