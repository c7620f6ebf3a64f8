"""The engine on the real database with hand-built patients: who matches which trial or
arm, the SQL prefilter agreeing with the Python verdicts, only open trials and living
patients, the diffing (a coordinator's step survives; a changed outcome is flagged),
and query counts that do not grow with the number of patients."""

from datetime import date

import pytest
from dateutil.relativedelta import relativedelta
from django.db import connection
from django.test.utils import CaptureQueriesContext

from consortium.models import Role
from registry.models import FollowUp, MolecularMarker, TumourEpisode
from tests.conftest import make_member
from tests.trials.factories import ASTRO, GBM, RECURRENT_GBM, episode, patient, today, tree, trial
from trials import engine, services
from trials.models import Match, Outcome, ReviewEvent, Step, TrialArm, VerdictSet

pytestmark = pytest.mark.django_db


def recurrent_gbm_patient(**overrides):
    p = patient(**overrides.pop("patient", {}))
    # Treated by the Stupp protocol (radiotherapy with temozolomide), as the register records it.
    values = dict(
        markers={"idh": "wildtype", "mgmt": "altered"},
        ecog=1,
        follow_ups=[False, True],
        regimens=["tmz_concomitant"],
        radiotherapy_end=date(2025, 3, 14),
    )
    values.update(overrides)
    return p, episode(p, **values)


def test_eligible_possibly_and_not_eligible():
    t = trial(RECURRENT_GBM)
    _, fits = recurrent_gbm_patient()
    _, untested = recurrent_gbm_patient(markers={"idh": "wildtype"})
    _, had_bev = recurrent_gbm_patient(regimens=["tmz_concomitant", "bevacizumab"])
    _, astro = recurrent_gbm_patient(diagnosis=ASTRO, grade=3)
    result = engine.match_trial(t.pk)
    assert result.created == 2
    by_episode = {m.episode_id: m for m in Match.objects.filter(trial=t)}
    assert by_episode[fits.pk].outcome == Outcome.ELIGIBLE
    assert by_episode[untested.pk].outcome == Outcome.POSSIBLY
    mgmt = next(v for v in by_episode[untested.pk].verdicts if v["criterion"].startswith("MGMT"))
    assert mgmt == {
        "criterion": "MGMT promoter methylation: methylated",
        "verdict": "unknown",
        "value": "not tested",
        "reason": "MGMT promoter methylation not tested: test MGMT promoter methylation.",
    }
    assert had_bev.pk not in by_episode and astro.pk not in by_episode


def test_tumour_treating_fields_recorded_in_the_register_exclude():
    """A trial excluding prior TTFields (as NCT05580562 does): the register's row with
    regimen "ttfields" takes the patient out, Stupp alone keeps them, nothing recorded
    leaves them possibly eligible."""
    t = trial(tree({"type": "diagnosis", "codes": [GBM]}, {"not": {"type": "prior_ttfields"}}))
    _, ef14 = recurrent_gbm_patient(regimens=["tmz_concomitant", "tmz_adjuvant", "ttfields"])
    _, stupp = recurrent_gbm_patient(regimens=["tmz_concomitant", "tmz_adjuvant"])
    _, untreated = recurrent_gbm_patient(regimens=[], radiotherapy_end="none")
    engine.match_trial(t.pk)
    by_episode = {m.episode_id: m for m in Match.objects.filter(trial=t)}
    assert ef14.pk not in by_episode
    assert by_episode[stupp.pk].outcome == Outcome.ELIGIBLE
    assert by_episode[stupp.pk].verdicts[1] == {
        "criterion": "no prior tumour-treating fields (TTFields)",
        "verdict": "met",
        "value": "no tumour-treating fields (TTFields) recorded",
        "reason": "Negated criterion: the patient must NOT have this.",
    }
    assert by_episode[untreated.pk].outcome == Outcome.POSSIBLY


