"""The matching engine: register facts loaded in bulk, each open trial's criteria turned
into a SQL prefilter (drops only patients certain to fail), the three-valued verdicts
worked out in Python over the loaded facts, and the results diffed against the stored
matches so only changed rows are written (MatchMiner's clinical-query-first run and
hash diffing, shared/reference/trials.md §1.3 steps 3-6).

Three entry points, all idempotent (a re-run writes nothing when nothing changed):
match_patient (after a register change), match_trial (criteria or status changed) and
match_all (the nightly run, which also catches patients crossing an age limit)."""

import hashlib
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field

import pghistory
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from registry.models import (
    FollowUp,
    MolecularMarker,
    Patient,
    PerformanceStatus,
    RadiotherapyCourse,
    Surgery,
    SystemicTherapy,
    TumourEpisode,
)

from . import criteria as C
from .models import OPEN_STATUSES, Match, ReviewEvent, Outcome, Step, Trial, TrialArm

# Matched: living patients' episodes with a recorded diagnosis (without one, every trial
# would be "possibly eligible"; the register's worklist already asks for it).
MATCHABLE = Q(patient__vital_status=Patient.VitalStatus.ALIVE) & ~Q(diagnosis="")
OUTCOME_OF = {C.MET: Outcome.ELIGIBLE, C.UNKNOWN: Outcome.POSSIBLY, C.NOT_MET: Outcome.NOT_ELIGIBLE}


@dataclass
class Target:
    """What one match row is about: a trial, or one of its arms, and the tree to check."""

    trial_id: int
    arm_id: int | None
    node: dict


@dataclass
class RunResult:
    created: int = 0
    updated: int = 0
    deactivated: int = 0
    flagged: int = 0
    evaluated: int = 0
    timings: dict = field(default_factory=dict)


def open_targets(trial_ids=None) -> list[Target]:
    """Open trials with encoded criteria. When arms carry criteria of their own, each such
    arm is a target (trial criteria AND arm criteria); otherwise the trial is."""
    trials = Trial.objects.filter(overall_status__in=OPEN_STATUSES, criteria_encoded_at__isnull=False)
    if trial_ids is not None:
        trials = trials.filter(pk__in=trial_ids)
    trials = dict(trials.values_list("pk", "criteria"))
    arms = defaultdict(list)
    for arm_id, trial_id, node in (TrialArm.objects.filter(trial__in=list(trials), criteria__isnull=False)
                                   .values_list("pk", "trial_id", "criteria")):
        arms[trial_id].append((arm_id, node))
    targets = []
    trials = {pk: C.compile_labels(tree) if tree else tree for pk, tree in trials.items()}
    for trial_id, tree in trials.items():
        base = tree["criteria"] if tree else {"all": []}
        if arms[trial_id]:
            targets += [Target(trial_id, arm_id, {"all": [base, C.compile_labels(node)["criteria"]]})
                        for arm_id, node in arms[trial_id]]
        else:
            targets.append(Target(trial_id, None, base))
    return targets


def load_facts(episodes) -> dict[int, C.Facts]:
    """Facts of every episode in the queryset, in seven queries however many there are."""
    ids = episodes.values("pk")
    facts = {
        pk: C.Facts(pk, patient_id, diagnosis, grade, birth, sex, {}, set(), [], "", None, None, 0, 0)
        for pk, patient_id, diagnosis, grade, birth, sex in episodes.values_list(
            "pk", "patient_id", "diagnosis", "who_grade", "patient__birth_date", "patient__sex")
    }
    for episode_id, marker, result in MolecularMarker.objects.filter(episode__in=ids).values_list(
            "episode_id", "marker", "result"):
        facts[episode_id].markers[marker] = result
    for episode_id, regimen in SystemicTherapy.objects.filter(episode__in=ids).values_list("episode_id", "regimen"):
        facts[episode_id].regimens.add(regimen)
    for episode_id, end in RadiotherapyCourse.objects.filter(episode__in=ids).values_list("episode_id", "end_date"):
        facts[episode_id].regimens.add("radiotherapy")
        facts[episode_id].radiotherapy_ends.append(end)
    for episode_id, extent in (Surgery.objects.filter(episode__in=ids).order_by("surgery_date", "id")
                               .values_list("episode_id", "extent_of_resection")):
        facts[episode_id].extent = extent  # the latest surgery wins
    for episode_id, ecog, kps in (PerformanceStatus.objects.filter(episode__in=ids).order_by("assessed_on", "id")
                                  .values_list("episode_id", "ecog", "karnofsky")):
        facts[episode_id].ecog, facts[episode_id].karnofsky = ecog, kps  # the latest assessment wins
    for row in (FollowUp.objects.filter(episode__in=ids).values("episode_id")
                .annotate(n=Count("pk"), progressions=Count("pk", filter=Q(progression=True)))):
        facts[row["episode_id"]].follow_ups = row["n"]
        facts[row["episode_id"]].progressions = row["progressions"]
    return facts


