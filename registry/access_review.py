"""Reads for the access-log review: who looked at which patient, on which page, and the
automatic flags a reviewer looks at first. Normen requires that the log is reviewed
(Normen Faktaark 15, logging og innsyn i logg,
https://ehelse.no/normen/normen-dokumenter/logging-og-innsyn-i-logg-faktaark-15), and
pasientjournalloven § 22 forbids reading without a care need ("snoking"). The flags are the
patterns Norwegian hospitals' log controls look for first:

- another health region: the patient's health region is none of the member's
  institutions' regions (the four RHFs' patients are each their own region's care);
- many patients: the member opened TOO_MANY_PATIENTS or more different patients' own
  pages within one clock hour (lists are left out: a list page logs every row shown);
- outside working hours: before 07:00 or from 17:00 on weekdays, or at a weekend, local
  time (Europe/Oslo);
- new care relationship: the member declared a care relationship to the patient
  (CareRelationshipDeclaration) at most NEW_DECLARATION_DAYS before the access.

Each flag is a column of the query, so the review filters by it and pages by keyset with
the flags already on every row (one query per page)."""

from datetime import UTC, date, datetime, time, timedelta
from functools import reduce
from operator import or_
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.core.mail import send_mail
from django.db import transaction
from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    ExpressionWrapper,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Extract, TruncHour
from django.urls import reverse
from django.utils import timezone

from consortium.csv_safe import safe_writer
from consortium.models import AccessLog, InboxItem, Institution, Membership, Role, User
from consortium.services import inbox_deliver

from .models import AccessReviewSummary, CareRelationshipDeclaration, Patient

LOCAL_TIME_ZONE = "Europe/Oslo"
TOO_MANY_PATIENTS = 20
NEW_DECLARATION_DAYS = 30
WORKDAY_START, WORKDAY_END = 7, 17  # local hours: 07:00 up to 17:00
SPAN_READ_WHOLE = 6  # hours: a page spanning fewer has its members' hours read as one range

FLAGS = {
    "other_region": "Patient of another health region",
    "many_patients": f"{TOO_MANY_PATIENTS} or more patients within an hour",
    "outside_hours": "Outside working hours",
    "new_care_relationship": "Newly declared care relationship",
}

# The pages' and endpoints' names in words. A name not listed reads as its words.
PAGE_WORDS = {
    "registry:patient": "Patient page",
    "registry:patient_list": "Patient list",
    "registry:patient_edit": "Patient details form",
    "registry:patient_national_id": "H-number replacement form",
    "registry:patient_history": "Patient history",
    "registry:patient_access": "Patient access log",
    "registry:access_review": "Access-log review",
    "registry:access_review_export": "Access-log export (CSV)",
    "registry:care_declaration": "Care relationship declaration",
    "registry:episode": "Tumour report section",
    "registry:episode_submit": "Report submitted",
    "registry:episode_reopen": "Report reopened",
    "registry:markers": "Molecular markers form",
    "registry:worklist": "Worklist",
    "registry:indicators": "Quality indicators",
    "registry:indicator_missed": "Indicator: patients missing the target",
    "registry:indicator_notified": "Indicator: notified cases",
    "registry:indicator_report": "Indicator report",
    "trials:match_queue": "Trial match queue",
    "trials:match_detail": "Trial match",
    "trials:trial_detail": "Trial page",
    "trials:criteria_edit": "Trial criteria form",
    "screening:request_list": "Screening requests",
    "screening:request": "Screening request",
    "screening:request_create": "New screening request",
    "screening:results": "Screening results",
    "screening:report": "Screening report",
    "screening:report_edit": "Screening report form",
    "screening:report_pdf": "Screening report (PDF)",
    "screening:lab_dashboard": "Lab dashboard",
    "screening:notifications": "Screening notifications",
    "screening:shipment": "Shipment",
    "screening:shipment_create": "New shipment",
    "screening:sample_create": "New sample",
    "screening:sample_label": "Sample label",
    "screening:receipt": "Sample receipt",
    "screening:plate_upload": "Plate upload",
    "screening:plate_override": "Plate override",
}
LIST_PAGES = [
    "registry:patient_list",
    "registry:worklist",
    "registry:indicator_missed",
    "registry:indicator_notified",
    "trials:match_queue",
    "screening:request_list",
    "screening:lab_dashboard",
    "screening:notifications",
    "api:registry_patients",
    "api:registry_patient_search",
    "api:registry_worklist",
    "api:trials_matches",
    "api:screening_requests",
    # The review itself lists entries.
    "registry:access_review",
    "registry:access_review_export",
    "api:registry_access_log",
    "api:registry_access_log_export",
]