def test_prefilter_keeps_every_episode_python_would_match():
    """Over a spread of patients, the SQL prefilter drops only episodes whose verdict is
    not eligible: the engine's result equals evaluating everyone in Python."""
    t = trial(
        tree(
            {"any": [{"type": "diagnosis", "codes": [GBM]}, {"type": "grade", "grades": [3]}]},
            {"not": {"type": "marker", "marker": "idh", "result": "altered"}},
            {"type": "age", "min_years": 40, "max_years": 60},
            {"not": {"type": "sex", "sex": "male"}},
        )
    )
    cases = []
    for diagnosis, grade in ((GBM, 4), (ASTRO, 3), (ASTRO, 2), (ASTRO, None)):
        for idh in ("altered", "wildtype", None):
            for age in (39, 40, 60, 61):
                for sex in ("female", "male", "unknown"):
                    p = patient(birth_date=today() - relativedelta(years=age), sex=sex)
                    cases.append(
                        episode(
                            p, diagnosis=diagnosis, grade=grade, markers={"idh": idh} if idh else {}
                        )
                    )
    engine.match_trial(t.pk)
    matched = set(Match.objects.filter(trial=t).values_list("episode_id", flat=True))
    target = engine.open_targets([t.pk])[0]
    facts = engine.load_facts(TumourEpisode.objects.filter(pk__in=[e.pk for e in cases]))
    expected = {
        pk for pk, f in facts.items() if engine.judge(target, f, today())[0] != Outcome.NOT_ELIGIBLE
    }
    assert matched == expected and 0 < len(expected) < len(cases)


def test_arm_level_criteria_match_per_arm():
    t = trial(tree({"type": "diagnosis", "codes": [GBM]}))
    methylated = TrialArm.objects.create(
        trial=t,
        label="Cohort A: MGMT methylated",
        criteria=tree({"type": "marker", "marker": "mgmt", "result": "altered"}),
    )
    unmethylated = TrialArm.objects.create(
        trial=t,
        label="Cohort B: MGMT unmethylated",
        criteria=tree({"type": "marker", "marker": "mgmt", "result": "wildtype"}),
    )
    TrialArm.objects.create(trial=t, label="Run-in")  # no criteria of its own: not a target
    _, a = recurrent_gbm_patient(markers={"mgmt": "altered"})
    _, b = recurrent_gbm_patient(markers={"mgmt": "wildtype"})
    _, unknown = recurrent_gbm_patient(markers={})
    engine.match_trial(t.pk)
    got = {(m.episode_id, m.arm_id, m.outcome) for m in Match.objects.filter(trial=t)}
    assert got == {
        (a.pk, methylated.pk, "eligible"),
        (b.pk, unmethylated.pk, "eligible"),
        (unknown.pk, methylated.pk, "possibly"),
        (unknown.pk, unmethylated.pk, "possibly"),
    }


def test_only_open_trials_and_living_patients():
    closed = trial(RECURRENT_GBM, status="COMPLETED")
    not_encoded = trial(RECURRENT_GBM, encoded=False)
    recruiting = trial(RECURRENT_GBM)
    _, dead = recurrent_gbm_patient(patient={"alive": False})
    _, alive = recurrent_gbm_patient()
    engine.match_all()
    assert not Match.objects.filter(trial__in=[closed, not_encoded]).exists()
    assert not Match.objects.filter(episode=dead).exists()
    # The same patient alive is matched to the open trial, so the rule above is not vacuous.
    assert Match.objects.filter(episode=alive, trial=recruiting).exists()


