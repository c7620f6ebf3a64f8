"""The register's entry rules through the services: every error names its field and
its rule; warnings are refused until acknowledged and then kept with the row.
Expected values come from docs/registry-rules.md (§2 guideline doses, lead
times and the 72 h MRI; §3 WHO CNS5 grades and ICD-O-3 codes; §4 national ID)."""

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from consortium.models import OutboxMessage, Role
from registry import services, vocabulary
from registry.models import (
    MarkerResult,
    MolecularMarker,
    Patient,
    PerformanceStatus,
    RadiotherapyCourse,
    Surgery,
    SystemicTherapy,
    TumourEpisode,
)
from registry.signals import register_changed
from tests.registry.factories import (  # noqa: F401 - fast_password_hashing is an autouse fixture
    DEFAULT_BIRTH,
    aware,
    born_aged,
    clinician,
    days_ago,
    fast_password_hashing,
    find_new_rule_number,
    gbm_episode,
    institutions,
    make_episode,
    make_patient,
    member,
    national_id_for,
    tenor_id,
    today,
)

pytestmark = pytest.mark.django_db

ASTRO = vocabulary.ASTROCYTOMA_IDH_MUTANT
OLIGO = vocabulary.OLIGODENDROGLIOMA
GBM = vocabulary.GLIOBLASTOMA_IDH_WILDTYPE


@pytest.fixture
def clin(db):
    return clinician("OUS")


@pytest.fixture
def patient(clin):
    return make_patient(clin)


def errors_of(call) -> dict[str, list[str]]:
    """The field errors of a refused save (a ValidationError, not a warning)."""
    with pytest.raises(ValidationError) as caught:
        call()
    assert not isinstance(caught.value, services.UnacknowledgedWarnings), caught.value
    return caught.value.message_dict


def warnings_of(call):
    """The warnings of a save refused until they are acknowledged."""
    with pytest.raises(ValidationError) as caught:
        call()
    assert isinstance(caught.value, services.UnacknowledgedWarnings), caught.value
    assert list(caught.value.message_dict) == ["acknowledge_warnings"]
    return caught.value.warnings


def text(errors: dict, field: str) -> str:
    assert field in errors, errors
    return " ".join(errors[field])


def surgery(episode, by, *, day, **fields):
    values = dict(surgery_date=day, procedure=Surgery.Procedure.RESECTION)
    values.update(fields)
    return services.section_save(section="surgeries", episode=episode, by=by, **values)


def radiotherapy(episode, by, *, start, dose, fractions, **fields):
    return services.section_save(
        section="radiotherapy",
        episode=episode,
        by=by,
        start_date=start,
        total_dose_gy=Decimal(str(dose)),
        fractions=fractions,
        **fields,
    )


def performance(episode, by, *, on=None, **fields):
    return services.section_save(
        section="performance", episode=episode, by=by, assessed_on=on or days_ago(40), **fields
    )


# --- Registering a patient: the national ID --------------------------------------------------


def test_an_invalid_national_id_is_refused_on_the_national_id_field(clin):
    errors = errors_of(
        lambda: services.patient_register(
            by=clin,
            national_id_value="31129956714",
            institutions=institutions("OUS"),
            allow_synthetic=True,
            full_name="Ola Nordmann",
        )
    )
    assert "control digit" in text(errors, "national_id")
    assert not Patient.objects.exists()


def test_a_national_id_of_the_wrong_length_is_refused(clin):
    errors = errors_of(
        lambda: services.patient_register(
            by=clin,
            national_id_value="3112995671",
            institutions=institutions("OUS"),
            allow_synthetic=True,
            full_name="Ola Nordmann",
        )
    )
    assert "11 digits" in text(errors, "national_id")


def test_a_registered_national_id_needs_a_declared_care_relationship(clin):
    """A number already in the register is not refused with "already registered" (which
    would tell anyone the person has a brain tumour): without a declared care relationship
    the only error is the declaration the forms ask of every registration."""
    number = tenor_id(DEFAULT_BIRTH)
    make_patient(clin, national_id=number)
    other = clinician("HUS")
    errors = errors_of(
        lambda: services.patient_register(
            by=other,
            national_id_value=number,
            institutions=institutions("HUS"),
            allow_synthetic=True,
            full_name="Someone Else",
        )
    )
    assert set(errors) == {"care_reason"}
    message = text(errors, "care_reason")
    assert "already" not in message
    assert "OUS" not in message and "Kari" not in message  # does not say where or who
    assert Patient.objects.count() == 1
    linked = services.patient_register(
        by=other,
        national_id_value=number,
        institutions=institutions("HUS"),
        allow_synthetic=True,
        full_name="Someone Else",
        care_reason="Referred to Haukeland",
    )
    assert linked.declared_care and Patient.objects.count() == 1
    assert linked.full_name == "Kari Nordmann"  # the record's details are kept


