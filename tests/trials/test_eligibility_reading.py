"""The eligibility readers on their own (no database): each criterion kind read from
several phrasings, numbers written as words and as digits, durations converted to weeks
(worked out by hand below), negation and the exclusion list inverting the sense,
criteria stated for one arm, the language check, and spans pointing at the words."""

import pytest

from trials import reading
from trials.criteria_readers import kind_readers

GBM = "glioblastoma_idh_wildtype"
ASTRO = "astrocytoma_idh_mutant"
DMG = "diffuse_midline_glioma_h3k27"


def read(text: str, arms=()):
    return reading.read(text, kind_readers(), list(arms))


def found(text: str, arms=()) -> list[tuple]:
    """(leaf without empty bounds, polarity, arms) of every finding."""
    return [
        ({k: v for k, v in f.value.items() if v is not None}, f.polarity, f.arms)
        for f in read(text, arms).findings
    ]


def of_kind(text: str, kind: str, arms=()) -> list[tuple]:
    return [(leaf, sense, a) for leaf, sense, a in found(text, arms) if leaf["type"] == kind]


def inclusion(*items: str) -> str:
    return "Inclusion Criteria:\n\n" + "\n".join(f"* {i}" for i in items) + "\n"


def both(included=(), excluded=()) -> str:
    return (
        inclusion(*included)
        + "\nExclusion Criteria:\n\n"
        + "\n".join(f"* {i}" for i in excluded)
        + "\n"
    )


INC, EXC = reading.INCLUDE, reading.EXCLUDE


# --- Performance status -----------------------------------------------------------------


@pytest.mark.parametrize(
    "phrase,leaf",
    [
        ("KPS >= 70", {"scale": "karnofsky", "min": 70}),
        ("KPS \\>= 70", {"scale": "karnofsky", "min": 70}),
        ("Karnofsky performance status of 60% or higher", {"scale": "karnofsky", "min": 60}),
        ("Karnofsky performance status ≥ 60%", {"scale": "karnofsky", "min": 60}),
        ("Karnofsky Performance Score more than or equal to 70", {"scale": "karnofsky", "min": 70}),
        ("KPS greater than 60", {"scale": "karnofsky", "min": 70}),  # scale in steps of 10
        ("Karnofsky performance status at least seventy", {"scale": "karnofsky", "min": 70}),
        ("ECOG performance status of zero to two", {"scale": "ecog", "max": 2}),
        ("ECOG performance status of zero or one", {"scale": "ecog", "max": 1}),
        ("ECOG 0-2", {"scale": "ecog", "max": 2}),
        ("ECOG performance status of 0 or 1", {"scale": "ecog", "max": 1}),
        ("Eastern Cooperative Oncology Group performance status of 0, 1, or 2",
         {"scale": "ecog", "max": 2}),
        ("ECOG performance status ≤ 1", {"scale": "ecog", "max": 1}),
        ("WHO performance status 0 to 1", {"scale": "ecog", "max": 1}),
        ("ECOG < 2", {"scale": "ecog", "max": 1}),
    ],
)  # fmt: skip
def test_performance_phrasings(phrase, leaf):
    got = of_kind(inclusion(phrase), "performance")
    if leaf is None:
        assert got == []
    else:
        assert got == [({"type": "performance", **leaf}, INC, ())]


def test_performance_in_the_exclusion_list_is_the_bound_that_must_hold():
    # "Exclusion: KPS < 50" is "KPS >= 50"; "Exclusion: ECOG >= 2" is "ECOG <= 1".
    assert of_kind(both(excluded=["KPS \\< 50"]), "performance") == [
        ({"type": "performance", "scale": "karnofsky", "min": 50}, INC, ())
    ]
    assert of_kind(both(excluded=["ECOG \\>= 2"]), "performance") == [
        ({"type": "performance", "scale": "ecog", "max": 1}, INC, ())
    ]


def test_an_age_beside_the_score_is_not_the_score():
    text = inclusion("Performance Score: KPS \\> 12 y/o \\>/= 50 or LPS for \\< 12y \\>/= 50")
    assert of_kind(text, "performance") == [
        ({"type": "performance", "scale": "karnofsky", "min": 50}, INC, ())
    ]