def test_coordinator_step_survives_and_changed_outcome_is_flagged():
    t = trial(RECURRENT_GBM)
    coordinator = make_member(Role.COORDINATOR, institutions=("OUS",), email="c@example.no")
    p, e = recurrent_gbm_patient()
    engine.match_trial(t.pk)
    match = Match.objects.get(trial=t)
    services.match_move(match=match, by=coordinator, step=Step.UNDER_REVIEW, note="Looks good")
    # Nothing changed: the re-run writes nothing.
    assert vars(engine.match_all())["updated"] == 0
    # MGMT re-tested as unmethylated: no longer eligible; the review step stays, flagged.
    MolecularMarker.objects.filter(episode=e, marker="mgmt").update(result="wildtype")
    result = engine.match_patient(p.pk)
    assert result.deactivated == 1 and result.flagged == 1
    match.refresh_from_db()
    assert (match.step, match.active, match.outcome, match.needs_another_look) == (
        Step.UNDER_REVIEW,
        False,
        Outcome.NOT_ELIGIBLE,
        True,
    )
    assert match.inactive_reason == "no longer eligible"
    assert ReviewEvent.objects.filter(match=match, kind="flag").count() == 1
    # Back to methylated (a lab correction): active again, the same row, still under review.
    MolecularMarker.objects.filter(episode=e, marker="mgmt").update(result="altered")
    engine.match_patient(p.pk)
    match.refresh_from_db()
    assert (match.active, match.outcome, match.step) == (True, Outcome.ELIGIBLE, Step.UNDER_REVIEW)
    assert Match.objects.count() == 1


def test_unreviewed_change_is_not_flagged():
    t = trial(RECURRENT_GBM)
    p, e = recurrent_gbm_patient(markers={"idh": "wildtype"})
    engine.match_trial(t.pk)
    MolecularMarker.objects.create(episode=e, marker="mgmt", result="altered")
    engine.match_patient(p.pk)
    match = Match.objects.get()
    assert match.outcome == Outcome.ELIGIBLE and not match.needs_another_look


def test_a_trial_closing_and_a_patient_dying():
    t = trial(RECURRENT_GBM)
    coordinator = make_member(Role.COORDINATOR, institutions=("OUS",), email="c@example.no")
    p1, _ = recurrent_gbm_patient()
    p2, _ = recurrent_gbm_patient()
    engine.match_trial(t.pk)
    m1, m2 = Match.objects.order_by("patient_id")
    seen = m1.verdicts
    # The same facts, the same verdict list: stored once (VerdictSet), shared by both.
    assert seen and m1.verdict_set_id == m2.verdict_set_id and VerdictSet.objects.count() == 1
    for step in (Step.UNDER_REVIEW, Step.CONTACTED):
        m1 = services.match_move(match=m1, by=coordinator, step=step)
    p2.vital_status, p2.date_of_death = "dead", today()
    p2.save()
    engine.match_patient(p2.pk)
    m2.refresh_from_db()
    assert (m2.active, m2.inactive_reason, m2.needs_another_look) == (False, "patient died", False)
    t.overall_status = "ACTIVE_NOT_RECRUITING"
    t.save()
    engine.match_trial(t.pk)
    m1.refresh_from_db()
    assert (m1.active, m1.inactive_reason, m1.needs_another_look, m1.step) == (
        False,
        "trial closed",
        True,
        Step.CONTACTED,
    )
    # Their verdicts stay as the coordinator last saw them.
    assert m1.verdicts == seen and Match.objects.get(pk=m2.pk).verdicts == seen


def test_new_progression_moves_a_patient_into_a_recurrent_trial():
    t = trial(RECURRENT_GBM)
    p, e = recurrent_gbm_patient(follow_ups=[False])
    engine.match_all()
    assert not Match.objects.exists()
    FollowUp.objects.create(episode=e, assessed_on=date(2025, 9, 1), progression=True)
    assert engine.match_patient(p.pk).created == 1
    assert Match.objects.get().trial == t


