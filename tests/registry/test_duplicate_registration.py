"""Registering a patient the clinician's own hospital already has is not a second record:
the form and the API refuse it naming `national_id` and link to the record there is
(access-logged, since it names a patient). A patient registered only at another hospital
is still not revealed: the answer there is the declared care relationship's, as before."""

from datetime import date

import pytest

from consortium.models import AccessLog, Role
from registry.models import CareRelationshipDeclaration, Patient
from tests.conftest import make_member, sign_in
from tests.registry.factories import make_patient, registration_form, tenor_id

pytestmark = pytest.mark.django_db
API = "/api/v1/registry"
BORN = date(1961, 3, 14)


@pytest.fixture
def hus_patient(db):
    """A patient of Haukeland (HUS), registered by a HUS clinician."""
    hus = make_member(Role.CLINICIAN, institutions=("HUS",), email="doc@hus.no", with_totp=True)
    number = tenor_id(BORN)
    patient = make_patient(
        hus, national_id=number, institution_codes=("HUS",), full_name="Ola Vestland"
    )
    return patient, number, hus


def _form(number, institution="HUS", **overrides):
    """The registration form with the care relationship declared (overridable)."""
    declared = {"treats_patient": "on", "care_reason": "New referral"}
    return registration_form(number, institution, **{**declared, **overrides})


def test_the_form_refuses_a_patient_of_the_own_hospital_and_links_to_the_record(
    client, hus_patient
):
    patient, number, hus = hus_patient
    colleague = make_member(
        Role.CLINICIAN, institutions=("HUS",), email="colleague@hus.no", with_totp=True
    )
    sign_in(client, colleague)
    # Written with spaces, as people type it: the same person.
    response = client.post("/registry/patients/new/", _form(f"{number[:6]} {number[6:]}"))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == ["national_id"]
    assert patient.register_number in errors["national_id"][0]
    page = response.content.decode()
    assert f'href="{patient.get_absolute_url()}"' in page
    assert Patient.objects.count() == 1
    assert not CareRelationshipDeclaration.objects.exists()
    assert AccessLog.objects.filter(
        user=colleague, patient_id=patient.pk, page="registry:patient_already_registered"
    ).exists()


def test_a_clinician_of_two_hospitals_is_pointed_at_the_record_of_either(client, hus_patient):
    """The record is theirs through HUS even when they register it for OUS: nothing is
    linked or declared, the page links to the record (where its institutions are edited)."""
    patient, number, _ = hus_patient
    both = make_member(
        Role.CLINICIAN, institutions=("OUS", "HUS"), email="both@ous.no", with_totp=True
    )
    sign_in(client, both)
    response = client.post("/registry/patients/new/", _form(number, institution="OUS"))
    assert list(response.context["form"].errors) == ["national_id"]
    assert f'href="{patient.get_absolute_url()}"' in response.content.decode()
    assert set(patient.institutions.values_list("code", flat=True)) == {"HUS"}


def test_the_api_refuses_it_naming_the_field_and_the_existing_record(client, hus_patient):
    patient, number, hus = hus_patient
    sign_in(client, hus)
    response = client.post(
        f"{API}/patients/",
        {
            "national_id": number,
            "full_name": "Ola Vestland",
            "institutions": ["HUS"],
            "treats_patient": True,
            "care_reason": "New referral",
        },
        content_type="application/json",
    )
    assert response.status_code == 400
    body = response.json()
    assert list(body["extra"]["fields"]) == ["national_id"]
    assert patient.register_number in body["extra"]["fields"]["national_id"][0]
    assert body["extra"]["existing"] == {
        "register_number": patient.register_number,
        "url": f"{API}/patients/{patient.register_number}/",
        "page": patient.get_absolute_url(),
    }
    assert client.get(body["extra"]["existing"]["url"]).status_code == 200
    assert Patient.objects.count() == 1
    assert AccessLog.objects.filter(
        user=hus, patient_id=patient.pk, page="api:registry_patient_already_registered"
    ).exists()


def test_a_patient_of_another_hospital_only_is_not_revealed(client, hus_patient):
    """For an OUS clinician the HUS patient is not theirs: without the declaration the
    answer is the same as for a new number, and with it the care relationship links OUS
    (the existing rule), never the already-registered refusal."""
    patient, number, _ = hus_patient
    ous = make_member(Role.CLINICIAN, institutions=("OUS",), email="doc@ous.no", with_totp=True)
    sign_in(client, ous)
    undeclared = client.post(
        "/registry/patients/new/",
        _form(number, institution="OUS", treats_patient="", care_reason=""),
    )
    fresh = client.post(
        "/registry/patients/new/",
        _form(tenor_id(date(1961, 3, 15)), institution="OUS", treats_patient="", care_reason=""),
    )
    assert undeclared.context["form"].errors == fresh.context["form"].errors
    assert patient.register_number not in undeclared.content.decode()
    assert undeclared.context["existing"] is None
    declared = client.post("/registry/patients/new/", _form(number, institution="OUS"))
    assert declared.status_code == 302 and declared["Location"] == patient.get_absolute_url()
    assert CareRelationshipDeclaration.objects.get().institution.code == "OUS"
    assert not AccessLog.objects.filter(page="registry:patient_already_registered").exists()