# --- Diagnosis ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phrase,codes,note",
    [
        ("Histologically confirmed glioblastoma multiforme", [GBM], "IDH"),
        ("Histologically confirmed GBM", [GBM], "IDH"),
        ("Grade IV astrocytoma", [GBM, ASTRO], "IDH"),
        ("Gliosarcoma is allowed as a subtype", None, ""),  # an allowance, not a requirement
        ("Histologically proven gliosarcoma", [GBM], "subtype"),
        ("IDH-wildtype glioblastoma (WHO CNS5)", [GBM], ""),
        ("Glioblastoma, IDH-wildtype", [GBM], ""),
        ("IDH-mutant glioblastoma", [ASTRO], "grade 4"),
        ("Astrocytoma, IDH-mutant, CNS WHO grade 3", [ASTRO], ""),
        ("Newly diagnosed H3 K27M-mutant diffuse midline glioma", [DMG], ""),
        ("Diffuse intrinsic pontine glioma (DIPG)", [DMG], "H3"),
        ("Anaplastic oligodendroglioma", ["oligodendroglioma_idh_mutant_codeleted"], ""),
        ("WNT-activated medulloblastoma", ["medulloblastoma_wnt"], ""),
    ],
)
def test_diagnosis_phrasings_map_to_who_cns5(phrase, codes, note):
    got = of_kind(inclusion(phrase), "diagnosis")
    if codes is None:
        assert got == []
        return
    assert got == [({"type": "diagnosis", "codes": codes}, INC, ())]
    (diagnosis,) = [f for f in read(inclusion(phrase)).findings if f.kind == "diagnosis"]
    assert note in diagnosis.note


def test_a_diagnosis_in_the_exclusion_list_is_excluded():
    text = both(["Histologically confirmed glioblastoma"], ["Diffuse midline glioma"])
    assert of_kind(text, "diagnosis") == [
        ({"type": "diagnosis", "codes": [GBM]}, INC, ()),
        ({"type": "diagnosis", "codes": [DMG]}, EXC, ()),
    ]


def test_an_exclusion_that_contradicts_the_required_diagnosis_is_left_to_the_coordinator():
    text = both(["H3 K27M-mutant diffuse glioma"], ["Diffuse intrinsic pontine glioma (DIPG)"])
    assert of_kind(text, "diagnosis") == [({"type": "diagnosis", "codes": [DMG]}, INC, ())]


# --- Grade ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phrase,grades",
    [
        ("WHO grade III or IV glioma", [3, 4]),
        ("CNS WHO grade 2-3 oligodendroglioma", [2, 3]),
        ("grade 4", [4]),
        ("High-grade glioma", [3, 4]),
        ("Low grade glioma", [1, 2]),
        ("Grade 2 or higher peripheral neuropathy (CTCAE)", None),  # toxicity, not tumour grade
    ],
)
def test_grade_phrasings(phrase, grades):
    got = of_kind(inclusion(phrase), "grade")
    assert got == ([] if grades is None else [({"type": "grade", "grades": grades}, INC, ())])


# --- Markers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phrase,marker,result",
    [
        ("IDH-mutant", "idh", "altered"),
        ("IDH1 R132H mutation", "idh", "altered"),
        ("IDH wild-type", "idh", "wildtype"),
        ("1p/19q codeleted", "codeletion_1p19q", "altered"),
        ("1p/19q co-deletion", "codeletion_1p19q", "altered"),
        ("1p/19q non-codeleted", "codeletion_1p19q", "wildtype"),
        ("MGMT promoter methylated", "mgmt", "altered"),
        ("Methylated MGMT promoter", "mgmt", "altered"),
        ("MGMT unmethylated", "mgmt", "wildtype"),
        ("Unmethylated MGMT promoter", "mgmt", "wildtype"),
        ("H3 K27M mutation", "h3k27", "altered"),
        ("BRAF V600E mutation", "braf_v600e", "altered"),
        ("CDKN2A/B homozygous deletion", "cdkn2ab", "altered"),
        ("EGFR amplification", "egfr", "altered"),
    ],
)
def test_marker_phrasings(phrase, marker, result):
    got = of_kind(inclusion(f"Tumour with {phrase} by local testing"), "marker")
    assert got == [({"type": "marker", "marker": marker, "result": result}, INC, ())]


def test_a_marker_status_without_a_result_suggests_nothing():
    assert of_kind(inclusion("Known MGMT promoter methylation status"), "marker") == []