def test_birth_date_and_sex_are_derived_from_the_number_when_omitted(clin):
    number = tenor_id(DEFAULT_BIRTH)
    patient = make_patient(clin, national_id=number)
    assert patient.birth_date == DEFAULT_BIRTH
    assert patient.sex == ("female" if int(number[8]) % 2 == 0 else "male")
    assert "Tenor" in patient.synthetic_id


def test_a_given_birth_date_and_sex_are_kept(clin):
    patient = make_patient(
        clin, national_id=tenor_id(DEFAULT_BIRTH), birth_date=DEFAULT_BIRTH, sex=Patient.Sex.UNKNOWN
    )
    assert patient.sex == Patient.Sex.UNKNOWN


def _new_rule_number() -> str:
    return find_new_rule_number("150688", 2)


def test_a_2032_rule_number_needs_the_birth_date_entered(clin):
    number = _new_rule_number()
    errors = errors_of(
        lambda: services.patient_register(
            by=clin,
            national_id_value=number,
            institutions=institutions("OUS"),
            allow_synthetic=False,
            full_name="Ola Nordmann",
        )
    )
    assert "birth date" in text(errors, "birth_date")
    patient = services.patient_register(
        by=clin,
        national_id_value=number,
        institutions=institutions("OUS"),
        allow_synthetic=False,
        full_name="Ola Nordmann",
        birth_date=DEFAULT_BIRTH,
    )
    assert patient.birth_date == DEFAULT_BIRTH
    assert patient.sex == Patient.Sex.UNKNOWN  # the 2032 rule encodes no sex


def test_synthetic_numbers_are_refused_when_the_installation_does_not_allow_them(clin, settings):
    # The service takes the setting from its caller (views pass ALLOW_SYNTHETIC_NATIONAL_IDS).
    settings.ALLOW_SYNTHETIC_NATIONAL_IDS = False
    for number in ("17912099997", "57912075186"):  # Tenor fnr and D-number
        errors = errors_of(
            lambda n=number: services.patient_register(
                by=clin,
                national_id_value=n,
                institutions=institutions("OUS"),
                allow_synthetic=settings.ALLOW_SYNTHETIC_NATIONAL_IDS,
                full_name="Test Person",
            )
        )
        assert "synthetic" in text(errors, "national_id")
    real = national_id_for(DEFAULT_BIRTH)
    patient = services.patient_register(
        by=clin,
        national_id_value=real,
        institutions=institutions("OUS"),
        allow_synthetic=settings.ALLOW_SYNTHETIC_NATIONAL_IDS,
        full_name="Test Person",
    )
    assert patient.synthetic_id == ""


def test_only_clinicians_register_patients(db):
    coordinator = member(Role.COORDINATOR, "OUS")
    with pytest.raises(PermissionDenied):
        make_patient(coordinator)


def test_the_patient_must_belong_to_one_of_the_registering_clinicians_institutions(clin):
    errors = errors_of(lambda: make_patient(clin, institution_codes=("HUS",)))
    assert "institution" in text(errors, "institutions")


# --- Dates in order -----------------------------------------------------------------------------


def test_diagnosis_before_birth_is_refused(clin, patient):
    day_before = patient.birth_date - timedelta(days=1)
    errors = errors_of(lambda: gbm_episode(patient, clin, diagnosis_date=day_before))
    assert "before the birth date" in text(errors, "diagnosis_date")


def test_referral_before_birth_is_refused(clin, patient):
    errors = errors_of(
        lambda: gbm_episode(patient, clin, referral_date=patient.birth_date - timedelta(days=3))
    )
    assert "before the birth date" in text(errors, "referral_date")


def test_a_future_diagnosis_date_is_refused(clin, patient):
    errors = errors_of(
        lambda: gbm_episode(patient, clin, diagnosis_date=today() + timedelta(days=1))
    )
    assert "future" in text(errors, "diagnosis_date")


def test_today_is_not_in_the_future(clin, patient):
    assert gbm_episode(patient, clin, diagnosis_date=today()).diagnosis_date == today()


def test_surgery_before_diagnosis_is_refused(clin, patient):
    episode = gbm_episode(patient, clin, diagnosis_date=days_ago(30))
    errors = errors_of(lambda: surgery(episode, clin, day=days_ago(31)))
    assert "before the date of diagnosis" in text(errors, "surgery_date")
    assert surgery(episode, clin, day=days_ago(30)).pk  # the same day is fine


def test_a_future_surgery_is_refused(clin, patient):
    episode = gbm_episode(patient, clin, diagnosis_date=days_ago(30))
    errors = errors_of(lambda: surgery(episode, clin, day=today() + timedelta(days=2)))
    assert "future" in text(errors, "surgery_date")


