"""Each criterion type against hand-built facts: three-valued verdicts (met / not met /
unknown), the register value used, the reason (what to test), negation, the ECOG <->
Karnofsky table, the schema, and the plain-language reading."""

from datetime import date

import pytest
from dateutil.relativedelta import relativedelta
from django.core.exceptions import ValidationError

from tests.trials.factories import ASTRO, GBM, RECURRENT_GBM, facts, today, tree
from trials import criteria, criteria_kinds


def verdict(node, f):
    out = []
    return criteria.evaluate(node, f, today(), out), out


def test_diagnosis_one_or_several():
    node = {"type": "diagnosis", "codes": [GBM, ASTRO]}
    assert verdict(node, facts(diagnosis=ASTRO))[0] == criteria.MET
    assert verdict(node, facts(diagnosis="pilocytic_astrocytoma"))[0] == criteria.NOT_MET
    result, rows = verdict(node, facts(diagnosis=""))
    assert result == criteria.UNKNOWN and rows[0]["reason"] == "Record the diagnosis."


def test_grade_missing_is_unknown_never_not_met():
    node = {"type": "grade", "grades": [3, 4]}
    assert verdict(node, facts(who_grade=4))[0] == criteria.MET
    assert verdict(node, facts(who_grade=2))[0] == criteria.NOT_MET
    result, rows = verdict(node, facts(who_grade=None))
    assert result == criteria.UNKNOWN and "grade" in rows[0]["reason"]


def test_marker_not_tested_says_what_to_test():
    node = {"type": "marker", "marker": "mgmt", "result": "altered"}
    result, rows = verdict(node, facts(markers={}))
    assert result == criteria.UNKNOWN
    assert rows[0]["value"] == "not tested"
    assert (
        rows[0]["reason"] == "MGMT promoter methylation not tested: test MGMT promoter methylation."
    )
    assert verdict(node, facts(markers={"mgmt": "not_tested"}))[0] == criteria.UNKNOWN
    result, rows = verdict(node, facts(markers={"mgmt": "inconclusive"}))
    assert result == criteria.UNKNOWN and "repeat" in rows[0]["reason"]
    assert verdict(node, facts(markers={"mgmt": "altered"}))[0] == criteria.MET
    assert verdict(node, facts(markers={"mgmt": "wildtype"}))[0] == criteria.NOT_MET


def test_wildtype_criterion_says_so():
    node = {"type": "marker", "marker": "idh", "result": "wildtype"}
    result, rows = verdict(node, facts(markers={"idh": "wildtype"}))
    assert result == criteria.MET
    assert rows[0]["criterion"] == "IDH1/2 mutation: wildtype (negative)"
    assert "wildtype" in rows[0]["reason"]
    assert verdict(node, facts(markers={"idh": "altered"}))[0] == criteria.NOT_MET


def test_age_exactly_at_the_limits():
    node = {"type": "age", "min_years": 18, "max_years": 70}
    day = today()
    eighteen_today = day - relativedelta(years=18)
    assert verdict(node, facts(birth_date=eighteen_today))[0] == criteria.MET
    assert (
        verdict(node, facts(birth_date=eighteen_today + relativedelta(days=1)))[0]
        == criteria.NOT_MET
    )
    # "70 Years" maximum: still 70 on the day before the 71st birthday, not on it.
    seventy_one_tomorrow = day - relativedelta(years=71) + relativedelta(days=1)
    assert verdict(node, facts(birth_date=seventy_one_tomorrow))[0] == criteria.MET
    assert verdict(node, facts(birth_date=day - relativedelta(years=71)))[0] == criteria.NOT_MET
    result, rows = verdict(node, facts(birth_date=eighteen_today))
    assert rows[0]["value"] == "18 years"


def test_age_in_months():
    node = {"type": "age", "min_years": 0.5, "max_years": None}
    assert verdict(node, facts(birth_date=today() - relativedelta(months=6)))[0] == criteria.MET
    assert verdict(node, facts(birth_date=today() - relativedelta(months=5)))[0] == criteria.NOT_MET


def test_limits_in_months_and_days_are_inclusive_in_their_own_unit():
    from trials import ctgov

    # "18 Months" maximum: still 18 months old on the day before turning 19 months, as years work.
    node = {
        "type": "age",
        "min_years": ctgov.age_in_years("30 Days"),
        "max_years": ctgov.age_in_years("18 Months"),
    }
    day = today()
    assert (
        verdict(node, facts(birth_date=day - relativedelta(months=19) + relativedelta(days=1)))[0]
        == criteria.MET
    )
    assert verdict(node, facts(birth_date=day - relativedelta(months=19)))[0] == criteria.NOT_MET
    # "30 Days" minimum: 30 days old counts, 29 does not (not rounded to a month).
    assert verdict(node, facts(birth_date=day - relativedelta(days=30)))[0] == criteria.MET
    assert verdict(node, facts(birth_date=day - relativedelta(days=29)))[0] == criteria.NOT_MET
    assert criteria.describe_leaf(node) == "age 30 days-18 months"
    # The SQL prefilter uses the same cutoffs, so it never drops an episode the check would keep.
    latest, excluded = criteria_kinds.age_cutoffs(node["min_years"], node["max_years"], day)
    assert latest == day - relativedelta(days=30) and excluded == day - relativedelta(months=19)


