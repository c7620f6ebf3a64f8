"""The matching engine: register facts loaded in bulk, each open trial's criteria turned
into a SQL prefilter (drops only patients certain to fail), the three-valued verdicts
worked out in Python over the loaded facts, and the results diffed against the stored
matches so only changed rows are written (MatchMiner's clinical-query-first run and
hash diffing; https://github.com/dfci/matchengine-V2, docs/trials-matching.md §1).

Three entry points, all idempotent (a re-run writes nothing when nothing changed):
match_patient (after a register change), match_trial (criteria or status changed) and
match_all (the nightly run, which also catches patients crossing an age limit).

Speed (benchmark_matching; README: Benchmarks): facts are loaded in a few set-based queries;
each target's criteria are compiled once per run (criteria.Compiled) so a verdict row is
built once per distinct register value, not per episode; episodes are judged column-wise
per target; new matches are written by COPY in batches, in index order. Outside a
transaction the nightly run overlaps PostgreSQL and Python on two connections (the
prefilter in one thread, the inserts in another, still one transaction for the writes)."""

import functools
import gc
import hashlib
import io
import itertools
import json
import queue
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from operator import itemgetter
from typing import NamedTuple

import pghistory
from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection, transaction
from django.db.models import Count, OuterRef, Q, Subquery
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

from . import criteria, criteria_kinds
from .facts import Facts, read_register
from .models import OPEN_STATUSES, Match, Outcome, ReviewEvent, Step, Trial, TrialArm, VerdictSet

# Matched: living patients' episodes with a recorded diagnosis (without one, every trial
# would be "possibly eligible"; the register's worklist already asks for it).
MATCHABLE = Q(patient__vital_status=Patient.VitalStatus.ALIVE) & ~Q(diagnosis="")
OUTCOME_OF = {
    criteria.MET: Outcome.ELIGIBLE,
    criteria.UNKNOWN: Outcome.POSSIBLY,
    criteria.NOT_MET: Outcome.NOT_ELIGIBLE,
}


@dataclass
class Target:
    """What one match row is about: a trial, or one of its arms, and the tree to check."""

    trial_id: int
    arm_id: int | None
    node: dict
    # What a new match of the target starts with: the trial's items to check by hand
    # (all open) and whether a Norwegian patient can reach the trial.
    checks: int = 0
    reachable: bool = True
    # The diagnoses an episode must have for the tree to be anything but not met (None:
    # any): what the SQL prefilter asks of the diagnosis, so one patient's re-match skips
    # the targets the full run's prefilter would skip, without a query.
    diagnoses: frozenset | None = field(init=False)

    def __post_init__(self):
        self.diagnoses = _required_diagnoses(self.node)


def _required_diagnoses(node) -> frozenset | None:
    """Diagnoses required by a diagnosis criterion in the tree's top-level conjunction
    (all of them: their intersection); None when the tree requires none that way (an
    any-of or a negation never narrows it)."""
    if "all" in node:
        found = [r for child in node["all"] if (r := _required_diagnoses(child)) is not None]
        return frozenset.intersection(*found) if found else None
    if node.get("type") == "diagnosis":
        return frozenset(node["codes"])
    return None


@dataclass
class RunResult:
    created: int = 0
    updated: int = 0
    deactivated: int = 0
    flagged: int = 0
    evaluated: int = 0
    timings: dict = field(default_factory=dict)


# The last full list of targets, by the open trials' (id, version, last save): a patient's
# re-match (after every register save) reuses it and its compiled judges instead of
# reading and compiling every trial's criteria again; any change to a trial (criteria,
# arms' criteria, status, sites) saves it, and a trial opening or closing changes the list.
_cached: dict = {"key": None, "targets": None, "today": None, "judges": None}


def forget_targets() -> None:
    """Drop the cached targets and judges (the next run reads the trials again)."""
    _cached.update(key=None, targets=None, today=None, judges=None)


