"""The queue's count comes from counts the database keeps (models.MatchCount, kept by
triggers in each writer's transaction). After every kind of write (the engine's runs,
review moves, bulk moves, checks marked by hand, criteria and check-list changes, a
trial closing, a patient's institutions changing, a death, deletions) the kept count
equals a real count of the queue's rows, for every member and filter; and the page and
the API show it."""

import re

import pytest
from django.db import connection

from consortium.models import Institution, Role
from registry.models import MolecularMarker, Patient, PatientInstitution
from tests.conftest import make_member, sign_in
from tests.trials.factories import GBM, episode, patient, tree, trial
from trials import engine, selectors, services
from trials.models import Eligibility, Match, MatchCount, Step, Trial

pytestmark = pytest.mark.django_db

MGMT = {"type": "marker", "marker": "mgmt", "result": "altered"}
ADULT = {"type": "age", "min_years": 18, "max_years": None}


@pytest.fixture
def members():
    return {
        "admin": make_member(Role.ADMIN, email="a@x.no"),
        "OUS": make_member(Role.COORDINATOR, institutions=("OUS",), email="c1@x.no"),
        "OUS+HUS": make_member(Role.COORDINATOR, institutions=("OUS", "HUS"), email="c2@x.no"),
        "UNN": make_member(Role.COORDINATOR, institutions=("UNN",), email="c3@x.no"),
        "clinician": make_member(Role.CLINICIAN, institutions=("OUS",), email="d@x.no"),
    }


def _filters(trials) -> list[dict]:
    """Each filter alone, and a few together."""
    out = [{}]
    out += [{"trial_id": t.pk} for t in trials]
    out += [{"institution": code} for code in ("OUS", "HUS", "UNN", "NOPE")]
    out += [{"outcome": value} for value in Eligibility.values]
    out += [{"step": value} for value in Step.values]
    out += [{"flagged": True}, {"include_inactive": True}]
    out += [{"matching": value} for value, _ in selectors.MATCHING_CHOICES]
    out += [
        {"trial_id": trials[0].pk, "outcome": Eligibility.PENDING_CHECKS},
        {"institution": "HUS", "matching": selectors.ALL, "step": Step.NEW},
        {"trial_id": trials[1].pk, "flagged": True, "matching": selectors.ALL},
        {"institution": "OUS", "matching": selectors.NO_LONGER},
    ]
    return out


def _assert_kept_equals_real(members, trials) -> int:
    """Every member and filter: the kept count is the queue's real count. Returns the
    admin's unfiltered real count."""
    for name, user in members.items():
        for filters in _filters(trials):
            real = selectors.match_queue(user=user, **filters).count()
            kept = selectors.match_queue_count(user=user, **filters)
            assert kept == real, f"{name} {filters}: kept {kept}, real {real}"
    return selectors.match_queue(user=members["admin"]).count()


def _admin_total(members, **filters) -> int:
    return selectors.match_queue_count(user=members["admin"], **filters)