def page_in_words(name: str) -> str:
    if name in PAGE_WORDS:
        return PAGE_WORDS[name]
    app, _, rest = name.partition(":")
    if app == "api":
        words = rest.split("_", 1)[-1] if "_" in rest else rest
        return f"{words.replace('_', ' ').capitalize()} (API)"
    return (rest or name).replace("_", " ").capitalize()


def page_choices() -> list[tuple[str, str]]:
    return sorted(PAGE_WORDS.items(), key=lambda item: item[1])


def many_patients_only(entries: QuerySet[AccessLog]) -> QuerySet[AccessLog]:
    """The entries whose member opened TOO_MANY_PATIENTS or more patients' own pages in
    the entry's clock hour: a correlated count per row (the flag filter and the summary;
    pages mark their own rows with mark_many_patients, one query)."""
    at = AccessLog._meta.get_field("at")
    hour_start = OuterRef("hour_start")
    opened_that_hour = (
        AccessLog.objects.filter(
            user=OuterRef("user_id"),
            at__gte=hour_start,
            at__lt=ExpressionWrapper(hour_start + Value(timedelta(hours=1)), output_field=at),
        )
        .exclude(page__in=LIST_PAGES)
        .order_by()
        .values("user")
        .annotate(patients=Count("patient_id", distinct=True))
        .values("patients")
    )
    # Whole hours are the same in UTC and Oslo; truncated in UTC, the hour compares with
    # the column without a time-zone conversion between them.
    return (
        entries.annotate(hour_start=TruncHour("at", tzinfo=UTC))
        .annotate(patients_that_hour=Subquery(opened_that_hour, output_field=IntegerField()))
        .filter(patients_that_hour__gte=TOO_MANY_PATIENTS)
    )


def mark_many_patients(entries) -> list:
    """Set `many_patients` on each of these rows (a page, a chunk of an export) with one
    grouped count of the patients their members opened in each of the rows' clock hours:
    only those (member, hour) pairs are read, each a range of the (user, at) index."""
    entries = list(entries)
    if not entries:
        return entries
    hours = [e.at.astimezone(UTC).replace(minute=0, second=0, microsecond=0) for e in entries]
    pairs = {(e.user_id, hour) for e, hour in zip(entries, hours, strict=True)}
    if max(hours) - min(hours) <= timedelta(hours=SPAN_READ_WHOLE):
        # A page of a busy log spans minutes: one range, pruned to its partition at planning.
        those_hours = Q(
            user_id__in={u for u, _ in pairs},
            at__gte=min(hours),
            at__lt=max(hours) + timedelta(hours=1),
        )
    else:  # a sparse page (one patient over years): only the rows' own hours
        those_hours = reduce(
            or_,
            (
                Q(user_id=user, at__gte=hour, at__lt=hour + timedelta(hours=1))
                for user, hour in pairs
            ),
        )
    counts = {
        (row["user_id"], row["hour"]): row["patients"]
        for row in AccessLog.objects.filter(those_hours)
        .exclude(page__in=LIST_PAGES)
        .annotate(hour=TruncHour("at", tzinfo=UTC))
        .order_by()
        .values("user_id", "hour")
        .annotate(patients=Count("patient_id", distinct=True))
    }
    for entry, hour in zip(entries, hours, strict=True):
        entry.many_patients = counts.get((entry.user_id, hour), 0) >= TOO_MANY_PATIENTS
    return entries


