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


@shared_task(acks_late=True)
def compute_indicator_snapshot(snapshot_id: int) -> int:
    """Compute one indicator snapshot (on demand, or queued by the nightly task)."""
    from . import indicator_services

    return indicator_services.snapshot_compute(snapshot_id).pk


@shared_task(acks_late=True)
def nightly_indicator_snapshot() -> int:
    """Nightly (beat): the national snapshot of every indicator, once per day."""
    from . import indicator_services

    snapshot = indicator_services.nightly_snapshot()
    return indicator_services.snapshot_compute(snapshot.pk).pk


@shared_task(acks_late=True)
def generate_indicator_report(report_id: int) -> int:
    """Make one indicator report's PDF and CSV, its progress stored as it goes."""
    from . import indicator_reports

    return indicator_reports.report_generate(report_id).pk


@shared_task(
    acks_late=True, autoretry_for=(ConnectionError, OSError), retry_backoff=True, max_retries=5
)
def notify_mdt_decision(decision_id: int, version: int) -> int:
    """E-mail the treating clinicians the board's decision (sent once per version)."""
    from . import meeting_services

    return meeting_services.decision_notify(decision_id=decision_id, version=version)


@shared_task(acks_late=True)
def generate_mdt_summary(summary_id: int) -> int:
    """Make one meeting summary's page body and PDF."""
    from . import meeting_summary

    return meeting_summary.summary_generate(summary_id).pk


@shared_task(acks_late=True)
def summarise_ended_meetings() -> list[int]:
    """Beat: a meeting that ended with decisions gets its summary without being asked."""
    from . import meeting_services

    return meeting_services.summaries_for_ended_meetings()


@shared_task(acks_late=True)
def build_research_extract(extract_id: int) -> int:
    """Build one research extract's files, its progress stored as it goes."""
    from . import research_extracts

    return research_extracts.extract_build(extract_id).pk


@shared_task(acks_late=True)
def expire_research_extracts() -> int:
    """Daily (beat): remove the files of deliveries past their download period."""
    from . import research_extracts

    return research_extracts.expire_extracts()


@shared_task(acks_late=True)
def send_access_review_summaries() -> int:
    """Monthly (beat, on the 1st): queue last month's access-log summary for each
    institution with admins; returns how many were queued."""
    from django.utils import timezone

    from . import access_review

    month = access_review.last_month(timezone.localdate())
    institutions = access_review.summary_recipients()
    for institution_id in institutions:
        send_access_review_summary.delay(institution_id, month.isoformat())
    return len(institutions)


@shared_task(
    acks_late=True, autoretry_for=(ConnectionError, OSError), retry_backoff=True, max_retries=5
)
def send_access_review_summary(institution_id: int, month: str) -> int:
    from datetime import date

    from django.conf import settings

    from . import access_review

    return access_review.summary_send(
        institution_id=institution_id,
        month=date.fromisoformat(month),
        base_url=settings.NBTC_BASE_URL,
    )


@shared_task(acks_late=True)
def send_monthly_indicator_reports() -> int:
    """Monthly (beat, the 1st): one mailing task per subscription for the past month."""
    from . import indicator_subscriptions

    month = indicator_subscriptions.past_month().isoformat()
    recipients = indicator_subscriptions.monthly_recipients()
    for subscription_id in recipients:
        send_indicator_subscription.delay(subscription_id, month)
    return len(recipients)


@shared_task(
    acks_late=True, autoretry_for=(ConnectionError, OSError), retry_backoff=True, max_retries=5
)
def send_indicator_subscription(subscription_id: int, month: str) -> bool:
    """E-mail one subscriber the link to the month's report (once per month)."""
    from datetime import date

    from . import indicator_subscriptions

    return indicator_subscriptions.subscription_send(
        subscription_id=subscription_id, month=date.fromisoformat(month)
    )


@shared_task(acks_late=True)
def reproduce_indicator_snapshot(reproduction_id: int) -> int:
    """Recompute a snapshot from the change history and compare it (an admin's request)."""
    from . import indicator_services

    return indicator_services.reproduction_run(reproduction_id).pk