def test_moving_the_diagnosis_after_the_first_surgery_is_refused(clin, patient):
    episode = gbm_episode(patient, clin, diagnosis_date=days_ago(30))
    surgery(episode, clin, day=days_ago(20))
    errors = errors_of(
        lambda: services.episode_save(
            patient=patient,
            by=clin,
            episode=episode,
            expected_version=episode.version,
            diagnosis_date=days_ago(10),
        )
    )
    assert "after the first surgery" in text(errors, "diagnosis_date")


def test_radiotherapy_ending_before_it_starts_is_refused(clin, patient):
    episode = gbm_episode(patient, clin, diagnosis_date=days_ago(90))
    errors = errors_of(
        lambda: radiotherapy(
            episode, clin, start=days_ago(40), end_date=days_ago(41), dose=60, fractions=30
        )
    )
    assert "ends before it starts" in text(errors, "end_date")
    assert not RadiotherapyCourse.objects.exists()


def test_systemic_therapy_stopping_before_it_starts_is_refused(clin, patient):
    episode = gbm_episode(patient, clin, diagnosis_date=days_ago(90))
    errors = errors_of(
        lambda: services.section_save(
            section="systemic_therapies",
            episode=episode,
            by=clin,
            regimen=SystemicTherapy.Regimen.TEMOZOLOMIDE_ADJUVANT,
            start_date=days_ago(30),
            stop_date=days_ago(31),
        )
    )
    assert "stops before it starts" in text(errors, "stop_date")
    assert not SystemicTherapy.objects.exists()


def test_systemic_therapy_before_diagnosis_is_refused(clin, patient):
    episode = gbm_episode(patient, clin, diagnosis_date=days_ago(30))
    errors = errors_of(
        lambda: services.section_save(
            section="systemic_therapies",
            episode=episode,
            by=clin,
            regimen=SystemicTherapy.Regimen.PCV,
            start_date=days_ago(31),
        )
    )
    assert "before the date of diagnosis" in text(errors, "start_date")


@pytest.fixture
def deceased(clin):
    return make_patient(
        clin, full_name="Per Død", vital_status=Patient.VitalStatus.DEAD, date_of_death=days_ago(10)
    )


def test_a_diagnosis_after_the_date_of_death_is_refused(clin, deceased):
    errors = errors_of(lambda: gbm_episode(deceased, clin, diagnosis_date=days_ago(5)))
    assert "after the date of death" in text(errors, "diagnosis_date")


def test_treatment_and_follow_up_after_the_date_of_death_are_refused(clin, deceased):
    episode = gbm_episode(deceased, clin, diagnosis_date=days_ago(60))
    assert "after the date of death" in text(
        errors_of(lambda: surgery(episode, clin, day=days_ago(5))), "surgery_date"
    )
    assert "after the date of death" in text(
        errors_of(
            lambda: radiotherapy(
                episode, clin, start=days_ago(9), end_date=days_ago(4), dose=40, fractions=15
            )
        ),
        "end_date",
    )
    assert "after the date of death" in text(
        errors_of(
            lambda: services.section_save(
                section="follow_ups", episode=episode, by=clin, assessed_on=days_ago(2)
            )
        ),
        "assessed_on",
    )
    assert "after the date of death" in text(
        errors_of(lambda: performance(episode, clin, on=days_ago(1), ecog=4)), "assessed_on"
    )


def test_a_date_of_death_before_recorded_treatment_is_refused(clin, patient):
    episode = gbm_episode(patient, clin, diagnosis_date=days_ago(60))
    surgery(episode, clin, day=days_ago(50))
    patient.refresh_from_db()
    errors = errors_of(
        lambda: services.patient_update(
            patient=patient,
            by=clin,
            expected_version=patient.version,
            vital_status=Patient.VitalStatus.DEAD,
            date_of_death=days_ago(55),
        )
    )
    assert "surgery" in text(errors, "date_of_death")
    patient.refresh_from_db()
    assert patient.date_of_death is None


def test_a_dead_patient_needs_a_date_of_death(clin, patient):
    errors = errors_of(
        lambda: services.patient_update(
            patient=patient,
            by=clin,
            expected_version=patient.version,
            vital_status=Patient.VitalStatus.DEAD,
        )
    )
    assert "date of death" in text(errors, "date_of_death")


def test_trial_inclusion_can_be_accepted_only_when_offered(clin, patient):
    errors = errors_of(
        lambda: make_episode(patient, clin, trial_offered="no", trial_accepted="yes")
    )
    assert "only when it was offered" in text(errors, "trial_accepted")


# --- Diagnosis, grade and morphology (WHO CNS5, docs/registry-rules.md §1) ------------------------