def test_negated_and_excluded_markers():
    assert of_kind(inclusion("No BRAF V600E mutation"), "marker") == [
        ({"type": "marker", "marker": "braf_v600e", "result": "altered"}, EXC, ())
    ]
    assert of_kind(both(excluded=["Known IDH mutation"]), "marker") == [
        ({"type": "marker", "marker": "idh", "result": "altered"}, EXC, ())
    ]
    # "without 1p/19q codeletion" is the result itself, not a negation to apply again.
    assert of_kind(inclusion("Astrocytoma without 1p/19q codeletion"), "marker") == [
        ({"type": "marker", "marker": "codeletion_1p19q", "result": "wildtype"}, INC, ())
    ]


# --- Setting and number of recurrences ------------------------------------------------------


@pytest.mark.parametrize(
    "phrase,leaf",
    [
        ("Newly diagnosed glioblastoma", {"setting": "newly_diagnosed"}),
        ("Glioblastoma at first recurrence", {"setting": "recurrent", "min_progressions": 1,
                                              "max_progressions": 1}),
        ("First or second recurrence of glioblastoma", {"setting": "recurrent",
                                                        "min_progressions": 1,
                                                        "max_progressions": 2}),
        ("1st or 2nd relapse", {"setting": "recurrent", "min_progressions": 1,
                                "max_progressions": 2}),
        ("No more than two prior relapses", {"setting": "recurrent", "max_progressions": 2}),
        ("No more than 2 prior relapses", {"setting": "recurrent", "max_progressions": 2}),
        ("Recurrent glioblastoma after standard therapy", {"setting": "recurrent"}),
    ],
)  # fmt: skip
def test_setting_phrasings(phrase, leaf):
    assert of_kind(inclusion(phrase), "setting") == [({"type": "setting", **leaf}, INC, ())]


def test_recurrent_disease_excluded_means_newly_diagnosed():
    assert of_kind(both(excluded=["Recurrent or progressive disease"]), "setting") == [
        ({"type": "setting", "setting": "newly_diagnosed"}, INC, ())
    ]


def test_progression_free_survival_is_not_a_setting():
    assert of_kind(inclusion("Expected progression-free survival above 3 months"), "setting") == []


# --- Prior treatment ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,regimen,sense",
    [
        (inclusion("No prior bevacizumab"), "bevacizumab", EXC),
        (inclusion("No prior treatment with bevacizumab or other VEGF inhibitors"), "bevacizumab",
         EXC),
        (both(excluded=["Prior treatment with bevacizumab"]), "bevacizumab", EXC),
        (both(excluded=["Previous therapy with lomustine (CCNU)"]), "lomustine", EXC),
        (inclusion("Must have received temozolomide"), "tmz_concomitant", INC),
        (inclusion("Must have received standard radiotherapy"), "radiotherapy", INC),
        (inclusion("Previously treated with PCV chemotherapy"), "pcv", INC),
    ],
)  # fmt: skip
def test_prior_treatment_phrasings(text, regimen, sense):
    assert of_kind(text, "prior_treatment") == [
        ({"type": "prior_treatment", "regimen": regimen}, sense, ())
    ]


def test_no_prior_temozolomide_excludes_both_regimens():
    assert of_kind(both(excluded=["Prior temozolomide"]), "prior_treatment") == [
        ({"type": "prior_treatment", "regimen": "tmz_concomitant"}, EXC, ()),
        ({"type": "prior_treatment", "regimen": "tmz_adjuvant"}, EXC, ()),
    ]


@pytest.mark.parametrize(
    "text",
    [
        inclusion("Prior bevacizumab is permitted"),  # an allowance
        both(excluded=["Temozolomide within the past 3 weeks"]),  # a wash-out, not "never"
        inclusion("Patients who received radiotherapy must have recovered"),  # a condition
        both(excluded=["Received whole-brain radiotherapy"]),  # one technique, not any RT
        inclusion("Willing to receive temozolomide"),  # the future
    ],
)
def test_mentions_that_are_not_a_prior_treatment_criterion(text):
    assert of_kind(text, "prior_treatment") == []


# --- Prior tumour-treating fields ----------------------------------------------------------

TTF = {"type": "prior_ttfields"}


@pytest.mark.parametrize(
    "text,sense",
    [
        (both(excluded=["Prior treatment with tumor treating fields (TTFields)"]), EXC),
        (inclusion("No prior Optune therapy"), EXC),
        (inclusion("Previously treated with tumour-treating fields"), INC),
        ("Exclusion Criteria:\n\n1. Use of any of the following treatments:\n\n"
         "   1. Tumor treating fields at any time.\n", EXC),
    ],
)  # fmt: skip
def test_prior_ttfields_phrasings(text, sense):
    assert of_kind(text, "prior_ttfields") == [(TTF, sense, ())]


