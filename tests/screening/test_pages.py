"""The screening pages: the request page and the lab dashboard take a constant number of
queries whatever the volume; every page that shows a request writes the access log;
an illegal move is refused with the same words as the API; the register's patient page
lists the patient's requests (registry.panels) in constant queries; the label carries
the register number and sample id, never the name."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from consortium.models import AccessLog
from screening import services
from screening.models import State
from tests.conftest import sign_in
from tests.screening.factories import bring_to, hours_ago, make_world


def _queries(client, path) -> int:
    client.get(path)  # warm: the session's first request after sign-in does more
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200, path
    return len(captured)


@pytest.mark.django_db
def test_the_request_page_takes_constant_queries(client):
    world = make_world(with_totp=True)
    sign_in(client, world.lab)
    one = bring_to(world, State.IN_TRANSIT)
    shipment = one.samples.get().shipment
    services.handover_add(
        shipment=shipment,
        by=world.clinician,
        giver="Nurse",
        receiver="Courier",
        place="OUS",
        at=shipment.dispatched_at,
    )
    few = _queries(client, one.get_absolute_url())
    many = bring_to(world, State.REJECTED)
    services.sample_register(
        screening_request=many,
        by=world.clinician,
        sample_type=many.samples.get().sample_type,
        amount=10,
        amount_unit="mg",
        medium="Hibernate-A",
        collected_at=hours_ago(1),
    )
    second = many.samples.order_by("-id").first()
    services.shipment_dispatch(
        sample=second,
        by=world.clinician,
        packaging="un3373_cold",
        courier="Bring",
        dispatched_at=second.collected_at,
        expected_arrival=second.collected_at + timedelta(hours=5),
    )
    for n in range(4):
        services.handover_add(
            shipment=second.shipment,
            by=world.clinician,
            giver=f"P{n}",
            receiver=f"P{n + 1}",
            place="road",
            at=second.collected_at + timedelta(minutes=n),
        )
    assert _queries(client, many.get_absolute_url()) == few


@pytest.mark.django_db
def test_the_lab_dashboard_takes_constant_queries_and_shows_the_labs_day(client):
    world = make_world(with_totp=True)
    sign_in(client, world.lab)
    for state in (State.REQUESTED, State.IN_TRANSIT, State.REPORTED):
        bring_to(world, state)
    few = _queries(client, "/screening/lab/")
    for state in (
        State.REQUESTED,
        State.IN_TRANSIT,
        State.IN_TRANSIT,
        State.RECEIVED,
        State.REPORTED,
    ):
        bring_to(world, state)
    assert _queries(client, "/screening/lab/") == few
    page = client.get("/screening/lab/").content.decode()
    assert (
        "Waiting for review (2)" in page
        and "In transit (3)" in page
        and "Received this week (3)" in page
    )
    assert world.patient.register_number in page and "Kari Nordmann" not in page
    assert "h of 24 h" in page  # time left in the window


@pytest.mark.django_db
def test_turnaround_medians_per_stage():
    from screening import selectors, transport

    world = make_world()
    reported = bring_to(world, State.REPORTED, collected_hours_ago=10)
    board = selectors.lab_dashboard(labs=[world.uib.pk], now=timezone.now())
    turnaround = board["turnaround"]
    sample = reported.samples.get()
    assert turnaround["collection_to_receipt"] == round(
        transport.hours_between(sample.collected_at, sample.receipt.arrived_at), 1
    )
    assert (
        turnaround["request_to_acceptance"] is not None
        and turnaround["receipt_to_report"] is not None
    )


@pytest.mark.django_db
def test_every_view_of_a_request_is_access_logged(client):
    world = make_world(with_totp=True)
    request = bring_to(world, State.IN_TRANSIT)
    sign_in(client, world.lab)
    shipment = request.samples.get().shipment
    for path in (
        request.get_absolute_url(),
        shipment.get_absolute_url(),
        f"/screening/samples/{request.samples.get().pk}/label/",
        f"/api/v1/screening/requests/{request.pk}/",
    ):
        before = AccessLog.objects.filter(patient_id=world.patient.pk, user=world.lab).count()
        response = client.get(path)
        assert response.status_code == 200
        assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
        assert (
            AccessLog.objects.filter(patient_id=world.patient.pk, user=world.lab).count()
            == before + 1
        ), path


@pytest.mark.django_db
def test_an_illegal_move_is_refused_with_the_same_words_in_the_browser_and_the_api(client):
    world = make_world(with_totp=True)
    request = bring_to(world, State.REQUESTED)
    sign_in(client, world.lab)
    page = client.post(
        request.get_absolute_url(), {"state": "received", "version": request.version}
    )
    api = client.post(
        f"/api/v1/screening/requests/{request.pk}/transitions/",
        {"state": "received"},
        content_type="application/json",
    )
    words = (
        "A request that is requested cannot become received. "
        "Allowed from requested: accepted, declined, cancelled."
    )
    assert page.status_code == 200 and words in page.content.decode()
    assert api.status_code == 400 and api.json()["extra"]["fields"]["state"] == [words]
    request.refresh_from_db()
    assert request.state == State.REQUESTED


@pytest.mark.django_db
def test_the_patient_page_lists_the_requests_in_constant_queries(client):
    world = make_world(with_totp=True)
    sign_in(client, world.clinician)
    bring_to(world, State.REQUESTED)
    few = _queries(client, world.patient.get_absolute_url())
    for state in (State.ACCEPTED, State.DECLINED, State.IN_TRANSIT):
        bring_to(world, state)
    assert _queries(client, world.patient.get_absolute_url()) == few
    page = client.get(world.patient.get_absolute_url()).content.decode()
    assert "Drug screening" in page and "Declined" in page and "In transit" in page
    assert "Request drug screening" in page


@pytest.mark.django_db
def test_the_label_has_a_code_128_barcode_of_register_number_and_sample_id(client):
    from barcode import Code128

    world = make_world(with_totp=True)
    sample = bring_to(world, State.SAMPLE_COLLECTED).samples.get()
    sign_in(client, world.clinician)
    page = client.get(f"/screening/samples/{sample.pk}/label/").content.decode()
    text = f"{world.patient.register_number} {sample.label_id}"
    assert f"Code 128 barcode: {text}" in page and "Kari Nordmann" not in page
    assert world.patient.national_id not in page and "style=" not in page
    modules = Code128(text).build()[0]
    assert page.count('fill="#000"') == len([run for run in modules.split("0") if run])


@pytest.mark.django_db
def test_the_shipment_page_charts_the_trace_and_refuses_a_bad_logger_file_naming_the_line(client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.screening.test_transport import GOOD

    world = make_world(with_totp=True)
    shipment = bring_to(world, State.IN_TRANSIT).samples.get().shipment
    # The logger file is from 1 March 2026, 08:00-08:15 Oslo: the shipment travelled then
    # (only readings in transport count as excursions).
    from datetime import UTC, datetime

    from screening.models import Sample, Shipment

    Sample.objects.filter(pk=shipment.sample_id).update(
        collected_at=datetime(2026, 3, 1, 5, 0, tzinfo=UTC)
    )
    Shipment.objects.filter(pk=shipment.pk).update(
        dispatched_at=datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
    )
    sign_in(client, world.clinician)
    refused = client.post(
        shipment.get_absolute_url(),
        {
            "action": "upload",
            "time_zone": "Europe/Oslo",
            "file": SimpleUploadedFile("log.csv", GOOD.replace("4.3", "warm").encode()),
        },
    )
    assert (
        refused.status_code == 200
        and "Line 7: &#x27;warm&#x27; is not a temperature" in refused.content.decode()
    )
    assert not shipment.readings.exists()
    added = client.post(
        shipment.get_absolute_url(),
        {
            "action": "upload",
            "time_zone": "Europe/Oslo",
            "file": SimpleUploadedFile("log.csv", GOOD.encode()),
        },
    )
    assert added.status_code == 302
    page = client.get(shipment.get_absolute_url()).content.decode()
    assert (
        '<polyline class="line" points="' in page and page.count('<circle class="outside"') == 1
    )  # 9.2 °C
    assert "Excursions" in page and "style=" not in page and "<script>" not in page
    assert "of 24 h since collection" in page