@pytest.mark.parametrize(
    ("diagnosis", "grade", "allowed"),
    [
        (GBM, 2, "4"),  # glioblastoma, IDH-wildtype is grade 4 only
        (GBM, 3, "4"),
        (OLIGO, 4, "2, 3"),  # oligodendroglioma is grade 2 or 3
        (OLIGO, 1, "2, 3"),
        (ASTRO, 1, "2, 3, 4"),  # astrocytoma, IDH-mutant is 2, 3 or 4
        ("pilocytic_astrocytoma", 2, "1"),
    ],
)
def test_a_grade_the_diagnosis_does_not_allow_is_refused(clin, patient, diagnosis, grade, allowed):
    errors = errors_of(
        lambda: make_episode(
            patient, clin, diagnosis_date=days_ago(30), diagnosis=diagnosis, who_grade=grade
        )
    )
    message = text(errors, "who_grade")
    assert f"grade {grade} is not allowed" in message
    assert f"allowed: {allowed}" in message
    assert not TumourEpisode.objects.exists()


def test_grade_5_is_refused(clin, patient):
    errors = errors_of(
        lambda: make_episode(patient, clin, diagnosis_date=days_ago(30), who_grade=5)
    )
    assert "1 to 4" in text(errors, "who_grade")


@pytest.mark.parametrize(
    ("diagnosis", "grade", "morphology"),
    [
        (ASTRO, 2, "9400/3"),
        (ASTRO, 3, "9401/3"),
        (ASTRO, 4, "9445/3"),
        (OLIGO, 2, "9450/3"),
        (OLIGO, 3, "9451/3"),
        (GBM, 4, "9440/3"),
        ("meningioma", 1, "9530/0"),
        ("meningioma", 2, "9539/1"),
        ("meningioma", 3, "9530/3"),
        ("diffuse_midline_glioma_h3k27", 4, "9385/3"),
        ("medulloblastoma_wnt", 4, "9475/3"),
        ("pxa", 3, "9424/3"),
        ("subependymoma", 1, "9383/1"),
    ],
)
def test_morphology_is_filled_from_diagnosis_and_grade(clin, patient, diagnosis, grade, morphology):
    episode = make_episode(
        patient, clin, diagnosis_date=days_ago(30), diagnosis=diagnosis, who_grade=grade
    )
    episode.refresh_from_db()
    assert episode.morphology == morphology


def test_morphology_follows_a_change_of_grade(clin, patient):
    episode = make_episode(patient, clin, diagnosis_date=days_ago(30), diagnosis=ASTRO, who_grade=2)
    episode = services.episode_save(
        patient=patient, by=clin, episode=episode, expected_version=episode.version, who_grade=3
    )
    episode.refresh_from_db()
    assert episode.morphology == "9401/3"


def test_glioblastoma_needs_no_grade_for_its_single_code(clin, patient):
    episode = make_episode(patient, clin, diagnosis_date=days_ago(30), diagnosis=GBM)
    assert episode.morphology == "9440/3"


# --- Diagnoses that contradict markers ------------------------------------------------------------


def save_markers(episode, by, acknowledge=None, **results):
    episode.refresh_from_db()
    return services.markers_save(
        episode=episode,
        by=by,
        expected_version=episode.markers_version,
        acknowledge=acknowledge,
        results={m: (r, "sequencing") for m, r in results.items()},
    )


@pytest.mark.parametrize(
    ("field", "results"),
    [
        ("idh", {"idh": MarkerResult.WILDTYPE}),
        (
            "codeletion_1p19q",
            {"idh": MarkerResult.ALTERED, "codeletion_1p19q": MarkerResult.WILDTYPE},
        ),
    ],
)
def test_oligodendroglioma_markers_that_contradict_it_are_refused(clin, patient, field, results):
    episode = make_episode(patient, clin, diagnosis_date=days_ago(30), diagnosis=OLIGO, who_grade=2)
    errors = errors_of(lambda: save_markers(episode, clin, **results))
    assert "Oligodendroglioma requires" in text(errors, field)
    assert not MolecularMarker.objects.exists()


@pytest.mark.parametrize(
    "results",
    [
        {"idh": MarkerResult.WILDTYPE},
        {"idh": MarkerResult.ALTERED, "codeletion_1p19q": MarkerResult.WILDTYPE},
    ],
)
def test_oligodendroglioma_diagnosis_contradicting_stored_markers_is_refused(
    clin, patient, results
):
    episode = make_episode(patient, clin, diagnosis_date=days_ago(30))
    save_markers(episode, clin, **results)
    episode.refresh_from_db()
    errors = errors_of(
        lambda: services.episode_save(
            patient=patient,
            by=clin,
            episode=episode,
            expected_version=episode.version,
            diagnosis=OLIGO,
            who_grade=2,
        )
    )
    assert "Oligodendroglioma requires" in text(errors, "diagnosis")
    episode.refresh_from_db()
    assert episode.diagnosis == ""


