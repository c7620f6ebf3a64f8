"""The screening section of the register's patient page (registry.panels): the
patient's requests this member may see, and their state, in one query."""

from django.template.loader import render_to_string

from consortium.models import Role

from . import selectors


def patient_panel(request, patient) -> str:
    if not selectors.can_see_requests(request.user):
        return ""
    requests = selectors.patient_requests(request.user, patient.pk)
    can_request = request.user.role == Role.CLINICIAN
    if not requests and not can_request:
        return ""
    return render_to_string("screening/_patient_panel.html", {
        "requests": requests, "patient": patient, "can_request": can_request}, request=request)
