"""H-numbers (hjelpenummer): the temporary identifier a Norwegian hospital gives a patient
without a national ID or D-number (month + 40, control digits as usual; HITR 1001:2010,
https://www.ehelse.no/standarder/identifikatorer-for-personer). Accepted in production and
flagged wherever shown; a worklist item until a clinician replaces it with the person's
national ID (history kept, duplicates found without telling one hospital about another's
patients). Synthetic Tenor numbers (month + 80) stay refused outside demo mode."""

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from pghistory.models import Events

from consortium.exceptions import EditConflict
from consortium.models import AccessLog, Role
from registry import services
from registry.models import CareRelationshipDeclaration, Patient
from registry.national_id import parse
from tests.conftest import make_member, sign_in
from tests.registry.factories import (  # noqa: F401 - fast_password_hashing is an autouse fixture
    DEFAULT_BIRTH,
    clinician,
    fast_password_hashing,
    h_number_for,
    institutions,
    make_patient,
    national_id_for,
)

pytestmark = pytest.mark.django_db

# --- NAV's validator's public test vectors ----------------------------------------------
# Copied from navikt/fnrvalidator's tests (MIT licence),
# https://github.com/navikt/fnrvalidator/blob/master/tests/fnr.spec.ts: (number, the
# validator's answer, its test's name). "fnr", "dnr", "hnr", "tnr", "dnr-and-hnr" and
# "dnr-and-tnr" are valid numbers of that type; "invalid" is refused.
FNRVALIDATOR_VECTORS = [
    ("13097248022", "fnr", "should accept a valid one"),
    ("29029648784", "fnr", "should accept a standard leap year"),
    ("29020075838", "fnr", "should accept year 00 as valid leap year"),
    ("29020112345", "invalid", "should reject if date is > 28 feb in a non leap year"),
    ("15021951940", "fnr", "should compensate for checksum digits that are 11"),
    ("1234567890", "invalid", "should reject if less than 11 digits"),
    ("123456789101", "invalid", "should reject if more than 11 digits"),
    ("1234567891A", "invalid", "should reject if non-digits are present"),
    ("13097248032", "invalid", "should reject if checksum 1 is invalid"),
    ("13097248023", "invalid", "should reject if checksum 2 is invalid"),
    ("32127248022", "invalid", "should reject if day is invalid"),
    ("13137248022", "invalid", "should reject if month is invalid"),
    ("53097248016", "dnr", "dnr: should accept a valid one"),
    ("13527248013", "hnr", "hnr: should accept a valid one"),
    ("10915596784", "tnr", "tnr: should accept a valid one"),
    ("68467038838", "dnr-and-hnr", "dnr-and-hnr: should accept a valid one"),
    ("50846202355", "dnr-and-tnr", "dnr-and-tnr: should accept a valid one"),
    # New 2032 checksum standard
    ("02013299997", "fnr", "should accept person born 02.01.2032 with new checksum"),
    ("30108299920", "fnr", "should accept person 1 born 30.10.1982 (rest=0)"),
    ("30108299939", "fnr", "should accept person 2 born 30.10.1982 (rest=1)"),
    ("02013299987", "invalid", "should still reject invalid checksums with new standard"),
    ("02013299996", "invalid", "should still reject invalid k2 with new standard"),
    ("70108299914", "dnr", "should work with dnr using new checksum standard"),
]

# How the register reads each of the validator's types, in production (synthetic numbers
# refused) and in demo mode. A month + 40 number is an H-number in both: nothing in the
# number tells a hospital's H-number from NAV's Dolly test numbers, which share the rule.
IN_PRODUCTION = {
    "fnr": "national_id",
    "dnr": "d_number",
    "hnr": "h_number",
    "dnr-and-hnr": "h_number",
    "tnr": "refused",
    "dnr-and-tnr": "refused",
    "invalid": "refused",
}
IN_DEMO = {**IN_PRODUCTION, "tnr": "national_id", "dnr-and-tnr": "d_number"}


def kind_of(number: str, *, allow_synthetic: bool) -> str:
    try:
        return parse(number, allow_synthetic=allow_synthetic).kind
    except ValidationError:
        return "refused"


@pytest.mark.parametrize(("number", "answer", "name"), FNRVALIDATOR_VECTORS)
def test_the_register_agrees_with_navs_validator_in_production(number, answer, name):
    assert kind_of(number, allow_synthetic=False) == IN_PRODUCTION[answer], name