def with_flags(entries: QuerySet[AccessLog]) -> QuerySet[AccessLog]:
    """The log's rows with the member, the patient's register number and health region,
    and three flags as columns (see the module's docstring for each rule); the fourth,
    many patients, is mark_many_patients (or many_patients_only to filter by it)."""
    patient = Patient.objects.filter(pk=OuterRef("patient_id")).order_by()
    at = AccessLog._meta.get_field("at")
    regional = Membership.objects.filter(user=OuterRef("user_id")).exclude(
        institution__health_region=""
    )
    return (
        entries.select_related("user")
        .annotate(
            register_number=Subquery(patient.values("register_number")[:1]),
            patient_region=Subquery(patient.values("health_region")[:1]),
            local_hour=Extract("at", "hour", tzinfo=ZoneInfo(LOCAL_TIME_ZONE)),
            local_weekday=Extract("at", "iso_week_day", tzinfo=ZoneInfo(LOCAL_TIME_ZONE)),
        )
        .annotate(
            other_region=Case(
                When(Q(patient_region="") | Q(patient_region__isnull=True), then=Value(False)),
                When(~Exists(regional), then=Value(False)),  # a member of no region's institution
                When(
                    Exists(regional.filter(institution__health_region=OuterRef("patient_region"))),
                    then=Value(False),
                ),
                default=Value(True),
                output_field=BooleanField(),
            ),
            outside_hours=Case(
                When(
                    Q(local_weekday__gte=6)
                    | Q(local_hour__lt=WORKDAY_START)
                    | Q(local_hour__gte=WORKDAY_END),
                    then=Value(True),
                ),
                default=Value(False),
                output_field=BooleanField(),
            ),
            new_care_relationship=Exists(
                CareRelationshipDeclaration.objects.filter(
                    member=OuterRef("user_id"),
                    patient=OuterRef("patient_id"),
                    at__lte=OuterRef("at"),
                    at__gte=ExpressionWrapper(
                        OuterRef("at") - Value(timedelta(days=NEW_DECLARATION_DAYS)),
                        output_field=at,
                    ),
                )
            ),
        )
    )


def flags_of(entry: AccessLog) -> list[str]:
    return [words for flag, words in FLAGS.items() if getattr(entry, flag, False)]


def reviewable_institutions() -> QuerySet[Institution]:
    return Institution.objects.order_by("name")


def reviewable_members() -> QuerySet[User]:
    return User.objects.order_by("sort_name", "email")


COUNT_CAP = 10_000
EXPORT_LIMIT = 50_000


class TooManyToExport(Exception):
    pass


def capped_count(entries: QuerySet[AccessLog], cap: int = COUNT_CAP) -> int | None:
    """How many entries match, or None past `cap`: counting ten million rows costs more
    than the page (the reviewer narrows the period or the member instead)."""
    # values("id"): the flags' subqueries are computed only where a filter needs them,
    # not for every counted row.
    counted = entries.order_by().values("id")[: cap + 1].count()
    return None if counted > cap else counted


def local_time(moment) -> str:
    return timezone.localtime(moment, ZoneInfo(LOCAL_TIME_ZONE)).strftime("%d.%m.%Y %H:%M:%S")


CSV_HEADER = [
    "Time (Europe/Oslo)",
    "Member",
    "E-mail",
    "Patient",
    "Page",
    "Path",
    "Method",
    "IP address",
    "Flags",
]


def csv_row(entry: AccessLog) -> list:
    return [
        local_time(entry.at),
        entry.user.full_name,
        entry.user.email,
        entry.register_number or f"(patient id {entry.patient_id})",
        page_in_words(entry.page),
        entry.path,
        entry.method,
        entry.ip or "",
        "; ".join(flags_of(entry)),
    ]


def write_csv(stream, entries: QuerySet[AccessLog]) -> int:
    """The entries as CSV through the platform's safe writer; returns the rows written."""
    writer = safe_writer(stream)
    writer.writerow(CSV_HEADER)
    written = 0
    chunk = []
    for entry in entries.iterator(chunk_size=2000):
        chunk.append(entry)
        if len(chunk) == 2000:
            writer.writerows(csv_row(e) for e in mark_many_patients(chunk))
            written, chunk = written + len(chunk), []
    writer.writerows(csv_row(e) for e in mark_many_patients(chunk))
    return written + len(chunk)


# --- The monthly summary ------------------------------------------------------------


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """The month's first and the next month's first local midnight (Europe/Oslo)."""
    zone = ZoneInfo(LOCAL_TIME_ZONE)
    first = month.replace(day=1)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return datetime.combine(first, time.min, zone), datetime.combine(following, time.min, zone)


