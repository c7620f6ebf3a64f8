"""Every quality indicator counted on a hand-built cohort whose answer is worked out by
hand in the test: numerator, denominator, each reason for leaving a unit out, and the
year and hospital each unit is attributed to."""

from datetime import date, time, timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone

from consortium.celery import app as celery_app
from consortium.models import Institution
from registry import indicator_services, indicators
from registry.models import IndicatorCell, IndicatorSnapshot, Patient, Surgery, TumourEpisode
from registry.tasks import compute_indicator_snapshot, nightly_indicator_snapshot
from tests.registry.indicator_cohorts import (
    episode,
    hospital,
    marker,
    oslo,
    patient,
    radiotherapy,
    surgery,
    systemic,
)

pytestmark = pytest.mark.django_db


def regions() -> dict[int, str]:
    return dict(Institution.objects.values_list("pk", "health_region"))


def cell(cells, code, year, place=None, *, region="", group=""):
    institution = hospital(place).pk if place else None
    found = cells.get((code, year, institution, region, group))
    return (found.numerator, found.denominator, found.left_out) if found else None


def compute(as_of=date(2025, 6, 30)):
    return indicators.compute_all(as_of, regions())


# --- Survival -------------------------------------------------------------------------------


@pytest.fixture
def survival_cohort():
    """Glioblastomas reported by OUS with a first surgery in 2024, as of 30 June 2025."""
    gbm = {}
    # A: operated 1 March 2024, alive: 486 days of follow-up -> alive at a year.
    gbm["A"] = episode(patient())
    surgery(gbm["A"], date(2024, 3, 1))
    # B: died 1 March 2025, exactly 365 days later -> counts as alive at one year.
    gbm["B"] = episode(patient(died=date(2025, 3, 1)))
    surgery(gbm["B"], date(2024, 3, 1))
    # C: died 28 February 2025, day 364 -> not alive at one year.
    gbm["C"] = episode(patient(died=date(2025, 2, 28)))
    surgery(gbm["C"], date(2024, 3, 1))
    # D: alive, operated 1 July 2024: 364 days before the as-of date -> left out.
    gbm["D"] = episode(patient())
    surgery(gbm["D"], date(2024, 7, 1))
    # E: alive, operated 30 June 2024: exactly 365 days -> in, alive.
    gbm["E"] = episode(patient())
    surgery(gbm["E"], date(2024, 6, 30))
    # F: old data, a death before the surgery -> left out with that reason.
    gbm["F"] = episode(patient(died=date(2024, 4, 1)))
    surgery(gbm["F"], date(2024, 5, 1))
    # G: old data, dead without a date of death -> left out.
    gbm["G"] = episode(patient(dead_without_date=True))
    surgery(gbm["G"], date(2024, 5, 1))
    # H: reported by OUS, biopsied at HUS first, then resected at OUS; died 1 Aug 2024:
    # counted at HUS (first surgery's hospital), not alive at a year.
    gbm["H"] = episode(patient(died=date(2024, 8, 1), at=("OUS", "HUS")))
    surgery(gbm["H"], date(2024, 2, 1), procedure="stereotactic_biopsy", at="HUS")
    surgery(gbm["H"], date(2024, 2, 10))
    # I: diagnosed December 2023, first surgery January 2024 -> year 2024; alive.
    gbm["I"] = episode(patient(), diagnosed=date(2023, 12, 20))
    surgery(gbm["I"], date(2024, 1, 5))
    # J: never operated -> not in the population at all.
    gbm["J"] = episode(patient())
    other = {}
    # K: an IDH-mutant astrocytoma, alive: not a glioblastoma, but in survival_30d.
    other["K"] = episode(patient(), diagnosis="astrocytoma_idh_mutant", grade=3)
    surgery(other["K"], date(2024, 4, 1))
    # L: meningioma, died exactly 30 days after surgery -> alive at 30 days.
    other["L"] = episode(patient(died=date(2024, 10, 1)), diagnosis="meningioma", grade=1)
    surgery(other["L"], date(2024, 9, 1))
    # M: meningioma, died on day 29 -> not alive at 30 days.
    other["M"] = episode(patient(died=date(2024, 9, 30)), diagnosis="meningioma", grade=1)
    surgery(other["M"], date(2024, 9, 1))
    return gbm, other