def test_oligodendroglioma_with_confirmed_markers_is_accepted(clin, patient):
    episode = make_episode(patient, clin, diagnosis_date=days_ago(30), diagnosis=OLIGO, who_grade=3)
    save_markers(episode, clin, idh=MarkerResult.ALTERED, codeletion_1p19q=MarkerResult.ALTERED)
    assert MolecularMarker.objects.filter(episode=episode).count() == 2


def test_glioblastoma_idh_wildtype_with_idh_mutated_is_refused(clin, patient):
    episode = gbm_episode(patient, clin, diagnosis_date=days_ago(30))
    errors = errors_of(lambda: save_markers(episode, clin, idh=MarkerResult.ALTERED))
    assert "IDH-wildtype" in text(errors, "idh")
    assert not MolecularMarker.objects.exists()


def test_glioblastoma_diagnosis_after_an_idh_mutation_is_refused(clin, patient):
    episode = make_episode(patient, clin, diagnosis_date=days_ago(30))
    save_markers(episode, clin, idh=MarkerResult.ALTERED)
    episode.refresh_from_db()
    errors = errors_of(
        lambda: services.episode_save(
            patient=patient,
            by=clin,
            episode=episode,
            expected_version=episode.version,
            diagnosis=GBM,
            who_grade=4,
        )
    )
    assert "astrocytoma, IDH-mutant" in text(errors, "diagnosis")


def test_an_unknown_marker_result_is_refused_on_that_marker(clin, patient):
    episode = gbm_episode(patient, clin)
    errors = errors_of(lambda: save_markers(episode, clin, mgmt="maybe"))
    assert "must be one of" in text(errors, "mgmt")


# --- Impossible values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dose", "fractions", "field", "rule"),
    [
        (0, 30, "total_dose_gy", "more than 0"),
        (100, 50, "total_dose_gy", "at most 80"),
        (60, 0, "fractions", "1 to 60"),
        (30, 1, "fractions", "more than 25 Gy"),  # 30 Gy per fraction
        (60, 2, "fractions", "more than 25 Gy"),
    ],
)
def test_impossible_doses_and_fractions_are_refused(clin, patient, dose, fractions, field, rule):
    episode = gbm_episode(patient, clin, diagnosis_date=days_ago(90))
    errors = errors_of(
        lambda: radiotherapy(episode, clin, start=days_ago(40), dose=dose, fractions=fractions)
    )
    assert rule in text(errors, field)
    assert not RadiotherapyCourse.objects.exists()


def test_single_fraction_radiosurgery_of_25_gy_is_possible(clin, patient):
    # Not a guideline diagnosis, so no dose warning either.
    episode = make_episode(
        patient, clin, diagnosis_date=days_ago(90), diagnosis="meningioma", who_grade=1
    )
    assert radiotherapy(episode, clin, start=days_ago(40), dose=25, fractions=1).pk


@pytest.mark.parametrize(
    ("fields", "field", "rule"),
    [
        ({"ecog": 6}, "ecog", "0 to 5"),
        ({"karnofsky": 55}, "karnofsky", "steps of 10"),
        ({"karnofsky": 110}, "karnofsky", "0 to 100"),
        ({}, "ecog", "Give ECOG, Karnofsky or both"),
    ],
)
def test_impossible_performance_status_is_refused(clin, patient, fields, field, rule):
    episode = gbm_episode(patient, clin)
    errors = errors_of(lambda: performance(episode, clin, **fields))
    assert rule in text(errors, field)
    assert not PerformanceStatus.objects.exists()


@pytest.mark.parametrize(
    "fields",
    [{"ecog": 0}, {"ecog": 5}, {"karnofsky": 0}, {"karnofsky": 100}, {"ecog": 2, "karnofsky": 70}],
)
def test_the_bounds_of_ecog_and_karnofsky_are_accepted(clin, patient, fields):
    episode = gbm_episode(patient, clin)
    assert performance(episode, clin, **fields).pk


# --- Warnings: acknowledge, then saved with the row -----------------------------------------------


def test_a_warning_blocks_the_save_until_acknowledged_and_the_code_is_kept(clin):
    start = days_ago(20)
    patient = make_patient(clin, birth_date=born_aged(50, start))
    episode = gbm_episode(patient, clin, diagnosis_date=days_ago(60))
    found = warnings_of(lambda: radiotherapy(episode, clin, start=start, dose=50, fractions=25))
    assert not RadiotherapyCourse.objects.exists()
    codes = [w.code for w in found]
    # Acknowledging another warning is not enough.
    warnings_of(
        lambda: radiotherapy(
            episode, clin, start=start, dose=50, fractions=25, acknowledge=["something_else"]
        )
    )
    course = radiotherapy(episode, clin, start=start, dose=50, fractions=25, acknowledge=codes)
    course.refresh_from_db()
    assert course.acknowledged_warnings == codes
    again = radiotherapy(episode, clin, start=start, dose=50, fractions=25, acknowledge=True)
    again.refresh_from_db()
    assert again.acknowledged_warnings == codes