def institution_month(institution: Institution, month: date) -> dict:
    """The month's entries by the institution's members: how many, how many patients,
    how many carry each flag, and the members with the most flagged entries."""
    start, end = month_bounds(month)
    entries = with_flags(
        AccessLog.objects.filter(
            at__gte=start,
            at__lt=end,
            user__in=Membership.objects.filter(institution=institution).values("user"),
        )
    )
    figures = entries.order_by().aggregate(
        entries=Count("id"), patients=Count("patient_id", distinct=True)
    )
    # One count per flag: PostgreSQL cannot filter an aggregate by the annotations' aliases.
    columns = [f for f in FLAGS if f != "many_patients"]
    busy = many_patients_only(entries).values("id")
    any_flag = reduce(or_, (Q(**{f: True}) for f in columns)) | Q(id__in=busy)
    figures["flagged"] = entries.filter(any_flag).count()
    for flag in columns:
        figures[flag] = entries.filter(**{flag: True}).count()
    figures["many_patients"] = entries.filter(id__in=busy).count()
    figures["members"] = list(
        entries.filter(any_flag)
        .order_by()
        .values("user__full_name", "user__email")
        .annotate(flagged=Count("id"))
        .order_by("-flagged", "user__email")[:10]
    )
    return figures


def last_month(today: date) -> date:
    first = today.replace(day=1)
    return (first - timedelta(days=1)).replace(day=1)


def summary_recipients() -> list[int]:
    """Institutions with at least one active consortium admin among their members."""
    return list(
        Institution.objects.filter(
            membership__user__is_active=True, membership__user__role=Role.ADMIN
        )
        .distinct()
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def summary_send(*, institution_id: int, month: date, base_url: str = "") -> int:
    """E-mail the institution's admins the month's summary, once per institution and
    month (a repeated or retried task finds the month's row and sends nothing). Register
    numbers never go in the mail: figures, members' names and a link to the review.
    Returns the entries summarised (0: nothing sent)."""
    institution = Institution.objects.get(pk=institution_id)
    month = month.replace(day=1)
    admins = list(
        User.objects.filter(
            is_active=True, role=Role.ADMIN, membership__institution=institution
        ).values_list("email", flat=True)
    )
    with transaction.atomic():
        summary, created = AccessReviewSummary.objects.select_for_update().get_or_create(
            institution=institution, month=month
        )
        if not created or not admins:
            return 0
        figures = institution_month(institution, month)
        summary.entries, summary.flagged = figures["entries"], figures["flagged"]
        summary.save(update_fields=["entries", "flagged"])
        start, end = month_bounds(month)
        query = urlencode(
            {
                "institution": institution.code,
                "since": start.date().isoformat(),
                "until": (end.date() - timedelta(days=1)).isoformat(),
            }
        )
        link = f"{base_url.rstrip('/')}{reverse('registry:access_review')}?{query}"
        lines = [
            f"Access-log summary for {institution.name}, {month:%m.%Y} (members of "
            "the institution, Norwegian time).",
            "",
            f"Entries: {figures['entries']}; patients: {figures['patients']}; "
            f"flagged entries: {figures['flagged']}.",
            *(f"- {words}: {figures[flag]}" for flag, words in FLAGS.items()),
        ]
        if figures["members"]:
            lines += ["", "Members with the most flagged entries:"]
            lines += [
                f"- {m['user__full_name'] or m['user__email']} ({m['user__email']}): {m['flagged']}"
                for m in figures["members"]
            ]
        lines += ["", f"Review them in the NBTC platform: {link}"]
        inbox_deliver(
            recipients=User.objects.filter(
                is_active=True, role=Role.ADMIN, membership__institution=institution
            ).values_list("pk", flat=True),
            kind=InboxItem.Kind.REPORT_READY,
            text=f"The access-log summary of {institution.name} for {month:%m.%Y} is ready: "
            f"{figures['entries']} entries, {figures['flagged']} flagged.",
            url=f"{reverse('registry:access_review')}?{query}",
            key=f"registry.access_summary:{summary.pk}",
        )
        # Sent inside the transaction: a failed mail rolls the month's row back (with the
        # inbox items) for a retry.
        send_mail(
            f"NBTC access-log summary {month:%m.%Y}: {institution.name}",
            "\n".join(lines),
            None,
            admins,
        )
    return figures["entries"]