def test_one_year_glioblastoma_survival_by_first_surgery(survival_cohort):
    cells = compute()
    left_out = {"follow_up_short": 1, "death_before_surgery": 1, "dead_without_date": 1}
    # OUS: A, B, C, E, I in the denominator; A, B, E, I alive at a year.
    assert cell(cells, "gbm_survival_1y", 2024, "OUS") == (4, 5, left_out)
    # HUS: H only (its first surgery was there), dead at day 182.
    assert cell(cells, "gbm_survival_1y", 2024, "HUS") == (0, 1, {})
    assert cell(cells, "gbm_survival_1y", 2024) == (4, 6, left_out)
    assert cell(cells, "gbm_survival_1y", 2024, region="south_east") == (4, 5, left_out)
    assert cell(cells, "gbm_survival_1y", 2024, region="west") == (0, 1, {})
    # I was diagnosed in 2023 but counts in the year of its first surgery.
    assert cell(cells, "gbm_survival_1y", 2023, "OUS") is None


def test_the_365_day_edge_moves_with_the_as_of_date(survival_cohort):
    # One day later, D has 365 days of follow-up and is in (alive).
    cells = compute(as_of=date(2025, 7, 1))
    assert cell(cells, "gbm_survival_1y", 2024, "OUS") == (
        5,
        6,
        {"death_before_surgery": 1, "dead_without_date": 1},
    )
    # One day earlier, E (365 -> 364 days) is out too.
    cells = compute(as_of=date(2025, 6, 29))
    assert cell(cells, "gbm_survival_1y", 2024, "OUS") == (
        3,
        4,
        {"follow_up_short": 2, "death_before_surgery": 1, "dead_without_date": 1},
    )


def test_two_year_survival_waits_for_two_years_of_follow_up(survival_cohort):
    # As of 2 March 2026: A (730 days on 1 March 2026) and I are alive with enough follow-up;
    # B died at 365, C at 364 days; D (609 days) and E (610) are still too short.
    cells = compute(as_of=date(2026, 3, 2))
    assert cell(cells, "gbm_survival_2y", 2024, "OUS") == (
        2,
        4,
        {"follow_up_short": 2, "death_before_surgery": 1, "dead_without_date": 1},
    )


def test_thirty_day_survival_counts_every_first_surgery(survival_cohort):
    cells = compute()
    # OUS: A B C D E I (all gliomas alive at day 30) + K + L (died on day 30) in; M died day 29.
    assert cell(cells, "survival_30d", 2024, "OUS") == (
        8,
        9,
        {"death_before_surgery": 1, "dead_without_date": 1},
    )
    assert cell(cells, "survival_30d", 2024, "HUS") == (1, 1, {})
    # The diagnosis groups add up: glioblastoma 6 of 6 at OUS, meningioma 1 of 2.
    assert cell(cells, "survival_30d", 2024, "OUS", group="glioblastoma_idh_wildtype")[:2] == (
        6,
        6,
    )
    assert cell(cells, "survival_30d", 2024, "OUS", group="meningiomas") == (1, 2, {})


# --- Postoperative MRI ---------------------------------------------------------------------------


def test_postoperative_mri_within_72_real_hours_per_resection():
    day = date(2024, 3, 10)
    e = episode(patient(at=("OUS", "HUS")))
    surgery(e, day, ended=time(8), mri=oslo(day + timedelta(days=3), time(8)))  # 72 h: met
    surgery(e, day, ended=time(8), mri=oslo(day + timedelta(days=3), time(8, 1)))  # 72 h 1 min
    surgery(e, day, ended=time(8))  # no MRI recorded: not met
    surgery(e, day, ended=None, mri=oslo(day, time(20)))  # MRI but no end time: left out
    old = surgery(e, day, ended=time(8), mri=oslo(day, time(20)))
    Surgery.objects.filter(pk=old.pk).update(postoperative_mri_at=oslo(day, time(7)))  # old data
    surgery(e, day, procedure="stereotactic_biopsy", mri=oslo(day, time(20)))  # not a resection
    # Summer time began 31 March 2024 at 02:00: from Friday 29 March 12:00 to Monday
    # 1 April 13:00 on the wall clock is 72 real hours (met); 13:30 is 72.5 hours.
    friday = date(2024, 3, 29)
    surgery(e, friday, ended=time(12), mri=oslo(date(2024, 4, 1), time(13)))
    surgery(e, friday, ended=time(12), mri=oslo(date(2024, 4, 1), time(13, 30)))
    # A reoperation of the same tumour at HUS counts at HUS.
    surgery(e, date(2024, 5, 2), mri=oslo(date(2024, 5, 3), time(9)), at="HUS")
    # A resection on New Year's Eve 2023 counts in 2023.
    surgery(e, date(2023, 12, 31), mri=oslo(date(2024, 1, 1), time(9)))

    cells = compute()
    left_out = {"no_end_time": 1, "mri_before_surgery": 1}
    assert cell(cells, "postop_mri_72h", 2024, "OUS") == (2, 5, left_out)
    assert cell(cells, "postop_mri_72h", 2024, "HUS") == (1, 1, {})
    assert cell(cells, "postop_mri_72h", 2024) == (3, 6, left_out)
    assert cell(cells, "postop_mri_72h", 2023, "OUS") == (1, 1, {})


