"""Who sees which patients (selectors): clinicians and coordinators those of their own
institutions, admins all (national ID masked), researchers and lab scientists none;
anything not visible answers 404. Patient search by name, register number, national ID."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404

from consortium.models import Role
from registry import selectors
from tests.registry.factories import (  # noqa: F401 - fast_password_hashing is an autouse fixture
    clinician,
    fast_password_hashing,
    make_episode,
    make_patient,
    member,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db):
    """Three patients: one at OUS, one treated at both UNN and OUS, one at HUS only."""
    ous, unn, hus = clinician("OUS"), clinician("UNN"), clinician("HUS")
    return {
        "clinician": ous,
        "ous": make_patient(ous, full_name="Kari Ødegård"),
        "both": make_patient(unn, institution_codes=("UNN", "OUS"), full_name="Nils Ås"),
        "hus": make_patient(hus, institution_codes=("HUS",), full_name="Hilde Bergstrøm"),
    }


def visible(user) -> set:
    return set(selectors.patients_visible_to(user).values_list("register_number", flat=True))


def numbers(*patients) -> set:
    return {p.register_number for p in patients}


def test_a_clinician_sees_the_patients_of_their_institution(world):
    user = world["clinician"]
    assert visible(user) == numbers(world["ous"], world["both"])
    assert (
        selectors.patient_get(user=user, register_number=world["both"].register_number)
        == world["both"]
    )
    with pytest.raises(Http404):
        selectors.patient_get(user=user, register_number=world["hus"].register_number)


def test_a_clinician_of_two_institutions_sees_both(world):
    assert visible(clinician("OUS", "HUS")) == numbers(world["ous"], world["both"], world["hus"])


def test_a_coordinator_sees_the_patients_of_their_institution(world):
    assert visible(member(Role.COORDINATOR, "OUS")) == numbers(world["ous"], world["both"])
    assert visible(member(Role.COORDINATOR, "HUS")) == numbers(world["hus"])
    assert visible(member(Role.COORDINATOR, "STOLAV")) == set()
    with pytest.raises(Http404):
        selectors.patient_get(
            user=member(Role.COORDINATOR, "HUS"), register_number=world["ous"].register_number
        )


@pytest.mark.parametrize("role", [Role.RESEARCHER, Role.LAB_SCIENTIST])
def test_researchers_and_lab_scientists_see_no_patient(world, role):
    user = member(role, "OUS")  # even when the member belongs to the hospital
    assert visible(user) == set()
    with pytest.raises(Http404):
        selectors.patient_get(user=user, register_number=world["ous"].register_number)
    assert list(selectors.patient_search(user=user, query="odegard")) == []


def test_an_admin_sees_every_patient(world):
    admin = member(Role.ADMIN, "UIO-ICR")
    assert visible(admin) == numbers(world["ous"], world["both"], world["hus"])
    assert (
        selectors.patient_get(user=admin, register_number=world["hus"].register_number)
        == world["hus"]
    )


def test_nobody_signed_in_sees_nothing(world):
    assert visible(AnonymousUser()) == set()


def test_an_unknown_register_number_is_404(world):
    with pytest.raises(Http404):
        selectors.patient_get(user=world["clinician"], register_number="NB-0000-0000")


def test_an_episode_of_an_invisible_patient_is_404(world):
    hus_clinician = clinician("HUS")
    episode = make_episode(world["hus"], hus_clinician)
    assert selectors.episode_for_user(user=hus_clinician, episode_id=episode.pk) == episode
    with pytest.raises(Http404):
        selectors.episode_for_user(user=world["clinician"], episode_id=episode.pk)


# --- Editing and the national ID ------------------------------------------------------------------


def test_only_clinicians_of_the_patients_institutions_edit(world):
    clin = world["clinician"]
    assert selectors.can_edit_patient(clin, world["ous"]) is True
    assert selectors.can_edit_patient(clin, world["both"]) is True
    assert selectors.can_edit_patient(clin, world["hus"]) is False
    for user in (
        member(Role.COORDINATOR, "OUS"),
        member(Role.ADMIN, "OUS"),
        member(Role.RESEARCHER, "OUS"),
        member(Role.LAB_SCIENTIST, "OUS"),
    ):
        assert selectors.can_edit_patient(user, world["ous"]) is False, user.role


def test_the_national_id_shows_only_to_the_treating_clinicians(world):
    clin = world["clinician"]
    assert selectors.shows_national_id(clin, world["ous"]) is True
    assert selectors.shows_national_id(clin, world["both"]) is True
    assert selectors.shows_national_id(clin, world["hus"]) is False
    # Trial coordinators work by register number: masked even at their own hospital.
    assert selectors.shows_national_id(member(Role.COORDINATOR, "OUS"), world["ous"]) is False
    assert selectors.shows_national_id(member(Role.COORDINATOR, "UNN"), world["both"]) is False
    assert selectors.shows_national_id(member(Role.ADMIN, "OUS"), world["ous"]) is False
    assert selectors.shows_national_id(member(Role.RESEARCHER, "OUS"), world["ous"]) is False


def test_the_masked_national_id_shows_the_birth_date_part_only(world):
    patient = world["ous"]
    masked = patient.masked_national_id
    assert masked.startswith(patient.national_id[:6])
    assert patient.national_id[6:] not in masked
    assert len(masked) == 11


# --- Search ---------------------------------------------------------------------------------------


def found(user, query) -> set:
    return set(
        selectors.patient_search(user=user, query=query).values_list("register_number", flat=True)
    )


@pytest.mark.parametrize(
    "query", ["odegard", "Ødegård", "ØDEGÅRD", "ødegard", "odegård", "kari odeg", "Kari"]
)
def test_search_by_name_ignores_case_and_accents(world, query):
    assert found(world["clinician"], query) == numbers(world["ous"])


def test_search_by_name_finds_norwegian_letters(world):
    assert found(world["clinician"], "as") >= numbers(world["both"])  # "Ås"
    assert found(world["clinician"], "nils ås") == numbers(world["both"])


def test_search_never_finds_an_invisible_patient(world):
    hus = world["hus"]
    clin = world["clinician"]
    assert found(clin, "bergstrom") == set()
    assert found(clin, hus.national_id) == set()
    assert found(clin, hus.register_number) == set()


def test_search_by_register_number_with_and_without_dashes(world):
    number = world["ous"].register_number  # NB-XXXX-XXXX
    body = number[3:].replace("-", "")
    clin = world["clinician"]
    for query in (number, number.lower(), f"NB{body}", f"nb-{body}", f"NB-{body[:4]}-{body[4:]}"):
        assert found(clin, query) == numbers(world["ous"]), query


def test_search_by_a_register_number_prefix(world):
    number = world["ous"].register_number
    clin = world["clinician"]
    assert world["ous"].register_number in found(clin, number[:7])  # NB-XXXX
    assert world["ous"].register_number in found(clin, number[:7].replace("-", ""))  # NBXXXX
    assert found(clin, number[:9]) == numbers(world["ous"])  # NB-XXXX-X


def test_search_by_national_id_is_exact(world):
    patient = world["ous"]
    clin = world["clinician"]
    assert found(clin, patient.national_id) == numbers(patient)
    assert found(clin, f"{patient.national_id[:6]} {patient.national_id[6:]}") == numbers(patient)
    assert found(clin, patient.national_id[:10]) == set()
    assert found(clin, patient.national_id[:6]) == set()


def test_an_empty_search_lists_every_visible_patient_by_name(world):
    results = list(selectors.patient_search(user=world["clinician"], query=" "))
    assert results == [world["ous"], world["both"]]  # kari odegard < nils as