def test_sex():
    node = {"type": "sex", "sex": "female"}
    assert verdict(node, facts(sex="female"))[0] == criteria.MET
    assert verdict(node, facts(sex="male"))[0] == criteria.NOT_MET
    assert verdict(node, facts(sex="unknown"))[0] == criteria.UNKNOWN


def test_performance_status_converts_between_scales():
    ecog_0_1 = {"type": "performance", "scale": "ecog", "max": 1}
    assert verdict(ecog_0_1, facts(ecog=1))[0] == criteria.MET
    assert verdict(ecog_0_1, facts(ecog=2))[0] == criteria.NOT_MET
    result, rows = verdict(ecog_0_1, facts(karnofsky=70))
    assert result == criteria.MET and rows[0]["value"] == "Karnofsky 70 (≈ ECOG 1)"
    assert verdict(ecog_0_1, facts(karnofsky=60))[0] == criteria.NOT_MET
    kps_70 = {"type": "performance", "scale": "karnofsky", "min": 70}
    assert verdict(kps_70, facts(karnofsky=70))[0] == criteria.MET
    assert verdict(kps_70, facts(ecog=1))[0] == criteria.MET  # ECOG 1 = KPS 70-80
    assert verdict(kps_70, facts(ecog=3))[0] == criteria.NOT_MET  # 30-40
    kps_60 = {"type": "performance", "scale": "karnofsky", "min": 60}
    result, rows = verdict(kps_60, facts(ecog=2))  # 50-60: cannot tell
    assert result == criteria.UNKNOWN and rows[0]["reason"] == "Assess the Karnofsky score."
    result, rows = verdict(ecog_0_1, facts())
    assert result == criteria.UNKNOWN and "performance status" in rows[0]["reason"]


def test_disease_setting_counts_progressions():
    first_recurrence = {
        "type": "setting",
        "setting": "recurrent",
        "min_progressions": 1,
        "max_progressions": 1,
    }
    new = {"type": "setting", "setting": "newly_diagnosed"}
    assert verdict(first_recurrence, facts(follow_ups=2, progressions=1))[0] == criteria.MET
    assert verdict(first_recurrence, facts(follow_ups=3, progressions=2))[0] == criteria.NOT_MET
    assert verdict(new, facts(follow_ups=1, progressions=0))[0] == criteria.MET
    assert verdict(new, facts(follow_ups=1, progressions=1))[0] == criteria.NOT_MET
    assert verdict(new, facts(follow_ups=0))[0] == criteria.UNKNOWN


def test_prior_treatment_required_or_excluded():
    bev = {"type": "prior_treatment", "regimen": "bevacizumab"}
    stupp = {"tmz_concomitant", "radiotherapy"}
    assert verdict(bev, facts(regimens={"bevacizumab"}))[0] == criteria.MET
    assert (
        verdict(bev, facts(regimens=stupp))[0] == criteria.NOT_MET
    )  # treatments recorded, bevacizumab not among them
    result, rows = verdict({"not": bev}, facts(regimens=stupp))
    assert result == criteria.MET
    assert rows[0]["criterion"] == "no prior bevacizumab"
    assert "Negated criterion" in rows[0]["reason"]
    assert verdict({"not": bev}, facts(regimens={"bevacizumab"}))[0] == criteria.NOT_MET
    # No treatment recorded at all: the history is missing, so unknown either way, saying what to
    # record.
    for node in (bev, {"not": bev}):
        result, rows = verdict(node, facts(regimens=set()))
        assert result == criteria.UNKNOWN and "Record the treatments" in rows[0]["reason"]