# --- Coverage, lead time, MDT, trial ------------------------------------------------------------


def test_coverage_counts_complete_reports_by_year_of_diagnosis():
    for status in ["complete", "complete", "complete", "draft", "draft"]:
        episode(patient(), status=status)
    episode(patient(), reporting="HUS", status="complete")
    undated = episode(patient(), diagnosed=None)
    cells = compute()
    assert cell(cells, "coverage", 2024, "OUS") == (3, 5, {})
    assert cell(cells, "coverage", 2024, "HUS") == (1, 1, {})
    assert cell(cells, "coverage", 2024) == (4, 6, {})
    # The undated report is left out, in the year it was registered.
    assert cell(cells, "coverage", undated.created_at.year, "OUS") == (
        0,
        0,
        {"no_diagnosis_date": 1},
    )


def test_lead_time_from_referral_to_first_treatment():
    referral = date(2024, 1, 1)

    def referred(**fields):
        return episode(patient(), referral_date=referral, **fields)

    e1 = referred()  # resection on day 21: met
    surgery(e1, date(2024, 1, 22))
    e2 = referred()  # resection on day 22: not met
    surgery(e2, date(2024, 1, 23))
    e3 = referred()  # biopsy (not treatment), radiotherapy on day 28: met (norm 28)
    surgery(e3, date(2024, 1, 5), procedure="stereotactic_biopsy")
    radiotherapy(e3, date(2024, 1, 29))
    e4 = referred()  # drug therapy on day 29: not met
    systemic(e4, date(2024, 1, 30))
    e5 = referred()  # radiotherapy first (day 24, norm 28), resection later: met
    radiotherapy(e5, date(2024, 1, 25))
    surgery(e5, date(2024, 2, 10))
    e6 = episode(patient())  # no referral date: left out
    surgery(e6, date(2024, 1, 10))
    e7 = referred()  # biopsy only, no treatment yet: left out
    surgery(e7, date(2024, 1, 10), procedure="open_biopsy")
    e8 = referred()  # old data: treated before the referral: left out
    surgery(e8, date(2024, 1, 4))
    TumourEpisode.objects.filter(pk=e8.pk).update(referral_date=date(2024, 1, 20))
    cells = compute()
    assert cell(cells, "lead_time_treatment", 2024, "OUS") == (
        3,
        5,
        {"no_referral_date": 1, "no_treatment": 1, "treatment_before_referral": 1},
    )


def test_mdt_meeting_on_or_before_the_first_treatment():
    day = date(2024, 2, 1)
    on_the_day = episode(patient(), mdt_dates=[day])
    surgery(on_the_day, day)
    after = episode(patient(), mdt_dates=[day + timedelta(days=1)])
    surgery(after, day)
    earlier_and_later = episode(patient(), mdt_dates=[day + timedelta(days=9), day])
    radiotherapy(earlier_and_later, day)
    none = episode(patient())
    systemic(none, day)
    untreated = episode(patient(), mdt_dates=[day])
    cells = compute()
    assert untreated.pk
    assert cell(cells, "mdt_before_treatment", 2024, "OUS") == (2, 4, {"no_treatment": 1})