@pytest.mark.parametrize(
    "text",
    [
        both(excluded=["Tumor treating fields within 4 weeks prior to randomization"]),  # wash-out
        inclusion("Concurrent use of Optune is permitted"),  # an allowance
        inclusion("Time to treatment failure (TTF) at 6 months"),  # another TTF
    ],
)
def test_mentions_that_are_not_a_prior_ttfields_criterion(text):
    assert of_kind(text, "prior_ttfields") == []


# --- Time since the end of radiotherapy: units converted -----------------------------------


@pytest.mark.parametrize(
    "phrase,weeks",
    [
        ("At least 12 weeks since the end of radiotherapy", 12),
        ("at least twelve weeks after completion of radiation therapy", 12),
        # 3 months = 3 x 30.4375 days = 91.3 days = 13.04 weeks -> 13
        ("At least 3 months from the completion of radiotherapy", 13),
        ("≥ three months since completion of chemoradiation", 13),
        # 90 days = 12.86 weeks -> 13
        ("90 days or more after the end of radiotherapy", 13),
        # 6 months = 182.6 days = 26.09 weeks -> 26
        ("six months after radiotherapy", 26),
        ("Completed radiotherapy at least 4 weeks prior to enrolment", 4),
        ("At least 28 days since the last dose of chemotherapy or radiotherapy", 4),
    ],
)
def test_radiotherapy_interval_phrasings_in_weeks(phrase, weeks):
    assert of_kind(inclusion(phrase), "radiotherapy_ended") == [
        ({"type": "radiotherapy_ended", "min_weeks": weeks}, INC, ())
    ]


def test_radiotherapy_within_excluded_is_the_interval_that_must_have_passed():
    text = both(excluded=["Radiotherapy within the last 12 weeks"])
    assert of_kind(text, "radiotherapy_ended") == [
        ({"type": "radiotherapy_ended", "min_weeks": 12}, INC, ())
    ]


@pytest.mark.parametrize(
    "amount,unit,weeks",
    [(12, "weeks", 12), (3, "months", 13), (90, "days", 13), (1, "year", 52), (28, "days", 4)],
)
def test_to_weeks(amount, unit, weeks):
    assert reading.to_weeks(amount, unit) == weeks


# --- Extent of resection ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "phrase,extents",
    [
        ("Gross total resection on post-operative MRI", ["gross_total"]),
        ("After gross total or subtotal resection", ["gross_total", "subtotal"]),
        ("Underwent biopsy only", ["biopsy_only"]),
        ("Candidates for gross total resection", None),  # future surgery
    ],
)
def test_resection_phrasings(phrase, extents):
    got = of_kind(inclusion(phrase), "resection")
    expected = [] if extents is None else [({"type": "resection", "extents": extents}, INC, ())]
    assert got == expected


# --- Negation scope, lists, arms --------------------------------------------------------------


def test_negation_scope_ends_at_a_termination_term():
    # "No prior therapy except radiotherapy": the exception is allowed, not excluded.
    text = inclusion("No prior chemotherapy, but prior radiotherapy is required")
    assert of_kind(text, "prior_treatment") == [
        ({"type": "prior_treatment", "regimen": "radiotherapy"}, INC, ())
    ]


def test_pseudo_negation_negates_nothing():
    assert of_kind(inclusion("No more than 2 prior relapses"), "setting")[0][1] == INC


def test_items_under_a_negated_lead_are_negated():
    text = inclusion("Patients must not have any of the following:\n  * prior bevacizumab")
    assert of_kind(text, "prior_treatment") == [
        ({"type": "prior_treatment", "regimen": "bevacizumab"}, EXC, ())
    ]


ARMS = ["Cohort A: recurrent glioblastoma", "Cohort B: newly diagnosed glioblastoma"]


def test_a_criterion_stated_for_one_cohort_is_proposed_for_that_arm():
    text = inclusion("Cohort A: first recurrence", "Cohort B: newly diagnosed", "KPS >= 70")
    got = found(text, ARMS)
    assert (
        {"type": "setting", "setting": "recurrent", "min_progressions": 1, "max_progressions": 1},
        INC,
        (ARMS[0],),
    ) in got
    assert ({"type": "setting", "setting": "newly_diagnosed"}, INC, (ARMS[1],)) in got
    assert ({"type": "performance", "scale": "karnofsky", "min": 70}, INC, ()) in got