def judge(target: Target, facts: C.Facts, today) -> tuple[str, list, str]:
    """(outcome, per-criterion verdicts, fingerprint)."""
    verdicts: list = []
    outcome = OUTCOME_OF[C.evaluate(target.node, facts, today, verdicts)]
    # A join, not json.dumps: a third of the time of a verdict over a million candidates.
    digest = hashlib.md5("\x1f".join([outcome, *(f"{v['criterion']}\x1e{v['verdict']}\x1e{v['value']}\x1e{v['reason']}"
                                                for v in verdicts)]).encode()).hexdigest()
    return outcome, verdicts, digest


def candidate_ids(target: Target, scope: Q, today) -> list[int]:
    """The SQL prefilter alone: episodes that may be eligible for the target."""
    return list(TumourEpisode.objects.filter(scope).filter(C.prefilter(target.node, today))
                .values_list("pk", flat=True))


def match_patient(patient_id: int) -> RunResult:
    """Every open trial against one patient's episodes: few episodes, so no prefilter;
    the facts (seven queries) are checked in Python against every target."""
    targets = open_targets()
    facts = load_facts(TumourEpisode.objects.filter(MATCHABLE, patient_id=patient_id))
    evaluated = {(t.trial_id, t.arm_id, e) for t in targets for e in facts}
    return _run(targets, facts, evaluated, _stored(Match.objects.filter(patient_id=patient_id)))


def match_trial(trial_id: int) -> RunResult:
    targets = open_targets([trial_id])
    return _match_many(targets, existing=Match.objects.filter(trial_id=trial_id))


def match_all() -> RunResult:
    return _match_many(open_targets(), existing=Match.objects.all(), everyone=True)


def _stored(existing) -> dict:
    """(trial, arm, episode) -> the stored match's state, in one query."""
    return {(m[1], m[2], m[3]): m for m in existing.values_list(
        "pk", "trial_id", "arm_id", "episode_id", "outcome", "fingerprint", "active", "step", "needs_another_look")}


def _match_many(targets, *, existing, everyone: bool = False) -> RunResult:
    today = timezone.localdate()
    started = time.perf_counter()
    evaluated = set()
    for target in targets:
        evaluated.update((target.trial_id, target.arm_id, episode_id)
                         for episode_id in candidate_ids(target, MATCHABLE, today))
    prefiltered = time.perf_counter()
    stored = _stored(existing)
    # Stored active matches are checked again even when the prefilter now drops them, so
    # their verdicts say why they no longer fit.
    keys = {(t.trial_id, t.arm_id) for t in targets}
    evaluated.update(key for key, row in stored.items() if row[6] and key[:2] in keys)
    if everyone:  # the nightly run: one plain pass over every matchable episode is cheapest
        facts = load_facts(TumourEpisode.objects.filter(MATCHABLE))
    else:
        ids = {key[2] for key in evaluated}
        facts = load_facts(TumourEpisode.objects.filter(MATCHABLE, pk__in=ids)) if ids else {}
    result = _run(targets, facts, evaluated, stored)
    result.timings.update(prefilter=prefiltered - started, total=time.perf_counter() - started)
    return result