def open_targets(trial_ids=None) -> list[Target]:
    """Open trials with encoded criteria. When arms carry criteria of their own, each such
    arm is a target (trial criteria AND arm criteria); otherwise the trial is."""
    trials = Trial.objects.filter(
        overall_status__in=OPEN_STATUSES, criteria_encoded_at__isnull=False
    )
    if trial_ids is not None:
        return _targets_of(trials.filter(pk__in=trial_ids))
    key = tuple(_prepared_rows(_open_trial_versions))
    if _cached["key"] != key:
        _cached.update(key=key, targets=_targets_of(trials), today=None, judges=None)
    return _cached["targets"]


def _open_trial_versions(_=None):
    return (
        Trial.objects.filter(overall_status__in=OPEN_STATUSES, criteria_encoded_at__isnull=False)
        .order_by("pk")
        .values_list("pk", "version", "updated_at")
    )


# One patient's re-match sends the same three queries after every register save: each is
# compiled to SQL once per process (building and compiling them in the ORM took as long as
# running them), with an id no row has standing for the patient's.
_PREPARED: dict = {}
_SENTINEL = -7_300_001


def _prepared_rows(build, pk=None) -> list[tuple]:
    """The rows of build(pk), a values_list() queryset needing no conversions (ids,
    codes, dates, arrays of them), from its SQL compiled on first use."""
    found = _PREPARED.get(build)
    if found is None:
        found = _PREPARED[build] = build(_SENTINEL).query.sql_with_params()
    sql, params = found
    with connection.cursor() as cursor:
        cursor.execute(sql, [pk if p == _SENTINEL else p for p in params])
        return cursor.fetchall()


def _targets_of(trials) -> list[Target]:
    rows = list(trials.values_list("pk", "criteria", "has_nordic_site", "cross_border_referral"))
    extras = {
        pk: (len((tree or {}).get("check_by_hand", [])), nordic or referral)
        for pk, tree, nordic, referral in rows
    }
    trials = {pk: tree for pk, tree, _, _ in rows}
    arms = defaultdict(list)
    for arm_id, trial_id, node in TrialArm.objects.filter(
        trial__in=list(trials), criteria__isnull=False
    ).values_list("pk", "trial_id", "criteria"):
        arms[trial_id].append((arm_id, node))
    targets = []
    trials = {pk: criteria.compile_labels(tree) if tree else tree for pk, tree in trials.items()}
    for trial_id, tree in trials.items():
        base = tree["criteria"] if tree else {"all": []}
        if arms[trial_id]:
            targets += [
                Target(
                    trial_id,
                    arm_id,
                    {"all": [base, criteria.compile_labels(node)["criteria"]]},
                    *extras[trial_id],
                )
                for arm_id, node in arms[trial_id]
            ]
        else:
            targets.append(Target(trial_id, None, base, *extras[trial_id]))
    return targets


def load_facts(episodes) -> dict[int, Facts]:
    """Facts of every episode in the queryset: what the criterion kinds read
    (criteria_kinds.reads()), in one query per register table however many there are."""
    return read_register(episodes, criteria_kinds.reads())


def patient_facts(patient_id: int) -> dict[int, Facts]:
    """load_facts() of one patient's matchable episodes in one query (each register
    table read by a subquery per episode) instead of seven: one patient's re-match runs
    after every register save, and on a busy database each round trip costs more than
    the reads (benchmark_matching). tests/trials/test_engine.py checks it against
    load_facts() field by field."""
    facts = {}
    for (
        pk,
        patient,
        diagnosis,
        grade,
        birth,
        sex,
        names,
        results,
        systemic,
        ends,
        extent,
        ecog,
        karnofsky,
        follow_ups,
        progressions,
    ) in _prepared_rows(_facts_of_patient, patient_id):
        regimens = set(systemic)
        if ends:
            regimens.add("radiotherapy")
        facts[pk] = Facts(
            episode_id=pk,
            patient_id=patient,
            diagnosis=diagnosis,
            who_grade=grade,
            birth_date=birth,
            sex=sex,
            markers=dict(zip(names, results, strict=True)),
            regimens=regimens,
            radiotherapy_ends=list(ends),
            extent=extent or "",
            ecog=ecog,
            karnofsky=karnofsky,
            follow_ups=follow_ups or 0,
            progressions=progressions or 0,
        )
    return facts


