"""Monthly indicator reports by subscription: a member chooses indicators, a hospital (one
of their own, or the national report) and optionally a health region; on the first of each
month a beat task (tasks.send_monthly_indicator_reports) queues one thin task per
subscription, which makes (or finds) the past month's report and e-mails a LINK to it.
The e-mail holds no figures and no patient data: the report is behind sign-in and MFA.
Once per subscription and month (IndicatorMailing), however often the task runs."""

from __future__ import annotations

import zlib
from datetime import date

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from consortium.models import InboxItem, Institution, User
from consortium.services import inbox_deliver

from . import indicator_reports
from . import indicator_selectors as selectors
from .indicators import CATALOGUE
from .models import IndicatorMailing, IndicatorReport, IndicatorSubscription

MONTHS = (
    "January February March April May June July August September October November December"
).split()


def subscriptions_of(user) -> list[IndicatorSubscription]:
    return list(IndicatorSubscription.objects.filter(user=user).select_related("institution"))


def _may_subscribe(user, institution) -> bool:
    return (
        institution is None
        or user.is_consortium_admin
        or institution.pk in selectors.user_institution_ids(user)
    )


def subscription_create(
    *, user, institution_code: str = "", region: str = "", indicators=()
) -> IndicatorSubscription:
    """Subscribe; bad choices are named by field. A hospital's report only for its members
    (and admins): it holds that hospital's exact figures."""
    errors = {}
    institution = None
    if institution_code:
        institution = Institution.objects.filter(
            kind=Institution.Kind.HOSPITAL, code=institution_code
        ).first()
        if institution is None:
            errors["institution"] = f"No hospital with the code {institution_code}."
    if region and region not in Institution.HealthRegion.values:
        errors["region"] = f"One of: {', '.join(Institution.HealthRegion.values)}."
    unknown = [code for code in indicators if code not in CATALOGUE]
    if unknown:
        errors["indicators"] = f"No such indicator: {', '.join(unknown)}."
    if errors:
        raise ValidationError(errors)
    if not _may_subscribe(user, institution):
        raise PermissionDenied("A hospital's monthly report is for its own members.")
    chosen = [code for code in CATALOGUE if code in set(indicators)]  # catalogue order
    try:
        with transaction.atomic():
            return IndicatorSubscription.objects.create(
                user=user, institution=institution, region=region, indicators=chosen
            )
    except IntegrityError:
        raise ValidationError(
            {"institution": "You already subscribe to this report; remove that one first."}
        ) from None


def subscription_delete(*, user, subscription_id: int) -> None:
    deleted, _ = IndicatorSubscription.objects.filter(user=user, pk=subscription_id).delete()
    if not deleted:
        raise IndicatorSubscription.DoesNotExist


def past_month(today: date | None = None) -> date:
    """The month a mailing on `today` covers: the one before it."""
    today = today or timezone.localdate()
    return date(today.year - 1, 12, 1) if today.month == 1 else date(today.year, today.month - 1, 1)


def monthly_recipients() -> list[int]:
    return list(
        IndicatorSubscription.objects.filter(user__is_active=True).values_list("pk", flat=True)
    )


def monthly_report(institution_id: int | None, month: date) -> IndicatorReport:
    """The month's report of a place (the year through that month), made once and shared
    by all its subscribers: a transaction-level advisory lock keeps two tasks from making
    two (PostgreSQL docs, "Advisory Locks",
    https://www.postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS)."""
    key = zlib.crc32(f"indicator-month:{institution_id}:{month:%Y-%m}".encode())
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])
        report = (
            IndicatorReport.objects.filter(
                year=month.year,
                month=month.month,
                institution_id=institution_id,
                requested_by__isnull=True,
            )
            .exclude(status=IndicatorReport.Status.FAILED)
            .order_by("-requested_at")
            .first()
        )
        if report is None:
            report = IndicatorReport.objects.create(
                year=month.year, month=month.month, institution_id=institution_id
            )
    # Idempotent: a finished report is left as it is; a second task waits for the first.
    return indicator_reports.report_generate(report.pk)


def _link(path: str) -> str:
    return f"{settings.NBTC_BASE_URL.rstrip('/')}{path}"


def subscription_send(*, subscription_id: int, month: date) -> bool:
    """E-mail one subscriber the link to the month's report, once. False when nothing was
    sent (already sent, or the member may no longer see that hospital's report)."""
    subscription = IndicatorSubscription.objects.select_related("user", "institution").get(
        pk=subscription_id
    )
    user: User = subscription.user
    if not user.is_active or not _may_subscribe(user, subscription.institution):
        return False
    if IndicatorMailing.objects.filter(subscription=subscription, month=month).exists():
        return False
    report = monthly_report(subscription.institution_id, month)
    with transaction.atomic():
        mailing, created = IndicatorMailing.objects.select_for_update().get_or_create(
            subscription=subscription, month=month, defaults={"report": report}
        )
        if not created:
            return False
        place = subscription.institution.name if subscription.institution else "Norway"
        chosen = subscription.indicators or list(CATALOGUE)
        query = f"?year={month.year}" + (
            f"&region={subscription.region}" if subscription.region else ""
        )
        page = reverse("registry:indicators")
        lines = [f"- {CATALOGUE[code].title}: {_link(page + query)}#{code}" for code in chosen]
        inbox_deliver(
            recipients=[user],
            kind=InboxItem.Kind.REPORT_READY,
            text=f"The monthly report of the quality indicators for {place}, "
            f"{MONTHS[month.month - 1]} {month.year}, is ready.",
            url=reverse("registry:indicator_report", args=[report.pk]),
            key=f"registry.indicator_mailing:{mailing.pk}",
        )
        # Sent inside the transaction: if the mail fails, the month's row is rolled back
        # (with the inbox item) and a retry sends it.
        send_mail(
            f"NBTC quality indicators: {place}, {MONTHS[month.month - 1]} {month.year}",
            f"The monthly report of the quality indicators for {place}, {month.year} through "
            f"{MONTHS[month.month - 1]}, is ready (sign in to open it):\n\n"
            f"{_link(reverse('registry:indicator_report', args=[report.pk]))}\n\n"
            "The indicators you follow:\n" + "\n".join(lines) + "\n\n"
            "This e-mail holds no figures and no patient data. Change or end the subscription: "
            f"{_link(reverse('registry:indicator_subscriptions'))}",
            None,
            [user.email],
        )
    return True
