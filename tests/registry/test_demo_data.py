"""create_demo_data: synthetic patients that pass the register's own rules, the same for a seed."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import models
from django.utils import timezone

from registry import national_id, rules, selectors
from registry.models import Patient, TumourEpisode

pytestmark = pytest.mark.django_db


def create(**options) -> str:
    out = io.StringIO()
    call_command("create_demo_data", stdout=out, **{"patients": 40, "seed": 7, **options})
    return out.getvalue()


@pytest.fixture
def episodes(settings) -> list[TumourEpisode]:
    settings.ALLOW_SYNTHETIC_NATIONAL_IDS = True
    create()
    return list(selectors._episode_queryset().prefetch_related("patient__institutions"))


def test_it_creates_the_patients_asked_for_at_the_seeded_hospitals(episodes):
    assert Patient.objects.count() == 40
    for patient in Patient.objects.prefetch_related("institutions"):
        assert {i.kind for i in patient.institutions.all()} == {"hospital"}
        assert patient.search_name == selectors.normalise_name(patient.full_name)
    assert {e.patient_id for e in episodes} == set(Patient.objects.values_list("pk", flat=True))


def test_every_national_id_is_a_valid_unique_synthetic_number(episodes):
    numbers = list(Patient.objects.values_list("national_id", "synthetic_id", "birth_date", "sex"))
    assert len({n for n, *_ in numbers}) == 40
    for number, synthetic_id, birth_date, sex in numbers:
        parsed = national_id.parse(number, allow_synthetic=True)
        assert parsed.synthetic == synthetic_id == "Tenor (month +80)"
        assert (parsed.birth_date, parsed.sex) == (birth_date, sex)


def test_grades_and_morphology_fit_the_diagnosis(episodes):
    for episode in episodes:
        tumour_type = episode.tumour_type
        assert tumour_type is not None
        if tumour_type.grades:
            assert episode.who_grade in tumour_type.grades
        else:
            assert episode.who_grade is None
        assert episode.morphology == tumour_type.morphology(episode.who_grade)


def test_dates_are_in_order_and_nothing_follows_death(episodes):
    today = timezone.localdate()
    for episode in episodes:
        patient = episode.patient
        assert patient.birth_date <= episode.referral_date <= episode.diagnosis_date
        assert all(episode.diagnosis_date <= s.surgery_date for s in episode.surgeries.all())
        assert all(r.start_date >= episode.diagnosis_date for r in episode.radiotherapy.all())
        assert (patient.vital_status == "dead") == (patient.date_of_death is not None)
        for day, kind, *_ in selectors.timeline(patient, [episode]):
            assert patient.birth_date <= day <= today, kind
            if patient.date_of_death and kind != "death":
                assert day < patient.date_of_death, kind


def test_warnings_are_acknowledged_and_complete_reports_lack_nothing(episodes):
    for episode in episodes:
        assert all(acknowledged for _, _, acknowledged in selectors.episode_warnings(episode))
        if episode.status == TumourEpisode.Status.COMPLETE:
            assert episode.completed_at is not None
            assert rules.missing_items(episode) == []
    assert {e.status for e in episodes} == {"complete", "draft"}


def test_the_same_seed_gives_the_same_patients_again(episodes):
    def summary():
        rows = TumourEpisode.objects.order_by("patient__national_id", "diagnosis_date")
        fields = ("patient__national_id", "diagnosis", "who_grade", "diagnosis_date")
        return list(rows.values_list(*fields))

    first = summary()
    output = create(reset=True)
    assert "Deleted 40 demo patients." in output
    assert summary() == first
    create(seed=8, reset=True)
    assert summary() != first


def test_if_empty_adds_nothing_once_the_register_has_patients(episodes):
    assert "no demo patients created" in create(if_empty=True)
    assert Patient.objects.count() == 40


def test_it_refuses_when_synthetic_ids_are_not_allowed(settings):
    settings.ALLOW_SYNTHETIC_NATIONAL_IDS = False
    with pytest.raises(CommandError, match="Synthetic national IDs are not allowed"):
        create()
    assert not Patient.objects.exists()


def test_demo_indicators_are_plausible_per_hospital_and_attribute_surgery(settings):
    """The demo register looks like a real one on the indicators page: every hospital's
    coverage and postoperative-MRI share lie strictly between 0 and 100 %, and some
    patients are operated at another hospital than the one reporting them."""
    from registry.models import IndicatorCell, Surgery

    settings.ALLOW_SYNTHETIC_NATIONAL_IDS = True
    out = create(patients=700, seed=3)
    assert "Computed the quality indicators" in out
    cells = IndicatorCell.objects.filter(region="", diagnosis_group="", institution__isnull=False)
    for code in ("coverage", "postop_mri_72h", "lead_time_treatment", "trial_offered"):
        totals = {}
        for cell in cells.filter(indicator=code).select_related("institution"):
            met, of = totals.get(cell.institution.code, (0, 0))
            totals[cell.institution.code] = (met + cell.numerator, of + cell.denominator)
        shares = {h: met / of for h, (met, of) in totals.items() if of >= 20}
        assert len(shares) >= 4, (code, totals)
        assert all(0 < share < 1 for share in shares.values()), (code, shares)
        assert max(shares.values()) - min(shares.values()) > 0.02, (code, shares)
    # The Cancer Registry's notified cases of last year: some never reported, the rest mostly
    # matched to a complete report.
    notified = cells.filter(indicator="coverage_notified", year=timezone.localdate().year - 1)
    met, of = (sum(c.numerator for c in notified), sum(c.denominator for c in notified))
    assert "notified cases" in out and of >= 30 and 0.3 < met / of < 0.95, (met, of)
    elsewhere = Surgery.objects.exclude(operating_institution=models.F("episode__institution"))
    assert elsewhere.filter(episode__institution__code__in=["UNN", "SUS"]).count() >= 10