def test_trial_offered_leaves_out_unanswered_and_unknown():
    for answer in ["yes", "no", "", "unknown", "yes"]:
        episode(patient(), trial_offered=answer)
    cells = compute()
    assert cell(cells, "trial_offered", 2024, "OUS") == (
        2,
        3,
        {"not_answered": 1, "answered_unknown": 1},
    )


# --- Molecular ----------------------------------------------------------------------------------


def test_molecular_workup_indicators():
    gbm1 = episode(patient())
    marker(gbm1, "idh", "wildtype")
    marker(gbm1, "mgmt", "altered")
    gbm2 = episode(patient())
    marker(gbm2, "mgmt", "not_tested")
    episode(patient())  # a glioblastoma without markers
    astro2 = episode(patient(), diagnosis="astrocytoma_idh_mutant", grade=2)
    marker(astro2, "idh", "altered")
    marker(astro2, "cdkn2ab", "wildtype")
    astro3 = episode(patient(), diagnosis="astrocytoma_idh_mutant", grade=3)
    marker(astro3, "cdkn2ab", "inconclusive")
    episode(patient(), diagnosis="astrocytoma_idh_mutant", grade=4)
    oligo = episode(patient(), diagnosis="oligodendroglioma_idh_mutant_codeleted", grade=2)
    marker(oligo, "idh", "altered")
    marker(oligo, "codeletion_1p19q", "altered")
    episode(patient(), diagnosis="meningioma", grade=1)  # no diffuse glioma
    cells = compute()
    assert cell(cells, "molecular_idh", 2024, "OUS") == (3, 7, {})
    assert cell(cells, "molecular_mgmt", 2024, "OUS") == (1, 3, {})
    assert cell(cells, "molecular_1p19q", 2024, "OUS") == (1, 4, {})
    assert cell(cells, "molecular_cdkn2ab", 2024, "OUS") == (1, 2, {})


# --- Full treatment and the age-70 edge -----------------------------------------------------------


def test_full_treatment_and_the_age_70_edge():
    diagnosed = date(2024, 5, 10)

    def treated(born, *, dose, resection=True, regimen="tmz_concomitant"):
        e = episode(patient(born=born), diagnosed=diagnosed)
        surgery(e, date(2024, 5, 12), procedure="resection" if resection else "open_biopsy")
        radiotherapy(e, date(2024, 6, 10), dose=dose)
        systemic(e, date(2024, 6, 10), regimen=regimen)
        return e

    treated(date(1953, 5, 11), dose=60)  # 70 years and 364 days: <= 70, met
    treated(date(1953, 5, 10), dose=40)  # 71 on the day of diagnosis: over 70, met
    treated(date(1980, 1, 1), dose=54)  # under 55 Gy: not met
    treated(date(1980, 1, 1), dose=60, resection=False)  # biopsy only: not met
    treated(date(1980, 1, 1), dose=55)  # exactly 55 Gy: met
    treated(date(1950, 1, 1), dose=30, regimen="tmz_adjuvant")  # 74, 30 Gy: met over 70
    treated(date(1950, 1, 1), dose=25)  # 25 Gy: not met over 70
    treated(date(1980, 1, 1), dose=60, regimen="pcv")  # no temozolomide: not met
    undated = episode(patient(), diagnosed=None)
    cells = compute()
    assert cell(cells, "gbm_full_treatment", 2024, "OUS") == (2, 5, {})
    assert cell(cells, "gbm_full_treatment_over70", 2024, "OUS") == (2, 3, {})
    assert cell(cells, "gbm_full_treatment", undated.created_at.year, "OUS") == (
        0,
        0,
        {"no_diagnosis_date": 1},
    )


# --- Interval and attainment -------------------------------------------------------------------


def test_wilson_interval_worked_by_hand():
    # 4 of 5: p = 0.8, z = 1.96; centre (0.8 + 1.96²/10) / (1 + 1.96²/5) = 1.18415/1.76829
    # = 0.66966; half 1.96·sqrt(0.8·0.2/5 + 1.96²/100) / 1.76829 = 0.52010/1.76829 = 0.29412.
    low, high = indicators.wilson_interval(4, 5)
    assert low == pytest.approx(0.37553, abs=1e-4) and high == pytest.approx(0.96378, abs=1e-4)
    # 0 of 6: centre = half = 1.92073 / (6 + 3.84146) = 0.19517 -> (0, 0.39034).
    low, high = indicators.wilson_interval(0, 6)
    assert low == pytest.approx(0.0, abs=1e-9) and high == pytest.approx(0.39034, abs=1e-4)
    assert indicators.wilson_interval(0, 0) == (None, None)
    # The same as SciPy's Wilson interval (without continuity correction) everywhere.
    from scipy.stats import binomtest

    for k, n in [(0, 1), (1, 1), (3, 7), (50, 100), (999, 1000), (12, 4000)]:
        ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert indicators.wilson_interval(k, n) == pytest.approx((ci.low, ci.high), abs=1e-12)


