"""Trial coordinators see their institutions' register patients by register number
only: the name and the national ID stay with the treating clinicians, on the
list, the patient page, its history and the API; and they cannot search by name or
national ID, which would tell them who is a patient."""

import pytest

from consortium.models import Role
from tests.conftest import make_member, sign_in

pytestmark = pytest.mark.django_db
API = "/api/v1/registry"
TENOR_ID = "12829499914"  # Skatteetaten Tenor synthetic number (docs/registry-rules.md §4)


@pytest.fixture
def registered(db):
    from consortium.models import Institution
    from registry import services

    clinician = make_member(Role.CLINICIAN, institutions=("OUS",), email="lege@ous.no")
    patient = services.patient_register(
        by=clinician,
        national_id_value=TENOR_ID,
        full_name="Kari Nordmann",
        institutions=[Institution.objects.get(code="OUS")],
        allow_synthetic=True,
        health_region="south_east",
        vital_status="alive",
    )
    return services.patient_update(
        patient=patient,
        by=clinician,
        expected_version=patient.version,
        reason="Married",
        full_name="Kari Nordmann-Hansen",
    )


def test_the_treating_clinician_sees_name_and_national_id(client, registered):
    clinician = make_member(
        Role.CLINICIAN, institutions=("OUS",), email="lege2@ous.no", with_totp=True
    )
    sign_in(client, clinician)
    page = client.get(f"/registry/patients/{registered.register_number}/").content.decode()
    assert "Kari Nordmann" in page and TENOR_ID in page


def test_the_coordinator_sees_the_register_number_never_the_name_or_national_id(client, registered):
    coordinator = make_member(
        Role.COORDINATOR, institutions=("OUS",), email="koord@ous.no", with_totp=True
    )
    sign_in(client, coordinator)
    number = registered.register_number
    pages = [
        client.get("/registry/"),
        client.get(f"/registry/patients/{number}/"),
        client.get(f"/registry/patients/{number}/history/"),
        client.get(f"{API}/patients/"),
        client.get(f"{API}/patients/{number}/"),
    ]
    for response in pages:
        assert response.status_code == 200, response.request["PATH_INFO"]
        body = response.content.decode()
        assert number in body, response.request["PATH_INFO"]
        assert "Nordmann" not in body and TENOR_ID not in body, response.request["PATH_INFO"]
    assert (
        "Married" in pages[2].content.decode()
    )  # the history's why stays; the name change is not shown


def test_the_coordinator_searches_by_register_number_only(client, registered):
    coordinator = make_member(
        Role.COORDINATOR, institutions=("OUS",), email="koord@ous.no", with_totp=True
    )
    sign_in(client, coordinator)
    by_name = client.post("/registry/", {"q": "Nordmann"}).content.decode()
    assert "search by register number" in by_name and registered.register_number not in by_name
    by_id = client.post("/registry/", {"q": TENOR_ID}).content.decode()
    assert "search by register number" in by_id and registered.register_number not in by_id
    by_number = client.post("/registry/", {"q": registered.register_number}).content.decode()
    assert registered.register_number in by_number
    refused = client.get(f"{API}/patients/", {"search": "Nordmann"})
    assert refused.status_code == 400 and "register number" in str(
        refused.json()["extra"]["fields"]["search"]
    )
    refused = client.post(
        f"{API}/patients/search/", {"query": TENOR_ID}, content_type="application/json"
    )
    assert refused.status_code == 400 and "register number" in str(
        refused.json()["extra"]["fields"]["query"]
    )
