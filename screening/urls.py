from django.urls import path

from . import views

app_name = "screening"

urlpatterns = [
    path("", views.request_list, name="request_list"),
    path("lab/", views.lab_dashboard, name="lab_dashboard"),
    path("notifications/", views.notifications, name="notifications"),
    path("patients/<str:register_number>/request/", views.request_create, name="request_create"),
    path("requests/<int:request_id>/", views.request_detail, name="request"),
    path("requests/<int:request_id>/sample/", views.sample_create, name="sample_create"),
    path("samples/<int:sample_id>/label/", views.sample_label, name="sample_label"),
    path("samples/<int:sample_id>/ship/", views.shipment_create, name="shipment_create"),
    path("samples/<int:sample_id>/receipt/", views.receipt_create, name="receipt_create"),
    path("shipments/<int:shipment_id>/", views.shipment_detail, name="shipment"),
    path("requests/<int:request_id>/plates/", views.plate_upload, name="plate_upload"),
    path("requests/<int:request_id>/results/", views.results, name="results"),
    path("requests/<int:request_id>/report/", views.report_edit, name="report_edit"),
    path("plates/<int:plate_id>/override/", views.plate_override, name="plate_override"),
    path("reports/<int:report_id>/", views.report_detail, name="report"),
    path("reports/<int:report_id>/pdf/", views.report_pdf, name="report_pdf"),
]