def _facts_of_patient(patient_id):
    """patient_facts()'s query: each register table read by a subquery per episode, in
    the order load_facts() reads it (the latest surgery and assessment win)."""
    of_episode = {"episode": OuterRef("pk")}

    def column(model, name, *order):
        return ArraySubquery(model.objects.filter(**of_episode).order_by(*order).values(name))

    def latest(model, name, *order):
        return Subquery(model.objects.filter(**of_episode).order_by(*order).values(name)[:1])

    def counted(**condition):
        return Subquery(
            FollowUp.objects.filter(**of_episode, **condition)
            .order_by()
            .values("episode")
            .annotate(n=Count("pk"))
            .values("n")
        )

    return (
        TumourEpisode.objects.filter(MATCHABLE, patient_id=patient_id)
        .annotate(
            marker_names=column(MolecularMarker, "marker", "id"),
            marker_results=column(MolecularMarker, "result", "id"),
            systemic=column(SystemicTherapy, "regimen", "id"),
            radiotherapy_ends=column(RadiotherapyCourse, "end_date", "id"),
            extent=latest(Surgery, "extent_of_resection", "-surgery_date", "-id"),
            ecog=latest(PerformanceStatus, "ecog", "-assessed_on", "-id"),
            karnofsky=latest(PerformanceStatus, "karnofsky", "-assessed_on", "-id"),
            n_follow_ups=counted(),
            n_progressions=counted(progression=True),
        )
        .values_list(
            "pk",
            "patient_id",
            "diagnosis",
            "who_grade",
            "patient__birth_date",
            "patient__sex",
            "marker_names",
            "marker_results",
            "systemic",
            "radiotherapy_ends",
            "extent",
            "ecog",
            "karnofsky",
            "n_follow_ups",
            "n_progressions",
        )
    )


def judge(target: Target, facts: Facts, today) -> tuple[str, list, str]:
    """(outcome, per-criterion verdicts, fingerprint): the reference the runs' compiled
    judges (_judges) must agree with."""
    verdicts: list = []
    outcome = OUTCOME_OF[criteria.evaluate(target.node, facts, today, verdicts)]
    return outcome, verdicts, _digest(outcome, verdicts)


def _digest(outcome: str, verdicts: list) -> str:
    # A join, not json.dumps: a third of the time of a verdict over a million candidates.
    # md5 as a content address (equal rows, equal key), not for security.
    text = "\x1f".join([outcome, *map(_digest_piece, verdicts)])
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _digest_piece(v: dict) -> str:
    return f"{v['criterion']}\x1e{v['verdict']}\x1e{v['value']}\x1e{v['reason']}"


def _row_extra(row: dict) -> tuple[str, str]:
    return _digest_piece(row), json.dumps(row)


def _judges(targets, today) -> dict:
    if targets is _cached["targets"] and today == _cached["today"]:
        return _cached["judges"]
    judges = _compile_judges(targets, today)
    if targets is _cached["targets"]:
        _cached.update(today=today, judges=judges)
    return judges


def _compile_judges(targets, today) -> dict:
    """(trial, arm) -> a function of a list of episodes' facts giving, per episode,
    judge()'s outcome and fingerprint and the rows' entries (criteria.Compiled: each
    criterion's row, fingerprint piece and JSON are built once per distinct register
    value, shared by the episodes that have it), column-wise. The verdicts are
    [entry[1], ...] and their JSON "[" + ", ".join(entry[3], ...) + "]", which is what
    json.dumps gives for the list."""

    def judge_with(compiled):
        # Episodes with the same rows share one fingerprint: hash each combination once
        # (keyed by the tuple of shared piece strings, whose hashes Python caches).
        known: dict = {}

        def digest(combination: tuple) -> str:
            found = known.get(combination)
            if found is None:
                if len(known) >= _KNOWN_DIGESTS:  # a cached judge lives for the day
                    known.clear()
                found = known[combination] = hashlib.md5(
                    "\x1f".join(combination).encode(), usedforsecurity=False
                ).hexdigest()
            return found

        def run(facts):
            verdicts, columns = compiled.many(facts)
            outcomes = list(map(OUTCOME_OF.__getitem__, verdicts))
            pieces = [list(map(itemgetter(2), column)) for column in columns]
            digests = list(map(digest, zip(outcomes, *pieces, strict=True)))
            entries = list(zip(*columns, strict=True)) if columns else [()] * len(facts)
            return outcomes, digests, entries

        return run

    return {
        (t.trial_id, t.arm_id): judge_with(criteria.Compiled(t.node, today, _row_extra))
        for t in targets
    }