def test_a_heading_scopes_its_items_to_the_arm():
    text = (
        inclusion("ECOG 0-2")
        + "\nInclusion criteria specific to Cohort B:\n\n* Newly diagnosed glioblastoma\n"
    )
    got = found(text, ARMS)
    assert ({"type": "setting", "setting": "newly_diagnosed"}, INC, (ARMS[1],)) in got
    assert ({"type": "performance", "scale": "ecog", "max": 2}, INC, ()) in got


def test_a_cohort_the_record_does_not_have_stays_trial_wide_with_a_note():
    (f,) = [f for f in read(inclusion("Cohort Z: KPS >= 80"), ARMS).findings]
    assert f.arms == () and "Cohort Z" in f.note


def test_the_same_criterion_in_both_lists_is_one_suggestion_with_its_first_span():
    text = both(["KPS >= 50"], ["KPS < 50"])
    (f,) = read(text).findings
    assert text[f.start : f.end] == "KPS >= 50" and f.section == reading.INCLUSION


# --- Offsets, empty text, language ------------------------------------------------------------


def test_offsets_point_at_the_words_shown():
    text = both(
        ["Histologically confirmed glioblastoma, IDH-wildtype", "Karnofsky ≥ 70%"],
        ["Prior treatment with bevacizumab", "Radiotherapy within 12 weeks"],
    )
    spans = {f.kind: text[f.start : f.end] for f in read(text).findings}
    assert spans == {
        "diagnosis": "glioblastoma, IDH-wildtype",
        "marker": "IDH-wildtype",
        "performance": "Karnofsky ≥ 70%",
        "prior_treatment": "bevacizumab",
        "radiotherapy_ended": "Radiotherapy within 12 weeks",
    }


@pytest.mark.parametrize("text", ["", "   \n", None])
def test_an_empty_text_gives_no_suggestions_and_says_so(text):
    result = reading.read(text, kind_readers())
    assert (
        result.status == "empty"
        and result.findings == []
        and "No eligibility text" in (result.message)
    )


def test_a_text_in_another_language_is_reported_as_not_read():
    text = (
        "Inklusjonskriterier:\n* Pasienter med glioblastom som er over 18 år og har ikke "
        "fått tidligere strålebehandling\n* Må ha KPS minst 70 og være i stand til å gi "
        "samtykke til deltakelse i studien"
    )
    result = reading.read(text, kind_readers())
    assert result.status == "not_read" and result.findings == []
    assert "Norwegian" in result.message


def test_the_reading_is_deterministic():
    text = both(["Glioblastoma at first recurrence", "KPS >= 70"], ["Prior bevacizumab"])
    assert found(text) == found(text)


@pytest.mark.parametrize(
    "phrase,expected",
    [
        ("Patients with prior bevacizumab therapy are excluded",
         [({"type": "prior_treatment", "regimen": "bevacizumab"}, EXC, ())]),
        ("Patients who have received prior bevacizumab are not eligible",
         [({"type": "prior_treatment", "regimen": "bevacizumab"}, EXC, ())]),
        ("MGMT promoter methylation status: unmethylated",
         [({"type": "marker", "marker": "mgmt", "result": "wildtype"}, INC, ())]),
        ("Radiation therapy must have been completed at least 12 weeks prior to enrollment",
         [({"type": "radiotherapy_ended", "min_weeks": 12}, INC, ())]),
        ("Tumors must not harbor IDH1 or IDH2 mutations",
         [({"type": "marker", "marker": "idh", "result": "altered"}, EXC, ())]),
        ("Patients who underwent biopsy only are not eligible",
         [({"type": "resection", "extents": ["biopsy_only"]}, EXC, ())]),
        ("Unequivocal radiographic evidence of tumour progression",
         [({"type": "setting", "setting": "recurrent"}, INC, ())]),
    ],
)  # fmt: skip
def test_post_negation_and_other_word_orders(phrase, expected):
    assert found(inclusion(phrase)) == expected


def test_each_kind_the_text_states_has_its_reader_on_its_definition():
    from trials.criteria_kinds import KINDS

    readers = kind_readers()
    assert set(readers) == set(KINDS) - {"age", "sex"}  # those come from the record's fields
    sentence = reading.split(inclusion("KPS >= 70"))[0]
    (f,) = KINDS["performance"].suggest(sentence)
    assert f.value == {"type": "performance", "scale": "karnofsky", "min": 70, "max": None}
    assert KINDS["age"].suggest(sentence) == []