def test_kept_counts_equal_real_counts_through_every_kind_of_write(members):
    by = members["OUS"]
    checked = trial(tree({"type": "diagnosis", "codes": [GBM]}, by_hand=["Radionecrosis"]))
    marker = trial(tree({"type": "diagnosis", "codes": [GBM]}, MGMT))
    trials = [checked, marker]
    at_ous = [patient() for _ in range(3)]
    at_hus = patient(institutions=("HUS",))
    at_both = patient(institutions=("OUS", "HUS"))
    nowhere = patient(institutions=())
    for p in at_ous:
        episode(p, markers={"mgmt": "altered"})
    episode(at_hus)  # MGMT not tested: possibly eligible for `marker`
    episode(at_both, markers={"mgmt": "altered"})
    episode(nowhere, markers={"mgmt": "wildtype"})  # not eligible for `marker`
    engine.match_all()
    # By hand: `checked` matches all six patients (pending the check), `marker` five
    # (all but the wildtype one; HUS's possibly).
    assert _assert_kept_equals_real(members, trials) == 11
    assert _admin_total(members, outcome=Eligibility.PENDING_CHECKS) == 6
    assert selectors.match_queue_count(user=members["OUS"]) == 8  # 3 + at_both, twice
    assert selectors.match_queue_count(user=members["OUS+HUS"]) == 10  # at_both once each
    assert selectors.match_queue_count(user=members["UNN"]) == 0
    assert selectors.match_queue_count(user=members["clinician"]) == 0

    # Review moves, one and in bulk; checks marked by hand.
    first, second, third = Match.objects.filter(trial=checked, patient__in=at_ous)
    services.match_move(match=first, by=by, step=Step.UNDER_REVIEW, expected_version=1)
    services.matches_move(
        match_ids=[second.pk, third.pk], by=by, step=Step.UNDER_REVIEW, versions={}
    )
    services.match_move(
        match=Match.objects.get(pk=third.pk), by=by, step=Step.CONTACTED, note="Asked Dr Berg"
    )
    services.match_check_mark(match=first, by=by, text="Radionecrosis", status="met")
    services.match_check_mark(match=second, by=by, text="Radionecrosis", status="not_met", note="x")
    assert _assert_kept_equals_real(members, trials) == 11
    assert _admin_total(members, step=Step.UNDER_REVIEW) == 2
    assert _admin_total(members, outcome=Eligibility.ELIGIBLE) == 1 + 4  # first; marker's

    # A register change flags a reviewed match (its outcome changed) and drops it.
    reviewed = Match.objects.get(trial=marker, patient=third.patient_id)
    services.match_move(match=reviewed, by=by, step=Step.UNDER_REVIEW)
    MolecularMarker.objects.filter(episode_id=third.episode_id).update(result="wildtype")
    engine.match_patient(third.patient_id)
    assert _assert_kept_equals_real(members, trials) == 10  # `marker` dropped it
    assert _admin_total(members, matching=selectors.NO_LONGER) == 1
    assert _admin_total(members, matching=selectors.ALL, flagged=True) == 1

    # The check list changes (every match of the trial recounted in one UPDATE), the
    # criteria change (the trial re-matched), a patient's institutions change.
    services._recount_checks(checked.pk, ["Radionecrosis", "Steroids"])
    marker.criteria = tree({"type": "diagnosis", "codes": [GBM]}, MGMT, ADULT)
    marker.save()
    PatientInstitution.objects.create(
        patient=at_hus, institution=Institution.objects.get(code="UNN")
    )
    PatientInstitution.objects.filter(patient=at_both, institution__code="OUS").delete()
    PatientInstitution.objects.filter(patient=at_ous[0]).update(
        institution=Institution.objects.get(code="HUS")
    )
    engine.match_trial(marker.pk)
    assert _assert_kept_equals_real(members, trials) == 10
    assert selectors.match_queue_count(user=members["UNN"]) == 2  # at_hus's two

    # A death, a closed trial, the nightly run, deletions.
    Patient.objects.filter(pk=at_ous[1].pk).update(vital_status="dead")
    engine.match_patient(at_ous[1].pk)
    Trial.objects.filter(pk=marker.pk).update(overall_status="COMPLETED")
    engine.forget_targets()
    engine.match_all()
    assert _assert_kept_equals_real(members, trials) == 5  # `checked`, less the dead one
    at_ous[2].delete()
    Match.objects.filter(patient=at_hus, trial=checked).delete()
    assert _assert_kept_equals_real(members, trials) == 3
    marker.delete()
    assert _assert_kept_equals_real(members, [checked, checked]) == 3


def test_the_nightly_run_folds_the_changes_and_mends_a_wrong_count(members):
    t = trial(tree({"type": "diagnosis", "codes": [GBM]}))
    for _ in range(4):
        episode(patient())
    engine.match_all()
    first = MatchCount.objects.count()
    for m in Match.objects.all():
        services.match_move(match=m, by=members["OUS"], step=Step.UNDER_REVIEW)
    assert MatchCount.objects.count() > first  # a change row per move
    # A count gone wrong (say two writers raced over a patient's institutions).
    MatchCount.objects.create(
        trial_id=t.pk,
        institutions=[],
        active=True,
        eligibility=Eligibility.ELIGIBLE,
        step=Step.NEW,
        needs_another_look=False,
        n=7,
    )
    assert _admin_total(members) == 11
    engine.match_all()
    assert _admin_total(members) == 4 == selectors.match_queue(user=members["admin"]).count()
    assert MatchCount.objects.count() == 1  # one row: trial, OUS, current, eligible, reviewed


def test_truncating_the_matches_empties_the_counts(members):
    trial(tree({"type": "diagnosis", "codes": [GBM]}))
    episode(patient())
    engine.match_all()
    assert _admin_total(members) == 1
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no foreign-key checks pending
        cursor.execute(f"TRUNCATE {Match._meta.db_table} CASCADE")
    assert _admin_total(members) == 0


def test_page_and_api_show_the_kept_count(client, members):
    t = trial(tree({"type": "diagnosis", "codes": [GBM]}), norwegian=True)
    for _ in range(3):
        episode(patient())
    episode(patient(institutions=("HUS",)))
    engine.match_all()
    user = make_member(Role.COORDINATOR, institutions=("OUS",), with_totp=True, email="q@x.no")
    sign_in(client, user)
    body = client.get(f"/trials/matches/?trial={t.pk}").content.decode()
    assert re.search(r'<p class="count">(\d+) match', body).group(1) == "3"
    answer = client.get("/api/v1/trials/matches/?page_size=2").json()
    assert answer["count"] == 3 and len(answer["results"]) == 2
    assert client.get("/api/v1/trials/matches/?institution=HUS").json()["count"] == 0
