"""A Celery worker killed (SIGKILL) in the middle of a plate analysis or a full re-match: the
run stops beating, the requeue beat task queues it again once the heartbeat is older than
HEARTBEAT_STALE (2 minutes), and a new worker finishes it with the numbers an uninterrupted
run gives. Workers are real `celery worker` processes on a Redis of the test's own.

To stop the first worker mid-run, deterministically, the test holds a lock on rows the run
must write last (the plates' QC figures; the match table), waits until the worker is blocked
on it and its heartbeat has beaten, then kills it."""

import time
from datetime import date, timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from consortium.heartbeat import HEARTBEAT_STALE
from consortium.services import outbox_enqueue
from screening import services as screening_services
from screening.models import AnalysisRun, DrugResult, Plate
from tests import faults
from tests.faults import wait_for, worker
from tests.screening.factories import bring_to, make_world, upload_two_plates
from tests.trials.factories import RECURRENT_GBM, episode, patient, trial
from trials import engine
from trials import services as trials_services
from trials.models import Match, MatchingRun
from trials.tasks import rematch_all

pytestmark = [pytest.mark.fault, pytest.mark.django_db(transaction=True)]
own_redis = faults.own_redis  # the fixture

FAST_BEATS = {"NBTC_HEARTBEAT_SECONDS": "0.5"}  # the workers' heartbeat, so the test is short


def _blocked_on(table: str) -> list[int]:
    """Backends of other processes waiting for a lock while writing `table`."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # read afresh inside a transaction
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query ILIKE %s AND pid <> pg_backend_pid()",
            [f"%{table}%"],
        )
        return [row[0] for row in cursor.fetchall()]


def _activity() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT pid, datname, state, wait_event_type, wait_event, pg_blocking_pids(pid), "
            "left(query, 200) FROM pg_stat_activity"
        )
        return "\n".join(map(str, cursor.fetchall()))


def _other_sessions() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def _dead_worker_left(model, pk: int, log: str):
    """After the kill: the killed worker's sessions end (the test has let go of its lock), and
    its run stays 'running' with a heartbeat that no longer moves."""
    wait_for(lambda: _other_sessions() == 0, what=f"the killed worker's sessions to end\n{log}")
    stuck = model.objects.get(pk=pk)
    assert stuck.status == "running"
    time.sleep(2)  # four beats of the dead worker
    assert model.objects.get(pk=pk).heartbeat_at == stuck.heartbeat_at
    return stuck


def _scores(run_id: int) -> list[tuple]:
    return list(
        DrugResult.objects.filter(run_id=run_id)
        .order_by("drug_name")
        .values_list("drug_name", "ic50_nm", "auc", "dss1", "dss2", "dss3", "selective_dss")
    )


def test_a_plate_analysis_whose_worker_is_killed_is_redone_with_the_same_numbers(own_redis):
    world = make_world()
    request = bring_to(world, "in_culture")
    upload = upload_two_plates(world, request)  # commits: the analysis goes to the broker
    run = AnalysisRun.objects.get(upload=upload)

    with transaction.atomic():
        list(Plate.objects.select_for_update(of=("self",)).filter(upload=upload))  # held: the kill
        with worker(own_redis.url, **FAST_BEATS) as first:
            wait_for(
                lambda: _blocked_on('UPDATE "screening_plate"'),
                what="the worker to reach the plates",
                log=lambda: first.output() + _activity(),
            )
            wait_for(
                lambda: (r := AnalysisRun.objects.get(pk=run.pk)).heartbeat_at > r.started_at,
                what="a heartbeat of the running analysis",
                log=lambda: first.output() + _activity(),
            )
            first.kill()
            log = first.output()
    stuck = _dead_worker_left(AnalysisRun, run.pk, log)
    assert not DrugResult.objects.filter(run=run).exists()

    # The requeue beat task's body: nothing yet while the heartbeat is younger than 2 minutes.
    assert screening_services.analysis_requeue_lost(now=timezone.now()) == []
    later = stuck.heartbeat_at + HEARTBEAT_STALE + timedelta(seconds=1)
    assert screening_services.analysis_requeue_lost(now=later) == [run.pk]
    assert AnalysisRun.objects.get(pk=run.pk).status == "queued"
    assert screening_services.analysis_requeue_lost(now=later) == []  # queued once

    with worker(own_redis.url, **FAST_BEATS) as second:
        wait_for(
            lambda: AnalysisRun.objects.get(pk=run.pk).status in ("done", "failed"),
            what="the second worker to finish the run",
            log=second.output,
        )
    run.refresh_from_db()
    assert run.status == "done", run.error
    redone = _scores(run.pk)
    assert len(redone) == 30

    # An uninterrupted run of the same upload (the task's body, here) gives the same numbers.
    uninterrupted = AnalysisRun.objects.create(upload=upload, requested_by=world.lab)
    screening_services.analysis_run(run_id=uninterrupted.pk)
    assert _scores(uninterrupted.pk) == redone


def test_a_full_rematch_whose_worker_is_killed_is_redone_with_the_same_matches(own_redis):
    t = trial(RECURRENT_GBM)
    eligible = episode(
        patient(),
        markers={"idh": "wildtype", "mgmt": "altered"},
        ecog=1,
        follow_ups=[True],
        regimens=["tmz_concomitant"],
        radiotherapy_end=date(2025, 3, 14),
    )
    episode(patient(), markers={"idh": "wildtype", "mgmt": "wildtype"}, ecog=1)  # not eligible
    outbox_enqueue(rematch_all)  # the nightly run, sent to the broker at once

    with transaction.atomic():
        with connection.cursor() as cursor:  # reads go on; the run's writes wait
            cursor.execute(f"LOCK TABLE {Match._meta.db_table} IN EXCLUSIVE MODE")
        with worker(own_redis.url, **FAST_BEATS) as first:
            wait_for(
                lambda: _blocked_on(Match._meta.db_table),
                what="the worker to write its matches",
                log=first.output,
            )
            wait_for(
                lambda: (r := MatchingRun.objects.get()).heartbeat_at > r.started_at,
                what="a heartbeat of the running re-match",
                log=first.output,
            )
            first.kill()
            log = first.output()
    run = MatchingRun.objects.get()
    stuck = _dead_worker_left(MatchingRun, run.pk, log)
    assert not Match.objects.exists()

    assert trials_services.matching_runs_requeue_lost(now=timezone.now()) == []
    later = stuck.heartbeat_at + HEARTBEAT_STALE + timedelta(seconds=1)
    assert trials_services.matching_runs_requeue_lost(now=later) == [run.pk]

    with worker(own_redis.url, **FAST_BEATS) as second:
        wait_for(
            lambda: MatchingRun.objects.get(pk=run.pk).status in ("done", "failed"),
            what="the second worker to finish the re-match",
            log=second.output,
        )
    run.refresh_from_db()
    assert (run.status, run.attempts) == ("done", 2), run.error
    assert run.result == {"created": 1, "updated": 0, "deactivated": 0}
    assert list(Match.objects.values_list("trial", "episode", "outcome")) == [
        (t.pk, eligible.pk, "eligible")
    ]
    # An uninterrupted run now finds nothing to change: the redone run left what it leaves.
    again = engine.match_all()
    assert (again.created, again.updated, again.deactivated) == (0, 0, 0)
