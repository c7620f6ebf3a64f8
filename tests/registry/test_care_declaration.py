"""Registering a national ID tells no one whether it is already in the register (that alone
says the person has a brain tumour). Every registration declares a care relationship
(`treats_patient`, `care_reason`); without it the answer is the same whether or not the
number exists. With it, a number registered at another hospital links the clinician's
institution to that record: the declaration is recorded, access-logged and shown to the
patient's other institutions. Admins cannot confirm a full national ID by searching."""

import pytest

from consortium.models import AccessLog, Role
from registry.models import CareRelationshipDeclaration, Patient
from tests.conftest import make_member, sign_in
from tests.registry.factories import make_patient, registration_form, tenor_id

pytestmark = pytest.mark.django_db
API = "/api/v1/registry"


@pytest.fixture
def registered(db):
    """A patient of Haukeland (HUS), and a clinician at OUS who does not see them."""
    hus_clinician = make_member(
        Role.CLINICIAN, institutions=("HUS",), email="doc@hus.no", with_totp=True
    )
    from datetime import date

    number = tenor_id(date(1961, 3, 14))
    patient = make_patient(
        hus_clinician,
        national_id=number,
        institution_codes=("HUS",),
        full_name="Ola Vestland",
        birth_date=date(1961, 3, 14),
    )
    ous_clinician = make_member(
        Role.CLINICIAN, institutions=("OUS",), email="doc@ous.no", with_totp=True
    )
    return patient, number, ous_clinician, hus_clinician


def _visible_text(response) -> str:
    """The page as shown, without the CSRF token and CSP nonce that differ per request."""
    import re

    html = response.content.decode()
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)
    return re.sub(r'nonce="[^"]+"', "", html)


def test_without_a_declaration_the_page_answers_the_same_for_a_registered_and_a_new_number(
    client, registered
):
    patient, number, ous, _ = registered
    from datetime import date

    new_number = tenor_id(date(1961, 3, 15))
    sign_in(client, ous)
    client.get("/registry/patients/new/")  # shows (and so clears) the signed-in message
    existing = client.post("/registry/patients/new/", registration_form(number))
    fresh = client.post("/registry/patients/new/", registration_form(new_number))
    assert existing.status_code == fresh.status_code == 200
    assert existing.context["form"].errors == fresh.context["form"].errors
    assert set(existing.context["form"].errors) == {"treats_patient", "care_reason"}
    assert _visible_text(existing).replace(number, "N") == _visible_text(fresh).replace(
        new_number, "N"
    )
    assert "already in the register;" not in existing.content.decode()  # the old message
    assert Patient.objects.count() == 1 and not CareRelationshipDeclaration.objects.exists()
    assert not AccessLog.objects.filter(patient_id=patient.pk).exists()


def test_without_a_declaration_the_api_answers_the_same_for_a_registered_and_a_new_number(
    client, registered
):
    patient, number, ous, _ = registered
    from datetime import date

    sign_in(client, ous)
    body = {"full_name": "Ola Vestland", "health_region": "west", "institutions": ["OUS"]}
    existing = client.post(
        f"{API}/patients/", {**body, "national_id": number}, content_type="application/json"
    )
    fresh = client.post(
        f"{API}/patients/",
        {**body, "national_id": tenor_id(date(1961, 3, 15))},
        content_type="application/json",
    )
    assert existing.status_code == fresh.status_code == 400
    assert existing.json() == fresh.json()
    assert set(existing.json()["extra"]["fields"]) == {"treats_patient", "care_reason"}
    not_treating = client.post(
        f"{API}/patients/",
        {**body, "national_id": number, "treats_patient": False, "care_reason": "curious"},
        content_type="application/json",
    )
    assert not_treating.status_code == 400
    assert list(not_treating.json()["extra"]["fields"]) == ["treats_patient"]
    assert Patient.objects.count() == 1


