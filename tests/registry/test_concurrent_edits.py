"""Two clinicians edit the same section: the second save, made against the version both
loaded, is refused with an EditConflict naming what changed, and overwrites nothing."""

from datetime import time

import pytest

from consortium.services import EditConflict
from registry import services, vocabulary
from registry.models import MarkerResult, MolecularMarker, Patient, Surgery, TumourEpisode
from tests.registry.factories import (  # noqa: F401 - fast_password_hashing is an autouse fixture
    aware,
    clinician,
    days_ago,
    fast_password_hashing,
    make_episode,
    make_patient,
)

pytestmark = pytest.mark.django_db

SURGERY_FORM = [
    "surgery_date",
    "surgery_end_time",
    "procedure",
    "extent_of_resection",
    "postoperative_mri_at",
    "complications_within_30_days",
    "complications",
    "reoperation",
]


@pytest.fixture
def first(db):
    return clinician("OUS")


@pytest.fixture
def second(db):
    return clinician("OUS")


@pytest.fixture
def patient(first):
    return make_patient(first)


@pytest.fixture
def episode(first, patient):
    return make_episode(
        patient,
        first,
        diagnosis_date=days_ago(60),
        diagnosis=vocabulary.ASTROCYTOMA_IDH_MUTANT,
        who_grade=2,
        topography="C71.1",
        laterality=TumourEpisode.Laterality.LEFT,
    )


@pytest.fixture
def surgery(first, episode):
    day = days_ago(50)
    return services.section_save(
        section="surgeries",
        episode=episode,
        by=first,
        surgery_date=day,
        surgery_end_time=time(13, 0),
        procedure=Surgery.Procedure.RESECTION,
        extent_of_resection=Surgery.ExtentOfResection.GROSS_TOTAL,
        postoperative_mri_at=aware(days_ago(49), time(9, 0)),
    )


def form(obj, fields, **changes):
    """What an edit form posts: every field as loaded, with the member's changes."""
    data = {f: getattr(obj, f) for f in fields}
    data.update(changes)
    return data


def conflict(call) -> str:
    with pytest.raises(EditConflict) as caught:
        call()
    return str(caught.value)


# --- A surgery row --------------------------------------------------------------------------------


def test_the_second_save_of_a_surgery_is_refused_and_names_the_change(
    first, second, episode, surgery
):
    assert surgery.version == 1
    loaded_by_second = Surgery.objects.get(pk=surgery.pk)
    saved = services.section_save(
        section="surgeries",
        episode=episode,
        by=first,
        row=surgery,
        expected_version=1,
        **form(surgery, SURGERY_FORM, extent_of_resection=Surgery.ExtentOfResection.SUBTOTAL),
    )
    assert saved.version == 2
    message = conflict(
        lambda: services.section_save(
            section="surgeries",
            episode=episode,
            by=second,
            row=loaded_by_second,
            expected_version=1,
            **form(
                loaded_by_second,
                SURGERY_FORM,
                complications_within_30_days="yes",
                complications="Wound infection",
            ),
        )
    )
    assert "extent of resection" in message
    assert "surgery date" not in message and "procedure" not in message
    stored = Surgery.objects.get(pk=surgery.pk)
    assert stored.extent_of_resection == Surgery.ExtentOfResection.SUBTOTAL
    assert stored.complications == "" and stored.version == 2


def test_after_reloading_the_second_clinician_saves(first, second, episode, surgery):
    services.section_save(
        section="surgeries",
        episode=episode,
        by=first,
        row=surgery,
        expected_version=1,
        reoperation=True,
    )
    reloaded = Surgery.objects.get(pk=surgery.pk)
    saved = services.section_save(
        section="surgeries",
        episode=episode,
        by=second,
        row=reloaded,
        expected_version=reloaded.version,
        complications_within_30_days="no",
    )
    saved.refresh_from_db()
    assert (
        saved.version == 3
        and saved.reoperation is True
        and saved.complications_within_30_days == "no"
    )


def test_a_partial_save_is_told_which_other_field_changed(first, second, episode, surgery):
    services.section_save(
        section="surgeries",
        episode=episode,
        by=first,
        row=surgery,
        expected_version=1,
        extent_of_resection=Surgery.ExtentOfResection.PARTIAL,
    )
    message = conflict(
        lambda: services.section_save(
            section="surgeries",
            episode=episode,
            by=second,
            row=surgery,
            expected_version=1,
            complications_within_30_days="no",
        )
    )
    assert "extent of resection" in message


