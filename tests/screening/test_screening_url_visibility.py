"""Who sees what, for EVERY screening URL and API endpoint: a clinician and a
coordinator of another hospital, a scientist of another lab, a researcher and an admin
get 404 for a request they may not see (403 or an empty list on pages about no
particular request), on GET, POST, PUT, PATCH and DELETE, and nothing changes. The
routes are read from the URLconf, so a new route is covered the day it is added."""

import pytest

from consortium.models import AccessLog, Role
from screening import services
from screening.models import (
    AnalysisRun,
    DrugResult,
    HandOver,
    Plate,
    PlateUpload,
    Receipt,
    Report,
    RequestEvent,
    Sample,
    ScreeningRequest,
    Shipment,
    TemperatureReading,
    Well,
)
from tests.conftest import PASSWORD, make_member, sign_in, url_routes
from tests.screening.factories import analysed, make_world

ROUTES = url_routes("screening")
LIST_PAGES = {"request_list", "lab_dashboard", "notifications", "screening_requests"}


def test_every_route_is_walked():
    assert len(ROUTES) == 32, ROUTES


@pytest.fixture
def received(db):
    """A request with analysed plates and a released report, so every route of the
    results (plates, reports) has something to show or refuse."""
    world = make_world(with_totp=True)
    request, upload, run = analysed(world)
    report = services.report_save(
        screening_request=request, by=world.lab, interpretation="Palbociclib stands out."
    )
    services.report_sign(report=report, by=world.lab, password=PASSWORD)
    request.refresh_from_db()
    return world, request


def _fill(route: str, request: ScreeningRequest) -> str:
    sample = request.samples.get()
    path = (
        route.replace("<str:register_number>", request.patient.register_number)
        .replace("<int:request_id>", str(request.pk))
        .replace("<int:sample_id>", str(sample.pk))
        .replace("<int:shipment_id>", str(sample.shipment.pk))
        .replace("<int:plate_id>", str(Plate.objects.filter(upload__request=request).first().pk))
        .replace("<int:report_id>", str(Report.objects.filter(request=request).first().pk))
    )
    assert "<" not in path, f"unfilled route parameter in {route}"
    return "/" + path


def _snapshot():
    return [
        list(m.objects.order_by("pk").values())
        for m in (
            ScreeningRequest,
            RequestEvent,
            Sample,
            Shipment,
            HandOver,
            TemperatureReading,
            Receipt,
            PlateUpload,
            Plate,
            Well,
            AnalysisRun,
            DrugResult,
            Report,
        )
    ]


@pytest.mark.parametrize(
    "role,institutions",
    [
        (Role.CLINICIAN, ("HUS",)),
        (Role.COORDINATOR, ("HUS",)),
        (Role.LAB_SCIENTIST, ("UIO-LAB",)),
        (Role.RESEARCHER, ("UIO-ICR",)),
        (Role.ADMIN, ("OUS",)),
    ],
)
def test_no_screening_url_shows_or_changes_another_partys_request(
    client, received, role, institutions
):
    world, request = received
    outsider = make_member(
        role,
        institutions=institutions,
        email=f"outsider-{role}@example.no",
        with_totp=role != Role.RESEARCHER,
    )
    sign_in(client, outsider)
    before = _snapshot()
    checked = 0
    for route, name in ROUTES:
        path = _fill(route, request)
        allowed = {200, 302, 400, 403} if name in LIST_PAGES else {404}
        if name == "request_create" and role == Role.ADMIN:
            allowed = {
                403
            }  # admins see every register patient (registry), but never request a screen
        for method in ("get", "post", "put", "patch", "delete"):
            response = getattr(client, method)(
                path,
                data={} if method in ("get", "post") else "{}",
                **({} if method in ("get", "post") else {"content_type": "application/json"}),
            )
            assert response.status_code in allowed | {405}, (
                f"{method.upper()} {path} -> {response.status_code}"
            )
            body = response.content.decode(errors="replace")
            assert request.patient.register_number not in body, (
                f"{method.upper()} {path} shows the patient"
            )
            assert "Kari Nordmann" not in body and request.patient.national_id not in body
            checked += 1
    assert _snapshot() == before
    assert checked == 5 * len(ROUTES)


# Pages that are one party's: the lab's (receipt, plates, report, QC override, dashboard)
# and the sending clinician's (request, sample, shipment). Every other GET route is shared
# by the patient's clinician and coordinator and the lab's scientist.
LAB_ROUTES = {"lab_dashboard", "receipt_create", "plate_upload", "report_edit", "plate_override"}
SENDER_ROUTES = {"request_create", "sample_create", "shipment_create"}
# API actions that take POST only; their owners' answers are in tests/screening/test_api.py
# and the results tests (a POST here would need each action's whole valid input).
POST_ONLY = {
    "screening_transitions",
    "screening_shipment_create",
    "screening_readings_upload",
    "screening_plates",
    "screening_plate_override",
    "screening_report_sign",
}


def _owners(name: str) -> set:
    if name in LAB_ROUTES:
        return {"lab"}
    if name in SENDER_ROUTES:
        return {"clinician"}
    return {"clinician", "coordinator", "lab"}


@pytest.mark.parametrize("party", ["clinician", "coordinator", "lab"])
def test_every_route_answers_the_requests_own_parties(client, received, party):
    """Each page answers its owners (the patient's clinician and coordinator, the lab's
    scientist, as _owners says) with 200 or 302, and refuses the others outright (403;
    404 where a lab scientist would see a register patient), so the test above proves
    the rule, not broken URLs or a refused owner; and never the patient's name there."""
    world, request = received
    member = getattr(world, party)
    sign_in(client, member)
    for route, name in ROUTES:
        logged = AccessLog.objects.filter(user=member, patient_id=request.patient_id).count()
        response = client.get(_fill(route, request))
        if name in POST_ONLY:
            expected = {405}
        elif party in _owners(name):
            expected = {200, 302}
        else:
            expected = {404} if (name, party) == ("request_create", "lab") else {403}
        assert response.status_code in expected, f"{party} GET {route} -> {response.status_code}"
        body = response.content.decode(errors="replace")
        assert "Kari Nordmann" not in body and request.patient.national_id not in body
        if response.status_code == 200 and request.patient.register_number in body:
            # Every page or endpoint that shows the patient wrote the access log.
            assert (
                AccessLog.objects.filter(user=member, patient_id=request.patient_id).count()
                > logged
            ), route