def test_query_counts_do_not_grow_with_patients():
    trial(RECURRENT_GBM)
    trial(tree({"type": "diagnosis", "codes": [ASTRO]}))
    recurrent_gbm_patient()

    def count(run):
        engine.forget_targets()  # from cold: the counts compare runs, not the cache
        with CaptureQueriesContext(connection) as queries:
            run()
        return len(queries)

    Match.objects.all().delete()
    small = count(engine.match_all)
    for _ in range(15):
        recurrent_gbm_patient()
    Match.objects.all().delete()
    assert count(engine.match_all) == small
    p, _ = recurrent_gbm_patient()
    for _ in range(3):
        episode(p, markers={"mgmt": "altered"})
    # One patient, cold: the open trials' versions (1) + targets (2) + facts (7) + stored
    # matches (1) + the write (savepoint, insert x2, release).
    assert count(lambda: engine.match_patient(p.pk)) <= 15
    # Warm (every re-match after the first), nothing to write: the open trials' versions,
    # the patient's facts (one query) and stored matches.
    p2, _ = recurrent_gbm_patient()
    engine.match_patient(p2.pk)
    with CaptureQueriesContext(connection) as warm:
        engine.match_patient(p2.pk)
    assert len(warm) == 3


def test_one_patients_facts_in_one_query_are_load_facts():
    """engine.patient_facts (one query, for a patient's re-match) reads what load_facts
    (a query per register table, for the runs over many) reads, field by field: the
    latest surgery and assessment (a tie on the date broken by the later row, as
    load_facts' order does), every course, therapy, marker and follow-up."""
    from registry.models import PerformanceStatus, RadiotherapyCourse, Surgery

    p = patient(birth_date=date(1961, 2, 3), sex="male")
    full = episode(
        p,
        markers={"idh": "wildtype", "mgmt": "altered", "h3k27": "inconclusive"},
        ecog=2,
        karnofsky=60,
        regimens=["tmz_concomitant", "bevacizumab"],
        radiotherapy_end=None,  # a course not yet ended
        extent="subtotal",
        follow_ups=[False, True, True],
    )
    RadiotherapyCourse.objects.create(
        episode=full,
        start_date=date(2024, 1, 1),
        end_date=date(2024, 2, 12),
        total_dose_gy=40,
        fractions=15,
    )
    Surgery.objects.create(  # same day as the factory's, later row: it wins
        episode=full,
        surgery_date=date(2025, 1, 20),
        procedure="resection",
        extent_of_resection="biopsy_only",
    )
    PerformanceStatus.objects.create(episode=full, assessed_on=date(2024, 12, 1), ecog=0)
    bare = episode(p, diagnosis=ASTRO, grade=None)  # nothing recorded beyond the diagnosis
    episode(p, diagnosis="")  # not matchable: no diagnosis
    episode(patient(), markers={"idh": "altered"})  # another patient's
    expected = engine.load_facts(TumourEpisode.objects.filter(engine.MATCHABLE, patient=p))
    assert set(expected) == {full.pk, bare.pk}
    expected[full.pk].radiotherapy_ends.sort(key=lambda end: (end is not None, end))
    got = engine.patient_facts(p.pk)
    got[full.pk].radiotherapy_ends.sort(key=lambda end: (end is not None, end))
    assert got == expected
    assert got[full.pk].extent == "biopsy_only" and got[full.pk].ecog == 2
    assert got[full.pk].regimens == {"tmz_concomitant", "bevacizumab", "radiotherapy"}
    assert engine.patient_facts(p.pk + 10_000) == {}


def test_a_patients_rematch_judges_again_a_match_whose_diagnosis_no_longer_fits():
    """One patient's re-match skips the trials whose diagnosis criterion rules the episode
    out, but never a stored match: it is judged again and says why it no longer fits."""
    t = trial(RECURRENT_GBM)
    p, e = recurrent_gbm_patient()
    engine.match_patient(p.pk)
    TumourEpisode.objects.filter(pk=e.pk).update(diagnosis=ASTRO, who_grade=3)
    assert engine.match_patient(p.pk).deactivated == 1
    m = Match.objects.get(trial=t)
    assert not m.active and m.outcome == Outcome.NOT_ELIGIBLE
    assert m.verdicts[0]["verdict"] == "not_met"
    assert engine.match_patient(p.pk).updated == 0  # judged again: nothing changed
