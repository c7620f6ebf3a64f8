"""Background matching. Thin: take ids, call one engine entry point; idempotent (the
engine diffs, so a retry or a duplicate writes nothing new) and acks_late (a worker lost
mid-run leaves the task queued)."""

from celery import shared_task

from . import engine

RETRY = {"acks_late": True, "autoretry_for": (ConnectionError, OSError), "retry_backoff": True, "max_retries": 5}


@shared_task(**RETRY)
def rematch_patient(patient_id: int) -> dict:
    """After a register change to this patient (registry.signals.register_changed)."""
    return vars(engine.match_patient(patient_id))


@shared_task(**RETRY)
def rematch_trial(trial_id: int) -> dict:
    """After a trial's criteria or status changed."""
    return vars(engine.match_trial(trial_id))


@shared_task(**RETRY)
def rematch_all() -> dict:
    """Nightly (beat): everything, which also catches patients crossing an age limit."""
    return vars(engine.match_all())