# A judge's fingerprints kept for combinations seen again (most episodes share one): at
# most this many, so the judges cached for patients' re-matches stay small all day.
_KNOWN_DIGESTS = 20000


class _JudgesOfOneTrial:
    """The nightly run's judges, compiled as each trial's turn comes and dropped with the
    previous trial's: each holds its rows, JSON and fingerprints per distinct register
    value, which for all 169 targets at once came to a few hundred MB at 50,000
    patients (benchmark_matching prints the run's peak)."""

    def __init__(self, targets, today):
        self.targets = {(t.trial_id, t.arm_id): t for t in targets}
        self.today, self.trial_id, self.judges = today, None, {}

    def __getitem__(self, key):
        if key[0] != self.trial_id:
            self.trial_id, self.judges = key[0], {}
        judge = self.judges.get(key)
        if judge is None:
            judge = self.judges[key] = _compile_judges([self.targets[key]], self.today)[key]
        return judge


def candidate_ids(target: Target, scope: Q, today) -> list[int]:
    """The SQL prefilter alone: episodes that may be eligible for the target."""
    return list(
        TumourEpisode.objects.filter(scope)
        .filter(criteria.prefilter(target.node, today))
        .values_list("pk", flat=True)
    )


def match_patient(patient_id: int) -> RunResult:
    """Every open trial against one patient's episodes: few episodes, so no prefilter;
    the facts (one query per register table) are checked in Python against every target."""
    targets = open_targets()
    facts = patient_facts(patient_id)
    stored = {
        (m.trial_id, m.arm_id, m.episode_id): m
        for m in map(StoredMatch._make, _prepared_rows(_stored_of_patient, patient_id))
    }
    # An episode whose diagnosis a target rules out is not met: nothing to write unless
    # a match is stored (judged again, so its verdicts say why it no longer fits).
    groups = []
    for t in targets:
        ids = [
            pk
            for pk, f in facts.items()
            if t.diagnoses is None
            or f.diagnosis in t.diagnoses
            or (t.trial_id, t.arm_id, pk) in stored
        ]
        if ids:
            groups.append(((t.trial_id, t.arm_id), ids))
    return _run(targets, facts, groups, stored)


def match_trial(trial_id: int) -> RunResult:
    targets = open_targets([trial_id])
    return _match_many(targets, existing=Match.objects.filter(trial_id=trial_id))


def match_all() -> RunResult:
    return _match_many(open_targets(), existing=Match.objects.all(), everyone=True)


class StoredMatch(NamedTuple):
    """A stored match's state, as a run compares it with the new verdicts."""

    pk: int
    trial_id: int
    arm_id: int | None
    episode_id: int
    outcome: str
    verdict_set: str  # the fingerprint of its verdict list
    active: bool
    step: str
    needs_another_look: bool


def _stored(existing) -> dict:
    """(trial, arm, episode) -> the stored match's state, in one query."""
    return {
        (m.trial_id, m.arm_id, m.episode_id): m
        for m in map(StoredMatch._make, existing.values_list(*StoredMatch._fields))
    }


def _stored_of_patient(patient_id):
    return Match.objects.filter(patient_id=patient_id).values_list(*StoredMatch._fields)


