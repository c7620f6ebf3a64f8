"""Background jobs of the shared core. Thin: load by id, call one service."""

from celery import shared_task

from . import services
from .models import DirectorySuggestion


@shared_task(acks_late=True, autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=5)
def notify_directory_editors(suggestion_id: int) -> int:
    """E-mail coordinators and admins about a suggested correction. Safe to retry:
    a suggestion is announced once (services.suggestion_notify_editors checks)."""
    suggestion = DirectorySuggestion.objects.select_related("group", "suggested_by").get(
        pk=suggestion_id
    )
    return services.suggestion_notify_editors(suggestion=suggestion)


@shared_task(acks_late=True)
def relay_outbox() -> int:
    """Every minute (beat): hand follow-up work the broker missed to Celery (the
    transactional outbox, services.outbox_send); returns how many were sent."""
    total = 0
    while sent := services.outbox_send():
        total += sent
    return total


@shared_task(acks_late=True)
def access_log_partitions() -> list[str]:
    """Daily (beat): this month's and the next months' partitions of the access log
    exist before a row needs them (consortium/partitions.py); returns those it made."""
    from . import partitions

    return partitions.ensure_partitions()
