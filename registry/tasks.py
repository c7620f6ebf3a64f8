"""Background jobs of the register. Thin: they take ids and call one service; each is
safe to retry (the digest is sent once per clinician and day)."""

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def send_worklist_digests() -> int:
    """Nightly (beat): queue one digest per clinician; returns how many were queued."""
    recipients = services.worklist_digest_recipients()
    for user_id in recipients:
        send_worklist_digest.delay(user_id)
    return len(recipients)


@shared_task(
    acks_late=True, autoretry_for=(ConnectionError, OSError), retry_backoff=True, max_retries=5
)
def send_worklist_digest(user_id: int) -> int:
    return services.worklist_digest_send(user_id=user_id)