@pytest.mark.parametrize(
    ("age", "dose", "fractions", "warns"),
    [
        # GBM, CNS WHO grade 4, age < 70 and ECOG 0-2: 60 Gy/30# (docs/registry-rules.md §2).
        (50, 60, 30, False),
        (50, 50, 25, True),
        (50, 40, 15, True),
        (69, 60, 30, False),
        # Age > 70: 40 Gy/15#, 30-39 Gy/10-13#, 34 Gy/10#, 25 Gy/5#.
        (75, 40, 15, False),
        (75, 34, 10, False),
        (75, 25, 5, False),
        (75, 35, 12, False),
        (75, 60, 30, True),
        (75, 50, 25, True),
    ],
)
def test_rt_dose_against_the_national_guideline_for_glioblastoma(clin, age, dose, fractions, warns):
    start = days_ago(20)
    patient = make_patient(clin, birth_date=born_aged(age, start))
    episode = gbm_episode(patient, clin, diagnosis_date=days_ago(60))
    if warns:
        found = warnings_of(
            lambda: radiotherapy(episode, clin, start=start, dose=dose, fractions=fractions)
        )
        assert len(found) == 1
        assert "guideline" in found[0].message
        course = radiotherapy(
            episode, clin, start=start, dose=dose, fractions=fractions, acknowledge=True
        )
        assert course.acknowledged_warnings == [found[0].code]
    else:
        course = radiotherapy(episode, clin, start=start, dose=dose, fractions=fractions)
        assert course.acknowledged_warnings == []


@pytest.mark.parametrize(
    ("diagnosis", "grade", "dose", "fractions", "warns"),
    [
        (ASTRO, 3, "59.4", 33, False),  # astrocytoma grade 3: 59.4 Gy/33#
        (OLIGO, 3, "59.4", 33, False),  # oligodendroglioma grade 3: 59.4 Gy/33#
        (ASTRO, 4, 60, 30, False),  # astrocytoma grade 4 as GBM: 60 Gy/30#
        (ASTRO, 3, 60, 30, True),
        (OLIGO, 2, "50.4", 28, False),  # grade 2: 50.4-54 Gy/28-30#
        (OLIGO, 2, 54, 30, False),
        (ASTRO, 2, 60, 30, True),
    ],
)
def test_rt_dose_for_other_diffuse_gliomas(clin, diagnosis, grade, dose, fractions, warns):
    start = days_ago(20)
    patient = make_patient(clin, birth_date=born_aged(45, start))
    episode = make_episode(
        patient, clin, diagnosis_date=days_ago(60), diagnosis=diagnosis, who_grade=grade
    )
    if warns:
        assert (
            len(
                warnings_of(
                    lambda: radiotherapy(episode, clin, start=start, dose=dose, fractions=fractions)
                )
            )
            == 1
        )
    else:
        course = radiotherapy(episode, clin, start=start, dose=dose, fractions=fractions)
        assert course.acknowledged_warnings == []


def test_ecog_3_makes_the_hypofractionated_schedule_the_guideline_under_70(clin):
    # "Age > 70 and/or ECOG 3-4: 40 Gy/15#" (docs/registry-rules.md §2).
    start = days_ago(20)
    patient = make_patient(clin, birth_date=born_aged(50, start))
    episode = gbm_episode(patient, clin, diagnosis_date=days_ago(60))
    performance(episode, clin, on=days_ago(30), ecog=3)
    assert (
        radiotherapy(episode, clin, start=start, dose=40, fractions=15).acknowledged_warnings == []
    )
    assert (
        len(warnings_of(lambda: radiotherapy(episode, clin, start=start, dose=60, fractions=30)))
        == 1
    )


def test_the_guideline_uses_the_ecog_before_the_course_not_a_later_one(clin):
    # 60 Gy/30 given at ECOG 1 stays in line when the patient is ECOG 3 at progression.
    start = days_ago(100)
    patient = make_patient(clin, birth_date=born_aged(50, start))
    episode = gbm_episode(patient, clin, diagnosis_date=days_ago(140))
    performance(episode, clin, on=days_ago(110), ecog=1)
    performance(episode, clin, on=days_ago(10), ecog=3)
    assert (
        radiotherapy(episode, clin, start=start, dose=60, fractions=30).acknowledged_warnings == []
    )
    assert (
        len(warnings_of(lambda: radiotherapy(episode, clin, start=start, dose=40, fractions=15)))
        == 1
    )