def _run(targets, facts, evaluated: set, stored: dict) -> RunResult:
    """Verdicts for the evaluated keys, compared with the stored rows as they are worked
    out (no second pass over a million results); only changes are written."""
    today = timezone.localdate()
    now = timezone.now()
    result = RunResult()
    by_key = {(t.trial_id, t.arm_id): t for t in targets}
    seen = set()
    to_create, updated, gone_rows, events = [], [], [], []
    for key in evaluated:
        episode = facts.get(key[2])
        if episode is None:
            continue
        seen.add(key)
        outcome, verdicts, digest = judge(by_key[key[:2]], episode, today)
        row = stored.get(key)
        if row is None:
            if outcome != Outcome.NOT_ELIGIBLE:
                to_create.append((key[2], episode.patient_id, key[0], key[1], outcome, json.dumps(verdicts), digest))
            continue
        pk, _, _, _, old_outcome, old_digest, was_active, step, flagged = row
        active = outcome != Outcome.NOT_ELIGIBLE
        if old_digest == digest and was_active == active:
            continue
        before = old_outcome if was_active else "inactive"
        flag = _flag(step, before, outcome)
        if flag:
            events.append(_flag_event(pk, before, outcome, now))
        if was_active and not active:
            result.deactivated += 1
        updated.append(Match(pk=pk, outcome=outcome, verdicts=verdicts, fingerprint=digest, active=active,
                             inactive_reason="" if active else "no longer eligible", outcome_changed_at=now,
                             needs_another_look=flagged or flag))
    # Stored matches the run no longer finds: trial closed, patient died, or prefiltered
    # out. Their verdicts stay as the coordinator last saw them.
    result.evaluated = len(seen)
    gone = [row for key, row in stored.items() if key not in seen and row[6]]
    if gone:
        open_trials = set(Trial.objects.filter(pk__in={r[1] for r in gone}, overall_status__in=OPEN_STATUSES,
                                               criteria_encoded_at__isnull=False).values_list("pk", flat=True))
        dead = set(TumourEpisode.objects.filter(pk__in={r[3] for r in gone}).exclude(
            patient__vital_status=Patient.VitalStatus.ALIVE).values_list("pk", flat=True))
        for pk, trial_id, _, episode_id, old_outcome, digest, _, step, flagged in gone:
            reason = ("trial closed" if trial_id not in open_trials else "patient died" if episode_id in dead
                      else "no longer eligible")
            flag = _flag(step, old_outcome, Outcome.NOT_ELIGIBLE)
            if flag:
                events.append(_flag_event(pk, old_outcome, f"not eligible ({reason})", now))
            gone_rows.append(Match(pk=pk, outcome=Outcome.NOT_ELIGIBLE, active=False, inactive_reason=reason,
                                   fingerprint="", outcome_changed_at=now, needs_another_look=flagged or flag))
        result.deactivated += len(gone_rows)
    result.flagged = len(events)
    if to_create or updated or gone_rows:
        state = ["outcome", "fingerprint", "active", "inactive_reason", "outcome_changed_at", "needs_another_look"]
        with transaction.atomic(), pghistory.context(source="matching"):
            _insert(to_create, now)
            Match.objects.bulk_update(updated, [*state, "verdicts"], batch_size=2000)
            Match.objects.bulk_update(gone_rows, state, batch_size=2000)
            ReviewEvent.objects.bulk_create(events)
    result.created = len(to_create)
    result.updated = len(updated)
    return result


def _insert(rows: list[tuple], now) -> None:
    """New matches in one INSERT ... SELECT unnest() per 5,000 rows (as the access log
    does): Django's bulk_create spent more time building the statement than PostgreSQL
    spent running it (benchmark_matching)."""
    table = Match._meta.db_table
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 5000):
            columns = list(zip(*rows[start:start + 5000]))
            cursor.execute(
                f"INSERT INTO {table} (episode_id, patient_id, trial_id, arm_id, outcome, verdicts, fingerprint, "
                "active, inactive_reason, needs_another_look, step, close_reason, notes, version, matched_at, "
                "outcome_changed_at) SELECT e, p, t, a, o, v::jsonb, f, true, '', false, %s, '', '', 1, %s, %s "
                "FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::text[], %s::text[], "
                "%s::text[]) AS u(e, p, t, a, o, v, f)",
                [Step.NEW, now, now, *map(list, columns)])


def _flag(step: str, old_outcome: str | None, new_outcome: str) -> bool:
    """A reviewed match (past "new", not closed) whose outcome changed needs another look."""
    return step not in (Step.NEW, Step.CLOSED) and old_outcome != new_outcome


def _flag_event(match_id: int, old: str, new: str, now) -> ReviewEvent:
    label = dict(Outcome.choices)
    return ReviewEvent(match_id=match_id, kind=ReviewEvent.Kind.FLAG, at=now,
                      note=f"Outcome changed from {label.get(old, old).lower()} to {label.get(new, new).lower()}: "
                           "look again.")
