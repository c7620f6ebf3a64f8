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