def test_prior_tumour_treating_fields():
    """TTFields (Optune; EF-14, Stupp et al. JAMA 2017) are a systemic-therapy row of their
    own in the register: had them -> met; other treatments but not them -> not met; no
    treatment recorded -> unknown. Excluded ("at any time", as NCT05580562 says), the row
    reads "no prior tumour-treating fields"."""
    ttf = {"type": "prior_ttfields"}
    ef14 = {"tmz_concomitant", "radiotherapy", "tmz_adjuvant", "ttfields"}
    stupp = {"tmz_concomitant", "radiotherapy", "tmz_adjuvant"}
    result, rows = verdict(ttf, facts(regimens=ef14))
    assert (result, rows[0]["criterion"]) == (
        criteria.MET,
        "prior tumour-treating fields (TTFields)",
    )
    assert rows[0]["value"] == "tumour-treating fields (TTFields) recorded"
    result, rows = verdict({"not": ttf}, facts(regimens=stupp))
    assert result == criteria.MET
    assert rows[0]["criterion"] == "no prior tumour-treating fields (TTFields)"
    assert rows[0]["value"] == "no tumour-treating fields (TTFields) recorded"
    assert verdict({"not": ttf}, facts(regimens=ef14))[0] == criteria.NOT_MET
    result, rows = verdict({"not": ttf}, facts(regimens=set()))
    assert result == criteria.UNKNOWN and "Record the treatments" in rows[0]["reason"]
    # One way to say it: "prior treatment" does not offer the device.
    with pytest.raises(ValidationError):
        criteria.validate(tree({"type": "prior_treatment", "regimen": "ttfields"}))
    with pytest.raises(ValidationError):  # and the kind takes no keys
        criteria.validate(tree({"type": "prior_ttfields", "regimen": "ttfields"}))


def test_time_since_end_of_radiotherapy():
    node = {"type": "radiotherapy_ended", "min_weeks": 12}
    assert (
        verdict(node, facts(radiotherapy_ends=[today() - relativedelta(weeks=12)]))[0]
        == criteria.MET
    )
    assert (
        verdict(
            node,
            facts(radiotherapy_ends=[today() - relativedelta(weeks=12) + relativedelta(days=1)]),
        )[0]
        == criteria.NOT_MET
    )
    assert verdict(node, facts(radiotherapy_ends=[None]))[0] == criteria.UNKNOWN
    # Other treatment recorded but no radiotherapy: nothing to wait for. Nothing recorded at all:
    # unknown.
    assert verdict(node, facts(radiotherapy_ends=[], regimens={"tmz_adjuvant"}))[0] == criteria.MET
    assert verdict(node, facts(radiotherapy_ends=[], regimens=set()))[0] == criteria.UNKNOWN


def test_extent_of_resection():
    node = {"type": "resection", "extents": ["gross_total", "subtotal"]}
    assert verdict(node, facts(extent="subtotal"))[0] == criteria.MET
    assert verdict(node, facts(extent="biopsy_only"))[0] == criteria.NOT_MET
    assert verdict(node, facts(extent=""))[0] == criteria.UNKNOWN
    assert verdict(node, facts(extent="unknown"))[0] == criteria.UNKNOWN


def test_any_and_all_use_three_valued_logic():
    either = {
        "any": [
            {"type": "performance", "scale": "ecog", "max": 1},
            {"type": "performance", "scale": "karnofsky", "min": 70},
        ]
    }
    assert verdict(either, facts(ecog=1))[0] == criteria.MET
    assert verdict(either, facts())[0] == criteria.UNKNOWN
    both = {
        "all": [
            {"type": "grade", "grades": [4]},
            {"type": "marker", "marker": "mgmt", "result": "altered"},
        ]
    }
    assert verdict(both, facts(who_grade=4))[0] == criteria.UNKNOWN  # MGMT not tested
    assert (
        verdict(both, facts(who_grade=2))[0] == criteria.NOT_MET
    )  # a certain failure wins over unknown


def test_schema_refuses_bad_trees_naming_where():
    criteria.validate(RECURRENT_GBM)
    with pytest.raises(ValidationError) as error:
        criteria.validate(tree({"type": "marker", "marker": "xyz", "result": "altered"}))
    assert "criteria/all/0" in str(error.value)
    with pytest.raises(ValidationError):
        criteria.validate({"version": 2, "criteria": {"all": []}})
    with pytest.raises(ValidationError) as error:
        criteria.validate(tree({"type": "age", "min_years": 70, "max_years": 18}))
    assert "above its upper bound" in str(error.value)
    with pytest.raises(ValidationError) as error:
        criteria.validate(tree({"type": "performance", "scale": "ecog", "max": 7}))
    assert "ECOG runs 0-5" in str(error.value)


def test_plain_language():
    assert criteria.describe(RECURRENT_GBM) == (
        "Glioblastoma, IDH-wildtype, MGMT promoter methylation: methylated, "
        "first recurrence, ECOG ≤ 1, no prior bevacizumab, age ≥ 18 years"
    )


def test_prefilter_never_drops_a_possible_match():
    """The SQL prefilter is a necessary condition: checked here on the Q's shape for
    negation (De Morgan) and on the database in test_engine."""
    q = criteria.prefilter(
        {"not": {"any": [{"type": "diagnosis", "codes": [GBM]}, {"type": "grade", "grades": [2]}]}},
        date(2026, 1, 1),
    )
    assert "diagnosis__in" in str(q) and "who_grade" in str(q)