def test_postoperative_mri_after_72_hours_warns(clin, patient):
    episode = gbm_episode(patient, clin, diagnosis_date=days_ago(60))
    day = days_ago(20)
    late = aware(day, time(12, 0)) + timedelta(hours=80)
    found = warnings_of(
        lambda: surgery(
            episode, clin, day=day, surgery_end_time=time(12, 0), postoperative_mri_at=late
        )
    )
    assert len(found) == 1 and "72 hours" in found[0].message
    row = surgery(
        episode,
        clin,
        day=day,
        surgery_end_time=time(12, 0),
        postoperative_mri_at=late,
        acknowledge=True,
    )
    row.refresh_from_db()
    assert row.acknowledged_warnings == [found[0].code]


def test_postoperative_mri_within_72_hours_does_not_warn(clin, patient):
    episode = gbm_episode(patient, clin, diagnosis_date=days_ago(60))
    day = days_ago(20)
    row = surgery(
        episode,
        clin,
        day=day,
        surgery_end_time=time(12, 0),
        postoperative_mri_at=aware(day, time(12, 0)) + timedelta(hours=48),
    )
    assert row.acknowledged_warnings == []


def test_postoperative_mri_before_the_end_of_surgery_is_refused(clin, patient):
    episode = gbm_episode(patient, clin, diagnosis_date=days_ago(60))
    day = days_ago(20)
    errors = errors_of(
        lambda: surgery(
            episode,
            clin,
            day=day,
            surgery_end_time=time(12, 0),
            postoperative_mri_at=aware(day, time(9, 0)),
        )
    )
    assert "before the end of surgery" in text(errors, "postoperative_mri_at")


def test_mri_hours_are_real_hours_across_the_change_from_summer_time(clin):
    # Europe/Oslo leaves summer time on 25 October 2026 (03:00 -> 02:00). Surgery ends
    # 23 October 12:00 CEST (10:00 UTC); MRI 26 October 11:30 CET (10:30 UTC): 72.5 hours.
    patient = make_patient(clin)
    episode = gbm_episode(patient, clin, diagnosis_date=date(2026, 10, 1))
    # What a form gives: an aware datetime in the current time zone (Europe/Oslo).
    mri = datetime(2026, 10, 26, 11, 30, tzinfo=ZoneInfo("Europe/Oslo"))
    found = warnings_of(
        lambda: surgery(
            episode,
            clin,
            day=date(2026, 10, 23),
            surgery_end_time=time(12, 0),
            postoperative_mri_at=mri,
        )
    )
    assert "72" in found[0].message


def test_idh_mutant_astrocytoma_grade_2_or_3_with_cdkn2ab_deletion_warns_on_markers(clin, patient):
    for grade in (2, 3):
        episode = make_episode(
            patient, clin, diagnosis_date=days_ago(60), diagnosis=ASTRO, who_grade=grade
        )
        found = warnings_of(
            lambda e=episode: save_markers(
                e, clin, idh=MarkerResult.ALTERED, cdkn2ab=MarkerResult.ALTERED
            )
        )
        assert len(found) == 1 and "grade 4" in found[0].message
        assert not MolecularMarker.objects.filter(episode=episode).exists()
        saved = save_markers(
            episode,
            clin,
            acknowledge=[found[0].code],
            idh=MarkerResult.ALTERED,
            cdkn2ab=MarkerResult.ALTERED,
        )
        saved.refresh_from_db()
        assert found[0].code in saved.acknowledged_warnings
        assert MolecularMarker.objects.filter(episode=episode).count() == 2


def test_idh_mutant_astrocytoma_grade_4_with_cdkn2ab_deletion_does_not_warn(clin, patient):
    episode = make_episode(patient, clin, diagnosis_date=days_ago(60), diagnosis=ASTRO, who_grade=4)
    saved = save_markers(episode, clin, idh=MarkerResult.ALTERED, cdkn2ab=MarkerResult.ALTERED)
    assert saved.acknowledged_warnings == []


def test_grading_an_astrocytoma_2_after_a_cdkn2ab_deletion_warns_on_the_diagnosis(clin, patient):
    episode = make_episode(patient, clin, diagnosis_date=days_ago(60), diagnosis=ASTRO, who_grade=4)
    save_markers(episode, clin, idh=MarkerResult.ALTERED, cdkn2ab=MarkerResult.ALTERED)
    episode.refresh_from_db()

    def regrade(**kwargs):
        return services.episode_save(
            patient=patient,
            by=clin,
            episode=episode,
            expected_version=episode.version,
            who_grade=2,
            **kwargs,
        )

    found = warnings_of(regrade)
    episode.refresh_from_db()
    assert episode.who_grade == 4
    saved = regrade(acknowledge=True)
    saved.refresh_from_db()
    assert saved.who_grade == 2 and saved.acknowledged_warnings == [found[0].code]


