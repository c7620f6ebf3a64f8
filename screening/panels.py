"""The screening section of the register's patient page (registry.panels): the
patient's requests this member may see, their state with the lab's answer (the day it
expects the sample, or why it declined), and each request's released reports (the
clinician opens the signed report from here), in two or three queries."""

from django.template.loader import render_to_string

from consortium.models import Role

from . import selectors
from .models import Report, RequestEvent, State


def patient_panel(request, patient) -> str:
    if not selectors.can_see_requests(request.user):
        return ""
    requests = selectors.patient_requests(request.user, patient)
    can_request = request.user.role == Role.CLINICIAN
    if not requests and not can_request:
        return ""
    released: dict[int, list[Report]] = {}
    if requests:
        for report in Report.objects.filter(
            request__in=requests, status=Report.Status.RELEASED
        ).order_by("-number"):
            released.setdefault(report.request_id, []).append(report)
    # The lab's answer, on the clinician's page: the decline's reason (the note of the move).
    declines = {}
    if requests:
        for event in RequestEvent.objects.filter(request__in=requests, to_state=State.DECLINED):
            declines[event.request_id] = event.note
    for screening_request in requests:
        screening_request.released_reports = released.get(screening_request.pk, [])
        screening_request.decline_reason = declines.get(screening_request.pk, "")
    return render_to_string(
        "screening/_patient_panel.html",
        {"requests": requests, "patient": patient, "can_request": can_request},
        request=request,
    )
