"""Background matching. Thin: take ids, call one engine entry point; idempotent (the
engine diffs, so a retry or a duplicate writes nothing new) and acks_late (a worker lost
mid-run leaves the task queued).

Runs never overlap: each holds one PostgreSQL advisory lock, so the nightly run and a
patient's re-match cannot both insert the same match or write results computed from
older data over fresher ones; a run that still collides (IntegrityError) or deadlocks is
retried, and the retry diffs again."""

from contextlib import contextmanager

from celery import shared_task
from django.db import IntegrityError, OperationalError, connection
from django.utils import timezone

from . import engine, services

RETRY = {
    "acks_late": True,
    "autoretry_for": (ConnectionError, OSError, IntegrityError, OperationalError),
    "retry_backoff": True,
    "max_retries": 5,
}
MATCHING_LOCK = 5_202_611  # any constant shared by all matching runs


@contextmanager
def one_run_at_a_time():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [MATCHING_LOCK])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [MATCHING_LOCK])


@shared_task(**RETRY)
def rematch_patient(patient_id: int) -> dict:
    """After a register change to this patient (registry.signals.register_changed)."""
    with one_run_at_a_time():
        return vars(engine.match_patient(patient_id))


@shared_task(**RETRY)
def rematch_trial(trial_id: int) -> dict:
    """After a trial's criteria or status changed."""
    with one_run_at_a_time():
        return vars(engine.match_trial(trial_id))


@shared_task(**RETRY)
def rematch_all(run_id: int | None = None) -> dict:
    """Nightly (beat): everything, which also catches patients crossing an age limit.
    Recorded as a MatchingRun with a heartbeat; run_id is a lost run started again."""
    with one_run_at_a_time():
        return services.matching_run_all(run_id=run_id)


@shared_task(acks_late=True)
def requeue_lost_matching_runs() -> list[int]:
    """Every minute (beat): full re-matches whose worker stopped its heartbeat start again."""
    return services.matching_runs_requeue_lost(now=timezone.now())


@shared_task(acks_late=True, autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=3)
def sync_catalogue() -> dict:
    """Weekly (beat): new, changed and closed brain-tumour trials from ClinicalTrials.gov.
    Idempotent: the importer upserts by NCT id, so a second run finds nothing new."""
    sync = services.catalogue_sync()
    return {
        "added": len(sync.added),
        "changed": len(sync.changed),
        "closed": len(sync.closed),
        "problems": len(sync.problems),
    }


@shared_task(acks_late=True)
def send_mdt_candidates() -> int:
    """Beat, daily: queue the day-before candidate-trial list of each of tomorrow's
    tumour boards; returns how many meetings."""
    from datetime import timedelta

    meetings = services.mdt_candidates_meetings(day=timezone.localdate() + timedelta(days=1))
    for meeting_id in meetings:
        send_mdt_candidates_for.delay(meeting_id)
    return len(meetings)


@shared_task(
    acks_late=True, autoretry_for=(ConnectionError, OSError), retry_backoff=True, max_retries=5
)
def send_mdt_candidates_for(meeting_id: int) -> int:
    return services.mdt_candidates_send(meeting_id=meeting_id)


@shared_task(
    acks_late=True, autoretry_for=(ConnectionError, OSError), retry_backoff=True, max_retries=5
)
def notify_trial_referral(referral_id: int) -> int:
    return services.referral_notify(referral_id=referral_id)