def _without_gc(run):
    """A run over many episodes allocates millions of small objects that all live until
    it ends: the cyclic collector would rescan them again and again for nothing.
    Reference counting still frees what the run drops; the collector runs again
    afterwards."""

    @functools.wraps(run)
    def wrapped(*args, **kwargs):
        enabled = gc.isenabled()
        gc.disable()
        try:
            return run(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()

    return wrapped


@_without_gc
def _match_many(targets, *, existing, everyone: bool = False) -> RunResult:
    today = timezone.localdate()
    started = time.perf_counter()
    keys = {(t.trial_id, t.arm_id) for t in targets}
    if everyone:
        # The nightly run, streamed: the prefilter's queries run (on a second connection
        # when no transaction is open) while every matchable episode's facts are loaded,
        # and each trial is judged as soon as its targets' candidates arrive, against its
        # own stored matches, loaded then and dropped after. Holding every stored match
        # and every candidate list at once took 1.1 GB at 50,000 patients and 700,000
        # matches (benchmark_matching prints the peak).
        candidates = _candidates(targets, today)
        facts = load_facts(TumourEpisode.objects.filter(MATCHABLE))
        prefiltered = loaded = time.perf_counter()
        result = _run_segments(
            targets,
            facts,
            _segments_by_trial(candidates, targets),
            _JudgesOfOneTrial(targets, today),
        )
        _recount()
    else:
        evaluated = {
            (t.trial_id, t.arm_id, pk)
            for t, ids in _candidates(targets, today, threaded=False)
            for pk in ids
        }
        prefiltered = time.perf_counter()
        stored = _stored(existing)
        evaluated.update(key for key, row in stored.items() if row.active and key[:2] in keys)
        ids = {key[2] for key in evaluated}
        facts = load_facts(TumourEpisode.objects.filter(MATCHABLE, pk__in=ids)) if ids else {}
        loaded = time.perf_counter()
        groups = _grouped(evaluated)
        result = _run(targets, facts, groups, stored)
    result.timings.update(
        prefilter=prefiltered - started,
        loaded=loaded - prefiltered,
        total=time.perf_counter() - started,
    )
    return result


def _recount() -> None:
    """The queue's kept counts (models.MatchCount) counted again from the matches once a
    night: the run's own changes folded into a row per bucket, and any drift from
    writers that raced each other mended (about a second at 700,000 matches)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT trials_matchcount_rebuild()")


def _segments_by_trial(candidates, targets):
    """(stored matches, [((trial, arm), episode ids), ...]) per trial, as its targets'
    candidates arrive (open_targets lists a trial's targets together), each trial's
    stored matches loaded then (the match_trial_queue index starts with the trial).
    Stored active matches are judged again even when the prefilter now drops them, so
    their verdicts say why they no longer fit. Last, the active matches of trials that
    are no longer matched at all (closed, criteria removed): all gone."""
    for trial_id, items in itertools.groupby(candidates, key=lambda item: item[0].trial_id):
        stored = _stored(Match.objects.filter(trial_id=trial_id))
        active = defaultdict(set)
        for key, row in stored.items():
            if row.active:
                active[key[:2]].add(key[2])
        groups = [
            ((t.trial_id, t.arm_id), set(ids).union(active.get((t.trial_id, t.arm_id), ())))
            for t, ids in items
        ]
        yield stored, groups
    matched = {t.trial_id for t in targets}
    yield _stored(Match.objects.filter(active=True).exclude(trial_id__in=matched)), []


def _grouped(evaluated: set) -> list:
    """(trial, arm, episode) keys as [((trial, arm), [episode, ...]), ...]."""
    by_target = defaultdict(list)
    for key in evaluated:
        by_target[key[:2]].append(key[2])
    return list(by_target.items())


def _candidates(targets, today, *, threaded: bool = True):
    """(target, candidate episode ids) for each target, in order: candidate_ids()'s
    queries. With no transaction open they run on a second connection in a thread,
    started now, so the caller can load other things meanwhile; inside a transaction
    (whose rows a second connection could not see) they run as the caller iterates."""
    if not threaded or connection.in_atomic_block:
        return ((target, candidate_ids(target, MATCHABLE, today)) for target in targets)
    # Bounded: the prefilter may run ahead of the judging by a few targets only, so the
    # candidate lists of every target are never held at once.
    found = queue.Queue(maxsize=4)
    stopped = threading.Event()  # the run ended early (failed): stop queueing

    def put(item) -> bool:
        while not stopped.is_set():
            try:
                found.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def work():
        try:
            for target in targets:
                if not put((target, candidate_ids(target, MATCHABLE, today))):
                    return
            put(None)
        except BaseException as error:  # re-raised in the run's thread
            put(error)
        finally:
            connection.close()

    threading.Thread(target=work, name="match-prefilter", daemon=True).start()

    def results():
        try:
            while (item := found.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stopped.set()

    return results()


def _run(targets, facts, groups, stored: dict) -> RunResult:
    """Verdicts for the evaluated (episode, target) pairs, given as groups
    ((trial, arm), episode ids), compared with the stored rows as they are worked out
    (no second pass over a million results); only changes are written."""
    return _run_segments(targets, facts, [(stored, groups)])


def _run_segments(targets, facts, segments, judges=None) -> RunResult:
    """_run over segments (stored rows, their groups): each segment's stored rows are
    needed only while its groups are judged. `judges`: (trial, arm) -> judge, by default
    every target's, compiled at once (and cached with the open targets)."""
    writer = _Writer(
        timezone.now(),
        {t.trial_id: f"\t{t.checks}\t{'t' if t.reachable else 'f'}" for t in targets},
    )
    try:
        return _judge_and_write(targets, facts, segments, writer, judges)
    except BaseException:
        writer.abort()
        raise


def _judge_and_write(targets, facts, segments, writer, judges=None) -> RunResult:
    today = timezone.localdate()
    now = writer.now
    result = RunResult()
    started = time.perf_counter()
    if judges is None:
        judges = _judges(targets, today)
    to_create, updated, gone_rows, events, gone = [], [], [], [], []
    evaluated = 0
    # The verdict lists the writes refer to, each sent once a trial (fingerprint -> JSON;
    # a list names its trial's criteria, so trials seldom share one); those already
    # stored are skipped by the insert (ON CONFLICT DO NOTHING).
    verdict_sets = {}
    created = changed = 0
    for stored, groups in segments:
        seen, sent = set(), set()
        for (trial_id, arm_id), episode_ids in groups:
            if len(to_create) + len(updated) >= _BATCH:
                # New and changed matches go out in batches with the lists they refer
                # to: a run that changes every match never holds them all.
                created, changed = created + len(to_create), changed + len(updated)
                writer.insert(to_create, verdict_sets, updated)
                to_create, verdict_sets, updated = [], {}, []
            episodes = [facts[pk] for pk in episode_ids if pk in facts]
            outcomes, digests, entries = judges[trial_id, arm_id](episodes)
            for episode, outcome, digest, parts in zip(
                episodes, outcomes, digests, entries, strict=True
            ):
                key = (trial_id, arm_id, episode.episode_id)
                seen.add(key)
                row = stored.get(key)
                if row is None:
                    if outcome == Outcome.NOT_ELIGIBLE:
                        continue
                    to_create.append(
                        (episode.episode_id, episode.patient_id, trial_id, arm_id, outcome, digest)
                    )
                elif row.verdict_set != digest or row.active != (outcome != Outcome.NOT_ELIGIBLE):
                    _changed(result, row, outcome, digest, now, updated, events)
                else:
                    continue
                if digest not in sent:
                    sent.add(digest)
                    verdict_sets[digest] = "[" + ", ".join([part[3] for part in parts]) + "]"
        # Stored matches the run no longer finds: trial closed, patient died, or
        # prefiltered out. Their verdicts stay as the coordinator last saw them (the
        # fingerprint is kept; it was worked out with an eligible or possibly eligible
        # outcome, so it differs from any not-eligible one and a later run that judges
        # the match again rewrites it). Classified below, once for the whole run.
        evaluated += len(seen)
        gone += [row for key, row in stored.items() if key not in seen and row.active]
    result.evaluated = evaluated
    if gone:
        open_trials = set(
            Trial.objects.filter(
                pk__in={row.trial_id for row in gone},
                overall_status__in=OPEN_STATUSES,
                criteria_encoded_at__isnull=False,
            ).values_list("pk", flat=True)
        )
        dead = set(
            TumourEpisode.objects.filter(pk__in={row.episode_id for row in gone})
            .exclude(patient__vital_status=Patient.VitalStatus.ALIVE)
            .values_list("pk", flat=True)
        )
        for row in gone:
            reason = (
                "trial closed"
                if row.trial_id not in open_trials
                else "patient died"
                if row.episode_id in dead
                else "no longer eligible"
            )
            flag = _flag(row.step, row.outcome, Outcome.NOT_ELIGIBLE)
            if flag:
                events.append(_flag_event(row.pk, row.outcome, f"not eligible ({reason})", now))
            gone_rows.append(
                Match(
                    pk=row.pk,
                    outcome=Outcome.NOT_ELIGIBLE,
                    active=False,
                    inactive_reason=reason,
                    outcome_changed_at=now,
                    needs_another_look=row.needs_another_look or flag,
                )
            )
        result.deactivated += len(gone_rows)
    result.flagged = len(events)
    judged = time.perf_counter()
    writer.finish(to_create, verdict_sets, updated, gone_rows, events)
    result.created = created + len(to_create)
    result.updated = changed + len(updated)
    result.timings.update(judged=judged - started, written=time.perf_counter() - judged)
    return result


_BATCH = 20000


class _Writer:
    """A run's writes, all in one transaction. New matches go out in batches while the
    run still works out verdicts: with no transaction open around the run (the Celery
    tasks, the benchmark), on a second connection in a thread, so PostgreSQL inserts and
    checks one batch on one core while Python judges the next on the other; inside a
    caller's transaction (tests, a caller's atomic block), on that connection at the
    end, since a second connection could not see that transaction's rows."""

    STATE = ["outcome", "active", "inactive_reason", "outcome_changed_at", "needs_another_look"]
    ABORT = object()

    def __init__(self, now, per_trial: dict):
        self.now = now
        self.per_trial = per_trial  # trial id -> COPY text of checks_pending, reachable
        self.threaded = not connection.in_atomic_block
        self.held: list = []  # batches kept for the end when not threaded
        self.queue = None
        self.error = None

    def insert(self, rows: list, verdict_sets: dict, updated: list) -> None:
        if not self.threaded:
            self.held.append((rows, verdict_sets, updated))
            return
        if self.queue is None:
            # Bounded: judging may run ahead of the COPY by two batches, no more, so the
            # new matches of a whole run are never held at once (benchmark_matching's peak).
            self.queue = queue.Queue(maxsize=2)
            self.thread = threading.Thread(target=self._work, name="match-writer", daemon=True)
            self.thread.start()
        self._put((rows, verdict_sets, updated))

    def _put(self, item) -> None:
        """Queue for the writer thread; if it stopped (an error), raise that error rather
        than wait on a full queue for ever."""
        while True:
            try:
                self.queue.put(item, timeout=0.5)
                return
            except queue.Full:
                if not self.thread.is_alive():
                    raise self.error or RuntimeError("The match writer stopped.") from None

    def finish(
        self, rows: list, verdict_sets: dict, updated: list, gone_rows: list, events: list
    ) -> None:
        if self.queue is None:
            if rows or updated or gone_rows or self.held:
                self._write([*self.held, (rows, verdict_sets, updated)], (gone_rows, events))
            return
        self._put((rows, verdict_sets, updated))
        self._put(_Rest((gone_rows, events)))
        self._join()

    def abort(self) -> None:
        """The run failed: the thread rolls back what it inserted."""
        if self.queue is not None and self.thread.is_alive():
            try:
                self._put(self.ABORT)
            except BaseException:  # noqa: S110 - it stopped on its own: nothing to roll back
                pass
            self.thread.join()

    def _join(self) -> None:
        self.thread.join()
        if self.error is not None:
            raise self.error

    def _work(self) -> None:
        rest = []

        def batches():
            while True:
                item = self.queue.get()
                if item is self.ABORT:
                    raise RuntimeError("The matching run failed; its inserts are rolled back.")
                if isinstance(item, _Rest):
                    rest.append(item)
                    return
                yield item

        try:
            self._write(batches(), rest, immediate=True)
        except BaseException as error:  # re-raised in the run's thread
            self.error = error
        finally:
            connection.close()

    def _write(self, batches, rest, immediate: bool = False) -> None:
        with transaction.atomic(), pghistory.context(source="matching"):
            if (
                immediate
            ):  # its own transaction: foreign keys checked as batches arrive, not all at commit
                with connection.cursor() as cursor:
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for rows, verdict_sets, updated in batches:
                _insert_verdict_sets(verdict_sets)
                _insert(rows, self.now, self.per_trial)
                Match.objects.bulk_update(updated, [*self.STATE, "verdict_set"], batch_size=2000)
            gone_rows, events = rest[0] if isinstance(rest, list) else rest
            Match.objects.bulk_update(gone_rows, self.STATE, batch_size=2000)
            ReviewEvent.objects.bulk_create(events)


class _Rest(tuple):
    """The writer's last item: (gone_rows, events)."""


_COPY_COLUMNS = (
    "episode_id, patient_id, trial_id, arm_id, outcome, fingerprint, checks_pending, reachable, "
    "active, inactive_reason, "
    "needs_another_look, step, close_reason, notes, version, matched_at, outcome_changed_at"
)


def _changed(result, row: StoredMatch, outcome, digest, now, updated: list, events: list) -> None:
    """A stored match whose verdicts changed: the update, and a flag when it was reviewed."""
    active = outcome != Outcome.NOT_ELIGIBLE
    before = row.outcome if row.active else "inactive"
    flag = _flag(row.step, before, outcome)
    if flag:
        events.append(_flag_event(row.pk, before, outcome, now))
    if row.active and not active:
        result.deactivated += 1
    updated.append(
        Match(
            pk=row.pk,
            outcome=outcome,
            verdict_set_id=digest,
            active=active,
            inactive_reason="" if active else "no longer eligible",
            outcome_changed_at=now,
            needs_another_look=row.needs_another_look or flag,
        )
    )


def _insert_verdict_sets(verdict_sets: dict) -> None:
    """The verdict lists a batch's matches refer to, before them, in one statement: one
    JSON array of {"f": fingerprint, "r": rows} (the rows' JSON is already built), those
    already stored skipped."""
    if not verdict_sets:
        return
    text = "[" + ",".join([f'{{"f":"{f}","r":{v}}}' for f, v in sorted(verdict_sets.items())]) + "]"
    with connection.cursor() as cursor:
        cursor.execute(  # the table name is the model's, never input
            f"INSERT INTO {VerdictSet._meta.db_table} (fingerprint, rows) SELECT f, r "  # noqa: S608
            "FROM jsonb_to_recordset(%s::jsonb) AS x(f text, r jsonb) ON CONFLICT DO NOTHING",
            [text],
        )


def _insert(rows: list[tuple], now, per_trial: dict) -> None:
    """New matches by COPY, _BATCH rows a statement: an INSERT ... SELECT unnest() of text
    arrays spent most of its time quoting and parsing the arrays (benchmark_matching).
    COPY's text format: tab-separated, \\N for NULL (the columns are ids, codes and
    fingerprints: no tab, newline or backslash to escape)."""
    table = Match._meta.db_table
    # active, inactive_reason, needs_another_look, step, close_reason, notes, version, matched_at,
    # outcome_changed_at
    constant = (
        "\t".join(["", "t", "", "f", Step.NEW.value, "", "", "1", now.isoformat(), now.isoformat()])
        + "\n"
    )
    null = "\\N"
    # In (episode, trial) order: the unique index, the patient index and the foreign-key
    # checks then walk their pages in order instead of at random (a third less time).
    rows = sorted(rows, key=itemgetter(0, 2))
    with connection.cursor() as cursor:
        for start in range(0, len(rows), _BATCH):
            text = "".join(
                [
                    f"{e}\t{p}\t{t}\t{null if a is None else a}\t{o}\t{f}{per_trial[t]}{constant}"
                    for e, p, t, a, o, f in rows[start : start + _BATCH]
                ]
            )
            cursor.copy_expert(
                f"COPY {table} ({_COPY_COLUMNS}) FROM STDIN", io.StringIO(text), 1 << 20
            )


def _flag(step: str, old_outcome: str | None, new_outcome: str) -> bool:
    """A reviewed match (past "new", not closed) whose outcome changed needs another look."""
    return step not in (Step.NEW, Step.CLOSED) and old_outcome != new_outcome


def _flag_event(match_id: int, old: str, new: str, now) -> ReviewEvent:
    label = dict(Outcome.choices)
    return ReviewEvent(
        match_id=match_id,
        kind=ReviewEvent.Kind.FLAG,
        at=now,
        note=f"Outcome changed from {label.get(old, old).lower()} to "
        f"{label.get(new, new).lower()}: "
        "look again.",
    )