def test_goal_attainment_levels():
    coverage = indicators.CATALOGUE["coverage"]  # moderate 60 %, high 80 %
    assert indicators.attainment(coverage, 0.80) == "high"
    assert indicators.attainment(coverage, 0.7999) == "moderate"
    assert indicators.attainment(coverage, 0.60) == "moderate"
    assert indicators.attainment(coverage, 0.5999) == "low"
    survival = indicators.CATALOGUE["gbm_survival_1y"]  # DNOR standard 50 %
    assert indicators.attainment(survival, 0.5) == "high"
    assert indicators.attainment(survival, 0.49) == "low"
    assert indicators.attainment(indicators.CATALOGUE["survival_30d"], 0.9) is None


def test_every_indicator_cites_its_source_and_defines_its_counts():
    for indicator in indicators.CATALOGUE.values():
        assert "http" in indicator.source, indicator.code
        assert indicator.denominator and indicator.numerator and indicator.exclusions
        assert indicator.version >= 1
        if indicator.target_moderate is not None:
            assert indicator.target_moderate < indicator.target_high


def test_diagnosis_groups_are_a_partition():
    codes = [c for _, members in indicators.DIAGNOSIS_GROUPS.values() for c in members]
    assert sorted(codes) == sorted([*indicators.vocabulary.TUMOUR_TYPES, ""])
    column = IndicatorCell._meta.get_field("diagnosis_group").max_length
    assert all(len(slug) <= column for slug in indicators.DIAGNOSIS_GROUPS)


def test_one_query_per_indicator(django_assert_num_queries):
    episode(patient())
    with django_assert_num_queries(len(indicators.CATALOGUE)):
        indicators.compute_all(date(2025, 6, 30), {})


# --- Snapshots and the task ---------------------------------------------------------------------


def test_snapshot_task_stores_every_cell_and_is_idempotent():
    e = episode(patient(), status="complete")
    surgery(e, date(2024, 1, 10))
    snapshot = indicator_services.snapshot_request()
    assert compute_indicator_snapshot.apply(args=[snapshot.pk]).get() == snapshot.pk
    snapshot.refresh_from_db()
    assert snapshot.status == "done" and snapshot.definitions_version == "2026.1"
    assert snapshot.as_of is not None
    stored = IndicatorCell.objects.get(
        snapshot=snapshot,
        indicator="coverage",
        year=2024,
        institution=hospital("OUS"),
        diagnosis_group="",
    )
    assert (stored.numerator, stored.denominator, stored.indicator_version) == (1, 1, 1)
    count = snapshot.cells.count()
    # A redelivered task leaves the finished snapshot as it is.
    compute_indicator_snapshot.apply(args=[snapshot.pk]).get()
    assert snapshot.cells.count() == count
    # The nightly task makes one snapshot per day however often it runs.
    first = nightly_indicator_snapshot.apply().get()
    assert nightly_indicator_snapshot.apply().get() == first
    assert IndicatorSnapshot.objects.filter(nightly_day=timezone.localdate()).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_computes_a_snapshot_in_one_consistent_read():
    e = episode(patient(), status="complete")
    surgery(e, date(2024, 1, 10))
    snapshot = indicator_services.snapshot_request()
    with start_worker(celery_app, perform_ping_check=False, pool="solo", concurrency=1):
        compute_indicator_snapshot.delay(snapshot.pk).get(timeout=60)
    snapshot.refresh_from_db()
    assert snapshot.status == "done"
    national = IndicatorCell.objects.get(
        snapshot=snapshot,
        indicator="coverage",
        year=2024,
        institution=None,
        region="",
        diagnosis_group="",
    )
    assert (national.numerator, national.denominator) == (1, 1)
    assert Patient.objects.count() == 1