def test_declaring_care_links_the_institution_and_is_logged_and_shown_to_the_others(
    client, registered
):
    patient, number, ous, hus_clinician = registered
    sign_in(client, ous)
    response = client.post(
        "/registry/patients/new/",
        registration_form(number, treats_patient="on", care_reason="Referred to OUS for surgery"),
        follow=True,
    )
    assert response.redirect_chain[-1][0] == patient.get_absolute_url()
    page = response.content.decode()
    assert "already in the register" in page and "Ola Vestland" in page
    assert number in page  # now a treating clinician: the full number
    assert Patient.objects.count() == 1
    patient.refresh_from_db()
    assert set(patient.institutions.values_list("code", flat=True)) == {"HUS", "OUS"}
    declaration = CareRelationshipDeclaration.objects.get()
    assert (declaration.patient, declaration.institution.code, declaration.member) == (
        patient,
        "OUS",
        ous,
    )
    assert declaration.reason == "Referred to OUS for surgery"
    assert AccessLog.objects.filter(
        user=ous, patient_id=patient.pk, page="registry:care_declaration"
    ).exists()

    # The patient's other institution sees the declaration on the patient's page.
    client.logout()
    sign_in(client, hus_clinician)
    hus_page = client.get(patient.get_absolute_url()).content.decode()
    assert "Declared care relationships" in hus_page
    assert "Referred to OUS for surgery" in hus_page and "doc@ous.no" in hus_page


def test_declaring_care_by_api_links_the_record(client, registered):
    patient, number, ous, _ = registered
    sign_in(client, ous)
    response = client.post(
        f"{API}/patients/",
        {
            "national_id": number,
            "full_name": "Ola Vestland",
            "institutions": ["OUS", "HUS"],
            "treats_patient": True,
            "care_reason": "Radiotherapy at OUS",
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["register_number"] == patient.register_number
    assert body["national_id"] == number and sorted(body["institutions"]) == ["HUS", "OUS"]
    assert CareRelationshipDeclaration.objects.get().institution.code == "OUS"
    assert AccessLog.objects.filter(page="api:registry_care_declaration").count() == 1
    detail = client.get(f"{API}/patients/{patient.register_number}/")
    assert detail.status_code == 200


def test_a_new_number_with_the_declaration_registers_a_new_patient(client, registered):
    _, _, ous, _ = registered
    from datetime import date

    sign_in(client, ous)
    number = tenor_id(date(1990, 1, 2))
    response = client.post(
        "/registry/patients/new/",
        registration_form(number, treats_patient="on", care_reason="Diagnosed here"),
    )
    created = Patient.objects.get(national_id=number)
    assert response.status_code == 302 and response["Location"] == created.get_absolute_url()
    assert not CareRelationshipDeclaration.objects.exists()


def test_admins_cannot_confirm_a_full_national_id_by_searching(client, registered):
    patient, number, _, _ = registered
    admin = make_member(Role.ADMIN, institutions=("OUS",), email="admin@nbtc.no", with_totp=True)
    sign_in(client, admin)
    page = client.get("/registry/", {"q": patient.register_number})
    assert patient.register_number in page.content.decode()  # admins see every patient
    by_number = client.post(
        f"{API}/patients/search/", {"query": number}, content_type="application/json"
    )
    assert by_number.status_code == 400
    assert "query" in by_number.json()["extra"]["fields"]
    spaced = client.post(
        f"{API}/patients/search/",
        {"query": f"{number[:6]} {number[6:]}"},
        content_type="application/json",
    )
    assert spaced.status_code == 400
    page = client.post("/registry/", {"q": number})
    assert patient.register_number not in page.content.decode()
    assert "Only the treating clinicians search by national ID" in page.content.decode()


def test_the_admin_sites_history_list_shows_no_patient_history(client, registered):
    """pghistory's events admin would show a patient's history rows, full national ID
    included; the admin site leaves the register's events out."""
    from django.contrib.admin.utils import quote

    from consortium.models import User

    patient, number, _, _ = registered
    admin = make_member(Role.ADMIN, institutions=("OUS",), email="root@nbtc.no", with_totp=True)
    admin.is_staff = admin.is_superuser = True
    admin.save()
    sign_in(client, admin)
    patient_event = Patient.pgh_event_model.objects.filter(pgh_obj=patient).first()
    user_event = User.pgh_event_model.objects.first()

    def change_page(event):
        slug = quote(f"{event._meta.label}:{event.pk}")
        return client.get(f"/admin/pghistory/events/{slug}/change/", follow=True)

    shown = change_page(user_event)
    assert shown.status_code == 200 and user_event.email in shown.content.decode()
    hidden = change_page(patient_event)
    assert number not in hidden.content.decode()
    assert "Ola Vestland" not in hidden.content.decode()
    listing = client.get("/admin/pghistory/events/", {"model": "registry.PatientEvent"})
    assert number not in listing.content.decode()