def test_lead_time_referral_to_surgery_over_21_days_warns(clin, patient):
    referral = days_ago(60)
    episode = gbm_episode(patient, clin, referral_date=referral, diagnosis_date=days_ago(50))
    found = warnings_of(lambda: surgery(episode, clin, day=referral + timedelta(days=30)))
    assert len(found) == 1
    assert "30 days" in found[0].message and "21" in found[0].message
    row = surgery(episode, clin, day=referral + timedelta(days=30), acknowledge=True)
    assert row.acknowledged_warnings == [found[0].code]


@pytest.mark.parametrize("days", [14, 21])
def test_lead_time_referral_to_surgery_within_21_days_does_not_warn(clin, patient, days):
    referral = days_ago(60)
    episode = gbm_episode(patient, clin, referral_date=referral, diagnosis_date=days_ago(50))
    assert surgery(episode, clin, day=referral + timedelta(days=days)).acknowledged_warnings == []


def test_lead_time_referral_to_radiotherapy_uses_the_28_day_norm(clin, patient):
    referral = days_ago(60)
    episode = gbm_episode(patient, clin, referral_date=referral, diagnosis_date=days_ago(50))
    course = radiotherapy(episode, clin, start=referral + timedelta(days=25), dose=60, fractions=30)
    assert course.acknowledged_warnings == []
    found = warnings_of(
        lambda: radiotherapy(
            episode,
            clin,
            row=course,
            expected_version=course.version,
            start=referral + timedelta(days=30),
            dose=60,
            fractions=30,
        )
    )
    assert "28" in found[0].message


def test_only_the_first_treatment_is_measured_against_the_lead_time(clin, patient):
    referral = days_ago(60)
    episode = gbm_episode(patient, clin, referral_date=referral, diagnosis_date=days_ago(50))
    surgery(episode, clin, day=referral + timedelta(days=14))
    second = surgery(episode, clin, day=referral + timedelta(days=40), reoperation=True)
    assert second.acknowledged_warnings == []


def test_saving_the_diagnosis_uses_the_norm_of_the_first_treatment(clin, patient):
    referral = days_ago(60)
    episode = gbm_episode(patient, clin, referral_date=referral, diagnosis_date=days_ago(50))
    radiotherapy(episode, clin, start=referral + timedelta(days=25), dose=60, fractions=30)
    episode.refresh_from_db()
    # 25 days to radiotherapy is within its 28-day norm (the 21-day surgery norm would warn):
    # the save goes through with nothing to acknowledge.
    saved = services.episode_save(
        patient=patient,
        by=clin,
        episode=episode,
        expected_version=episode.version,
        laterality=TumourEpisode.Laterality.RIGHT,
    )
    saved.refresh_from_db()
    assert saved.laterality == TumourEpisode.Laterality.RIGHT
    assert saved.version == episode.version + 1
    assert saved.acknowledged_warnings == []


# --- Other apps hear of changes in the transaction; their work runs after commit ----------------


@pytest.fixture
def heard():
    calls = []

    def receiver(sender, **kwargs):
        calls.append(kwargs)

    register_changed.connect(receiver)
    yield calls
    register_changed.disconnect(receiver)


def test_register_changed_is_heard_in_the_transaction_and_its_work_runs_after_commit(
    clin, heard, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        patient = make_patient(clin)
    # Heard inside the transaction, so the trials app's re-match is written with the save
    # (the outbox) and handed to Celery only by the after-commit callback.
    assert heard == [{"signal": register_changed, "patient_id": patient.pk, "episode_id": None}]
    message = OutboxMessage.objects.get()
    assert (message.task_name, message.args, message.sent_at) == (
        "trials.tasks.rematch_patient",
        [patient.pk],
        None,
    )
    assert callbacks


def test_each_service_tells_other_apps_with_the_patient_and_episode(
    clin, heard, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        patient = make_patient(clin)
    with django_capture_on_commit_callbacks(execute=True):
        episode = gbm_episode(patient, clin)
    with django_capture_on_commit_callbacks(execute=True):
        save_markers(episode, clin, idh=MarkerResult.WILDTYPE)
    with django_capture_on_commit_callbacks(execute=True):
        row = surgery(episode, clin, day=days_ago(50))
    with django_capture_on_commit_callbacks(execute=True):
        services.section_delete(
            section="surgeries", episode=episode, row=row, by=clin, reason="Wrong patient"
        )
    assert [(h["patient_id"], h["episode_id"]) for h in heard] == (
        [(patient.pk, None)] + [(patient.pk, episode.pk)] * 4
    )


def test_a_refused_save_tells_nobody(clin, patient, heard, django_capture_on_commit_callbacks):
    queued = OutboxMessage.objects.count()  # the patient's registration
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        errors_of(lambda: gbm_episode(patient, clin, who_grade=2))
    assert callbacks == [] and heard == [] and OutboxMessage.objects.count() == queued
