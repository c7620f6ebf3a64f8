"""The screening API end to end: request, accept, sample, shipment, hand-over, readings
(by hand and a logger CSV), receipt; the same rules and the one error format (400 naming
the field, 409 on an older version, 404 for what the member may not see)."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from screening.models import State
from tests.conftest import sign_in
from tests.screening.factories import bring_to, make_world, panel
from tests.screening.test_transport import GOOD


def _post(client, path, data):
    return client.post(path, data, content_type="application/json")


@pytest.mark.django_db
def test_the_whole_flow_through_the_api(client):
    world = make_world(with_totp=True)
    sign_in(client, world.clinician)
    # One client per member: a TOTP code is accepted once, so nobody signs in twice.
    lab = Client()
    sign_in(lab, world.lab)
    base = "/api/v1/screening"
    values = {
        "register_number": world.patient.register_number,
        "episode": world.episode.pk,
        "lab": "UIB-LAB",
        "indication": "Recurrent GBM",
        "planned_surgery_date": str(timezone.localdate() + timedelta(days=3)),
        "surgery_hospital": "OUS",
        "panel": panel().pk,
    }
    refused = _post(client, f"{base}/requests/", values)
    assert refused.status_code == 400
    assert {"consent_date", "consent_form_version", "consent_scope"} <= set(
        refused.json()["extra"]["fields"]
    )
    created = _post(
        client,
        f"{base}/requests/",
        {
            **values,
            "consent_date": str(timezone.localdate()),
            "consent_form_version": "v2",
            "consent_scope": "screening",
        },
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    rid = body["id"]
    assert body["state"] == "requested" and body["register_number"] == world.patient.register_number
    assert "Kari" not in created.content.decode()

    listed = lab.get(f"{base}/requests/").json()
    assert [r["id"] for r in listed["results"]] == [rid]
    stale = body["version"]
    accepted = _post(
        lab,
        f"{base}/requests/{rid}/transitions/",
        {
            "state": "accepted",
            "expected_sample_date": str(timezone.localdate() + timedelta(days=3)),
            "version": stale,
        },
    )
    assert accepted.status_code == 200 and accepted.json()["state"] == "accepted"
    conflict = _post(
        lab,
        f"{base}/requests/{rid}/transitions/",
        {"state": "declined", "note": "x", "version": stale},
    )
    assert conflict.status_code == 409

    collected = timezone.now() - timedelta(hours=3)
    sample = _post(
        client,
        f"{base}/requests/{rid}/samples/",
        {
            "sample_type": "fresh_tissue",
            "amount": "85",
            "amount_unit": "mg",
            "medium": "Hibernate-A",
            "collected_at": collected.isoformat(),
        },
    )
    assert sample.status_code == 201, sample.json()
    sid = sample.json()["id"]
    shipment = _post(
        client,
        f"{base}/samples/{sid}/shipment/",
        {
            "packaging": "un3373_cold",
            "courier": "Bring Express",
            "tracking_reference": "BX1",
            "dispatched_at": (collected + timedelta(minutes=30)).isoformat(),
            "expected_arrival": (collected + timedelta(hours=6)).isoformat(),
        },
    )
    assert shipment.status_code == 201, shipment.json()
    ship = shipment.json()["id"]
    assert shipment.json()["window_hours"] == 24 and 2.9 < shipment.json()["elapsed_hours"] < 3.1
    handover = _post(
        client,
        f"{base}/shipments/{ship}/handovers/",
        {
            "giver": "Nurse Berg",
            "receiver": "",
            "place": "OUS",
            "at": (collected + timedelta(minutes=30)).isoformat(),
        },
    )
    assert handover.status_code == 201
    assert "no one recorded" in client.get(f"{base}/shipments/{ship}/").json()["custody_gaps"][0]
    reading = _post(
        client,
        f"{base}/shipments/{ship}/readings/",
        {"at": (collected + timedelta(hours=1)).isoformat(), "celsius": "4.5"},
    )
    assert reading.status_code == 201
    bad = client.post(
        f"{base}/shipments/{ship}/readings/upload/",
        {
            "file": SimpleUploadedFile("log.csv", GOOD.replace("4.3", "warm").encode()),
            "time_zone": "Europe/Oslo",
        },
    )
    assert bad.status_code == 400 and "Line 7:" in bad.json()["extra"]["fields"]["file"][0]
    good = client.post(
        f"{base}/shipments/{ship}/readings/upload/",
        {"file": SimpleUploadedFile("log.csv", GOOD.encode()), "time_zone": "Europe/Oslo"},
    )
    assert good.status_code == 201 and good.json()["added"] == 4
    assert client.get(f"{base}/shipments/{ship}/readings/").json()["count"] == 5

    receipt = _post(
        lab,
        f"{base}/samples/{sid}/receipt/",
        {
            "arrived_at": timezone.now().isoformat(),
            "condition": "intact",
            "arrival_celsius": "5.5",
            "viable_cell_count": 3_000_000,
            "viability_percent": "91.0",
            "accepted": True,
        },
    )
    assert receipt.status_code == 201, receipt.json()
    detail = lab.get(f"{base}/requests/{rid}/").json()
    assert detail["state"] == "received"
    # In the order things happened (this test collected the sample before requesting it).
    assert sorted(t["to_state"] for t in detail["transitions"]) == sorted(
        ["requested", "accepted", "sample_collected", "in_transit", "received"]
    )
    assert lab.get(f"{base}/samples/{sid}/receipt/").json()["viability_percent"] == "91.0"


@pytest.mark.django_db
def test_a_lab_scientist_cannot_register_a_sample_and_an_outsider_gets_404(client):
    world = make_world(with_totp=True)
    request = bring_to(world, State.ACCEPTED)
    sign_in(client, world.lab)
    refused = _post(
        client,
        f"/api/v1/screening/requests/{request.pk}/samples/",
        {
            "sample_type": "fresh_tissue",
            "amount": "1",
            "amount_unit": "mg",
            "medium": "m",
            "collected_at": timezone.now().isoformat(),
        },
    )
    assert refused.status_code == 403
    other = Client()
    sign_in(other, world.other_lab)
    assert other.get(f"/api/v1/screening/requests/{request.pk}/").status_code == 404