@pytest.mark.parametrize(("number", "answer", "name"), FNRVALIDATOR_VECTORS)
def test_the_register_agrees_with_navs_validator_in_demo_mode(number, answer, name):
    assert kind_of(number, allow_synthetic=True) == IN_DEMO[answer], name


def test_a_tenor_number_is_refused_in_production_naming_the_rule():
    with pytest.raises(ValidationError) as caught:
        parse("10915596784", allow_synthetic=False)
    assert caught.value.code == "synthetic" and "Tenor" in caught.value.messages[0]
    assert parse("10915596784", allow_synthetic=True).synthetic == "Tenor (month +80)"


def test_an_h_number_is_not_synthetic_and_tells_no_birth_date_or_sex():
    # 13527248013: the date part 13.12.72 (52 - 40 = 12). A hospital's system gives it and
    # may not know the birth date, so the number is not read for it.
    parsed = parse("13527248013", allow_synthetic=False)
    assert parsed.synthetic == "" and parsed.is_h_number
    assert parsed.birth_date is None and parsed.sex == ""


# --- Registering with an H-number -------------------------------------------------------


@pytest.fixture
def ous(db):
    return clinician("OUS")


def register_h(by, *, birth=DEFAULT_BIRTH, codes=("OUS",), **fields) -> Patient:
    return services.patient_register(
        by=by,
        national_id_value=h_number_for(birth),
        institutions=institutions(*codes),
        allow_synthetic=False,  # production
        full_name=fields.pop("full_name", "Ukjent Kvinne"),
        birth_date=birth,
        **fields,
    )


def test_a_patient_is_registered_with_an_h_number_in_production(ous):
    patient = register_h(ous)
    assert patient.identifier_kind == "h_number"
    assert patient.identifier_system == "urn:oid:2.16.578.1.12.4.1.4.3"
    assert patient.synthetic_id == ""
    assert patient.sex == Patient.Sex.UNKNOWN  # not read off the H-number


def test_an_h_number_registration_needs_the_birth_date_entered(ous):
    with pytest.raises(ValidationError) as caught:
        services.patient_register(
            by=ous,
            national_id_value=h_number_for(DEFAULT_BIRTH),
            institutions=institutions("OUS"),
            allow_synthetic=False,
            full_name="Ukjent Mann",
        )
    assert "birth date" in " ".join(caught.value.message_dict["birth_date"])


def test_the_national_id_and_d_number_kinds_and_systems(ous):
    fnr = make_patient(ous, national_id=national_id_for(date(1980, 1, 2)))
    dnr = make_patient(ous, national_id=national_id_for(date(1981, 3, 4), day_offset=40))
    assert (fnr.identifier_kind, fnr.identifier_system) == (
        "national_id",
        "urn:oid:2.16.578.1.12.4.1.4.1",
    )
    assert (dnr.identifier_kind, dnr.identifier_system) == (
        "d_number",
        "urn:oid:2.16.578.1.12.4.1.4.2",
    )


# --- Shown as such: list, page, API, worklist -------------------------------------------


@pytest.fixture
def ous_client(client, ous):
    member = make_member(
        Role.CLINICIAN, institutions=("OUS",), email="ous-h@example.no", with_totp=True
    )
    sign_in(client, member)
    client.member = member
    return client


def test_the_patient_page_and_list_flag_the_h_number_and_offer_the_replacement(ous_client):
    patient = register_h(ous_client.member)
    page = ous_client.get(patient.get_absolute_url()).content.decode()
    assert "H-number, temporary" in page
    assert f"/registry/patients/{patient.register_number}/national-id/" in page
    listing = ous_client.get("/registry/").content.decode()
    row = listing.split(patient.register_number, 1)[1].split("</tr>", 1)[0]
    assert 'class="badge h-number"' in row


def test_the_api_names_the_identifier_kind_and_system(ous_client):
    patient = register_h(ous_client.member)
    other = make_patient(ous_client.member, national_id=national_id_for(date(1960, 6, 6)))
    detail = ous_client.get(f"/api/v1/registry/patients/{patient.register_number}/").json()
    assert detail["identifier_kind"] == "h_number"
    assert detail["identifier_system"] == "urn:oid:2.16.578.1.12.4.1.4.3"
    rows = {
        r["register_number"]: r
        for r in ous_client.get("/api/v1/registry/patients/").json()["results"]
    }
    assert rows[patient.register_number]["identifier_kind"] == "h_number"
    assert rows[other.register_number]["identifier_kind"] == "national_id"