def test_two_rows_of_a_section_do_not_conflict(first, second, episode, surgery):
    other = services.section_save(
        section="surgeries",
        episode=episode,
        by=second,
        surgery_date=days_ago(40),
        procedure=Surgery.Procedure.STEREOTACTIC_BIOPSY,
        reoperation=True,
    )
    services.section_save(
        section="surgeries",
        episode=episode,
        by=first,
        row=surgery,
        expected_version=1,
        reoperation=False,
    )
    services.section_save(
        section="surgeries",
        episode=episode,
        by=second,
        row=other,
        expected_version=1,
        extent_of_resection=Surgery.ExtentOfResection.BIOPSY_ONLY,
    )
    # Each row kept its own version: both saves went through, each with its change only.
    surgery.refresh_from_db()
    other.refresh_from_db()
    assert (surgery.version, surgery.reoperation) == (2, False)
    assert (other.version, other.reoperation, other.extent_of_resection) == (
        2,
        True,
        Surgery.ExtentOfResection.BIOPSY_ONLY,
    )


# --- The episode's diagnosis section --------------------------------------------------------------


def test_the_second_save_of_the_diagnosis_is_refused_and_names_the_change(
    first, second, patient, episode
):
    assert episode.version == 1
    loaded_by_second = TumourEpisode.objects.get(pk=episode.pk)
    services.episode_save(
        patient=patient,
        by=first,
        episode=episode,
        expected_version=1,
        **form(episode, services.EPISODE_FIELDS, who_grade=3),
    )
    message = conflict(
        lambda: services.episode_save(
            patient=patient,
            by=second,
            episode=loaded_by_second,
            expected_version=1,
            **form(
                loaded_by_second, services.EPISODE_FIELDS, laterality=TumourEpisode.Laterality.RIGHT
            ),
        )
    )
    assert "CNS WHO grade" in message
    assert "laterality" not in message.lower()
    stored = TumourEpisode.objects.get(pk=episode.pk)
    assert (stored.who_grade, stored.laterality, stored.version) == (
        3,
        TumourEpisode.Laterality.LEFT,
        2,
    )
    assert stored.morphology == "9401/3"


def test_a_markers_save_does_not_conflict_with_the_diagnosis(first, second, patient, episode):
    services.markers_save(
        episode=episode,
        by=first,
        expected_version=1,
        results={"idh": (MarkerResult.ALTERED, "sequencing")},
    )
    saved = services.episode_save(
        patient=patient,
        by=second,
        episode=episode,
        expected_version=1,
        laterality=TumourEpisode.Laterality.RIGHT,
    )
    assert saved.version == 2


# --- Patient details ------------------------------------------------------------------------------


def test_the_second_save_of_patient_details_is_refused_and_names_the_change(first, second, patient):
    assert patient.version == 1
    loaded_by_second = Patient.objects.get(pk=patient.pk)
    services.patient_update(
        patient=patient,
        by=first,
        expected_version=1,
        **form(patient, services.PATIENT_FIELDS, full_name="Kari Nordmann Berg"),
    )
    message = conflict(
        lambda: services.patient_update(
            patient=loaded_by_second,
            by=second,
            expected_version=1,
            **form(loaded_by_second, services.PATIENT_FIELDS, health_region="north"),
        )
    )
    assert "name" in message
    assert "birth date" not in message and "health region" not in message
    stored = Patient.objects.get(pk=patient.pk)
    assert (stored.full_name, stored.health_region, stored.version) == ("Kari Nordmann Berg", "", 2)


# --- Molecular markers (their own version) --------------------------------------------------------


def test_the_second_save_of_the_markers_is_refused(first, second, episode):
    assert episode.markers_version == 1
    loaded_by_second = TumourEpisode.objects.get(pk=episode.pk)
    saved = services.markers_save(
        episode=episode,
        by=first,
        expected_version=1,
        results={
            "idh": (MarkerResult.ALTERED, "sequencing"),
            "mgmt": (MarkerResult.ALTERED, "pcr"),
        },
    )
    assert saved.markers_version == 2
    message = conflict(
        lambda: services.markers_save(
            episode=loaded_by_second,
            by=second,
            expected_version=1,
            results={
                "idh": (MarkerResult.INCONCLUSIVE, "ihc"),
                "mgmt": (MarkerResult.WILDTYPE, "pcr"),
            },
        )
    )
    assert "markers" in message
    stored = dict(MolecularMarker.objects.filter(episode=episode).values_list("marker", "result"))
    assert stored == {"idh": MarkerResult.ALTERED, "mgmt": MarkerResult.ALTERED}
    assert TumourEpisode.objects.get(pk=episode.pk).markers_version == 2
