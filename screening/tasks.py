"""Background jobs of the screening app. Thin: they call one service; safe to retry
(each alert is raised once per shipment and kind, so a second run sends nothing)."""

from celery import shared_task
from django.utils import timezone

from . import services


@shared_task(acks_late=True)
def check_open_shipments() -> int:
    """Every 5 minutes (beat): alert the sender and the lab when a shipment nears or passes
    its viability window, or a reading leaves the allowed range. Returns alerts raised."""
    return len(services.shipments_check(now=timezone.now()))


@shared_task(acks_late=True)
def requeue_lost_analyses() -> list[int]:
    """Every minute (beat): analyses whose worker stopped sending its heartbeat start again."""
    return services.analysis_requeue_lost(now=timezone.now())


@shared_task(acks_late=True)
def analyse_plates(run_id: int) -> str:
    """Started after an upload (or a QC override) commits: normalise, check, fit and score
    the run. Safe to redeliver (acks_late): a finished run is left as it is."""
    return services.analysis_run(run_id=run_id).status