def test_the_worklist_asks_for_the_national_id_at_the_patients_hospital_only(client, ous):
    at_ous = register_h(ous)
    register_h(clinician("HUS"), codes=("HUS",), birth=date(1955, 3, 3))
    member = make_member(
        Role.CLINICIAN, institutions=("OUS",), email="w@example.no", with_totp=True
    )
    sign_in(client, member)
    page = client.get("/registry/worklist/?institution=OUS").content.decode()
    table = page.split('id="h-numbers"', 1)[1].split("</table>", 1)[0]
    assert at_ous.register_number in table and table.count("<tr>") == 2  # header + one
    assert f"Replace the H-number of {at_ous.register_number}" in table
    api = client.get("/api/v1/registry/worklist/?institution=OUS").json()
    assert [item["patient"] for item in api["h_numbers"]] == [at_ous.register_number]
    assert AccessLog.objects.filter(
        user=member, patient_id=at_ous.pk, page="registry:worklist"
    ).exists()


# --- Replacing the H-number -------------------------------------------------------------


def replace(patient, by, number, *, care_reason="Treated at our hospital", version=None):
    return services.patient_replace_h_number(
        patient=patient,
        by=by,
        national_id_value=number,
        care_reason=care_reason,
        expected_version=patient.version if version is None else version,
        allow_synthetic=False,
    )


def test_a_clinician_replaces_the_h_number_and_the_history_keeps_it(ous):
    patient = register_h(ous)
    h_number = patient.national_id
    real = national_id_for(DEFAULT_BIRTH)
    result = replace(patient, ous, real)
    assert result.duplicate is None
    patient.refresh_from_db()
    assert (patient.national_id, patient.identifier_kind) == (real, "national_id")
    # The sex the H-number could not tell now comes from the national ID's 9th digit.
    assert patient.sex == ("female" if int(real[8]) % 2 == 0 else "male")
    numbers = list(
        patient.pgh_event_model.objects.filter(pgh_obj_id=patient.pk)
        .order_by("pgh_id")
        .values_list("national_id", flat=True)
    )
    assert numbers == [h_number, real]
    # The patient row's own latest event (each event table has its own pgh_id sequence, so
    # ordering the union by pgh_id could pick an older row of another table).
    event = (
        Events.objects.filter(pgh_context__patient=patient.pk, pgh_model="registry.PatientEvent")
        .order_by("-pgh_id")
        .first()
    )
    assert event.pgh_context["reason"] == "H-number replaced by the national ID"
    assert event.pgh_context["user"] == ous.pk
    assert services.selectors.h_numbers_to_replace(institutions("OUS")[0]) == []


def test_a_stale_replacement_is_refused(ous):
    patient = register_h(ous)
    with pytest.raises(EditConflict):
        replace(patient, ous, national_id_for(DEFAULT_BIRTH), version=patient.version - 1 or 99)


@pytest.mark.parametrize(
    ("number", "field", "words"),
    [
        ("h", "national_id", "H-number too"),
        ("other-birth", "national_id", "birth date"),
        ("31129956714", "national_id", "control digit"),
        ("10915596784", "national_id", "synthetic"),
    ],
)
def test_a_wrong_replacement_is_refused_naming_the_field_and_rule(ous, number, field, words):
    patient = register_h(ous)
    value = {
        "h": h_number_for(DEFAULT_BIRTH),
        "other-birth": national_id_for(date(1971, 5, 17)),
    }.get(number, number)
    with pytest.raises(ValidationError) as caught:
        replace(patient, ous, value)
    assert words in " ".join(caught.value.message_dict[field])
    patient.refresh_from_db()
    assert patient.identifier_kind == "h_number"


def test_a_record_without_an_h_number_has_nothing_to_replace(ous):
    patient = make_patient(ous, national_id=national_id_for(date(1980, 1, 2)))
    with pytest.raises(ValidationError) as caught:
        replace(patient, ous, national_id_for(date(1980, 1, 2)))
    assert "no H-number" in caught.value.message_dict["national_id"][0]


def test_only_the_patients_clinicians_replace_it(ous):
    patient = register_h(ous)
    with pytest.raises(services.PermissionDenied):
        replace(patient, clinician("HUS"), national_id_for(DEFAULT_BIRTH))


def test_a_number_registered_at_the_same_hospital_links_to_that_record(ous):
    real = national_id_for(DEFAULT_BIRTH)
    existing = make_patient(ous, national_id=real)
    patient = register_h(ous)
    result = replace(patient, ous, real)
    assert result.duplicate == existing and result.linked is False
    message = services.duplicate_message(result.duplicate, linked=result.linked)
    assert existing.register_number in message and "at your institution" in message
    patient.refresh_from_db()
    assert patient.identifier_kind == "h_number"  # nothing replaced


def test_a_number_registered_only_elsewhere_is_told_only_after_a_declared_care(ous):
    real = national_id_for(DEFAULT_BIRTH)
    elsewhere = make_patient(clinician("HUS"), national_id=real, institution_codes=("HUS",))
    patient = register_h(ous)
    fresh = register_h(ous, birth=date(1990, 8, 8))

    # Without a declaration, the answer is the same for a number in the register and one
    # that is not: the care relationship is required either way.
    def refusal(p, number):
        with pytest.raises(ValidationError) as caught:
            replace(p, ous, number, care_reason="  ")
        return caught.value.message_dict

    assert refusal(patient, real) == refusal(fresh, national_id_for(date(1990, 8, 8)))
    assert not CareRelationshipDeclaration.objects.filter(patient=elsewhere).exists()

    result = replace(patient, ous, real, care_reason="Operated here on 3 March")
    assert result.duplicate == elsewhere and result.linked is True
    assert set(elsewhere.institutions.values_list("code", flat=True)) == {"HUS", "OUS"}
    declaration = CareRelationshipDeclaration.objects.get(patient=elsewhere)
    assert (declaration.member, declaration.reason) == (ous, "Operated here on 3 March")


# --- Browser form and API ---------------------------------------------------------------


def test_the_replacement_form_replaces_and_goes_back_to_the_patient(ous_client):
    patient = register_h(ous_client.member)
    url = f"/registry/patients/{patient.register_number}/national-id/"
    assert ous_client.get(url).status_code == 200
    real = national_id_for(DEFAULT_BIRTH)
    response = ous_client.post(
        url,
        {"national_id": real, "care_reason": "Our patient", "reason": "", "version": 1},
    )
    assert response.status_code == 302 and response["Location"] == patient.get_absolute_url()
    patient.refresh_from_db()
    assert patient.national_id == real
    assert AccessLog.objects.filter(
        patient_id=patient.pk, page="registry:patient_national_id"
    ).exists()


def test_the_replacement_form_links_a_duplicate_at_the_hospital(ous_client):
    real = national_id_for(DEFAULT_BIRTH)
    existing = make_patient(ous_client.member, national_id=real)
    patient = register_h(ous_client.member)
    response = ous_client.post(
        f"/registry/patients/{patient.register_number}/national-id/",
        {"national_id": real, "care_reason": "Our patient", "version": 1},
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert f'href="{existing.get_absolute_url()}"' in page
    assert "already in the register" in page


def test_the_api_replaces_the_h_number(ous_client):
    patient = register_h(ous_client.member)
    real = national_id_for(DEFAULT_BIRTH)
    url = f"/api/v1/registry/patients/{patient.register_number}/national-id/"
    missing = ous_client.post(
        url, {"national_id": real, "version": 1}, content_type="application/json"
    )
    assert missing.status_code == 400 and "care_reason" in missing.json()["extra"]["fields"]
    stale = ous_client.post(
        url,
        {"national_id": real, "care_reason": "x", "version": 7},
        content_type="application/json",
    )
    assert stale.status_code == 409
    done = ous_client.post(
        url,
        {"national_id": real, "care_reason": "Our patient", "version": 1},
        content_type="application/json",
    )
    assert done.status_code == 200, done.content
    assert done.json()["identifier_kind"] == "national_id"
    assert done.json()["national_id"] == real


def test_the_api_names_the_existing_record_of_a_duplicate(ous_client):
    real = national_id_for(DEFAULT_BIRTH)
    existing = make_patient(ous_client.member, national_id=real)
    patient = register_h(ous_client.member)
    response = ous_client.post(
        f"/api/v1/registry/patients/{patient.register_number}/national-id/",
        {"national_id": real, "care_reason": "Our patient", "version": 1},
        content_type="application/json",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["extra"]["existing_patient"] == existing.register_number
    assert existing.register_number in body["extra"]["fields"]["national_id"][0]
