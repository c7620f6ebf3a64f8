"""Reads of the screening app, always through who may see what:
- clinicians and coordinators see the requests of patients of their institutions;
- lab scientists see the requests sent to their lab (register number only, never the
  name or the national ID);
- everyone else (researchers, admins) sees none: anything not visible answers 404.
Times are computed in UTC (timestamps), shown in Europe/Oslo by the templates."""

import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Exists, OuterRef, Prefetch, QuerySet
from django.http import Http404
from django.utils import timezone

from consortium.models import Institution, Role, User
from registry.models import PatientInstitution
from registry.selectors import CLINICAL_ROLES, user_institution_ids

from .models import (
    HandOver,
    Notification,
    Receipt,
    RequestEvent,
    Sample,
    ScreeningRequest,
    Shipment,
    State,
    TemperatureReading,
)


def user_lab_ids(user: User) -> list[int]:
    if not user.is_authenticated or user.role != Role.LAB_SCIENTIST:
        return []
    return list(
        Institution.objects.filter(
            pk__in=user_institution_ids(user), kind=Institution.Kind.LAB
        ).values_list("pk", flat=True)
    )


def is_lab_scientist_of(user: User, lab_id: int) -> bool:
    return (
        user.is_authenticated
        and user.role == Role.LAB_SCIENTIST
        and lab_id in user_institution_ids(user)
    )


def lab_scientists(lab_id: int) -> list[User]:
    return list(User.objects.filter(role=Role.LAB_SCIENTIST, is_active=True, institutions=lab_id))


def request_clinicians(request: ScreeningRequest) -> list[User]:
    """Who hears of the lab's answers: the requesting clinician."""
    return [request.requested_by] if request.requested_by.is_active else []


def can_see_requests(user: User) -> bool:
    return user.is_authenticated and (
        user.role in CLINICAL_ROLES or user.role == Role.LAB_SCIENTIST
    )


def requests_visible_to(user: User) -> QuerySet[ScreeningRequest]:
    if not user.is_authenticated:
        return ScreeningRequest.objects.none()
    if user.role in CLINICAL_ROLES:
        return ScreeningRequest.objects.filter(
            Exists(
                PatientInstitution.objects.filter(
                    patient=OuterRef("patient"), institution__in=user_institution_ids(user)
                )
            )
        )
    if user.role == Role.LAB_SCIENTIST:
        return ScreeningRequest.objects.filter(lab__in=user_institution_ids(user))
    return ScreeningRequest.objects.none()


def request_list(user: User, *, state: str = "") -> QuerySet[ScreeningRequest]:
    requests = requests_visible_to(user).select_related(
        "patient", "lab", "surgery_hospital", "panel"
    )
    return requests.filter(state=state) if state else requests


def request_get(*, user: User, request_id: int) -> ScreeningRequest:
    try:
        return (
            requests_visible_to(user)
            .select_related(
                "patient", "episode", "lab", "surgery_hospital", "panel", "requested_by"
            )
            .prefetch_related("drugs")
            .get(pk=request_id)
        )
    except ScreeningRequest.DoesNotExist:
        raise Http404("No such screening request.") from None


def _samples_queryset():
    return Sample.objects.select_related(
        "sample_type",
        "receipt",
        "receipt__received_by",
        "registered_by",
        "shipment",
        "shipment__dispatched_by",
    )


def request_samples(request: ScreeningRequest) -> list[Sample]:
    """The request's samples, oldest first, with shipment, receipt and hand-overs."""
    return list(
        _samples_queryset()
        .filter(request=request)
        .prefetch_related(
            Prefetch("shipment__handovers", queryset=HandOver.objects.select_related("entered_by"))
        )
    )


def current_sample(request: ScreeningRequest) -> Sample | None:
    # The newest registered: a replacement may have been collected earlier than the
    # rejected one (a spare piece from the same operation).
    return Sample.objects.filter(request=request).order_by("-id").first()


def sample_get(*, user: User, sample_id: int) -> Sample:
    try:
        return (
            _samples_queryset()
            .select_related("request__patient", "request__lab")
            .get(pk=sample_id, request__in=requests_visible_to(user))
        )
    except Sample.DoesNotExist:
        raise Http404("No such sample.") from None


def shipment_get(*, user: User, shipment_id: int) -> Shipment:
    try:
        return Shipment.objects.select_related(
            "sample__sample_type",
            "sample__request__patient",
            "sample__request__lab",
            "sample__receipt",
            "dispatched_by",
        ).get(pk=shipment_id, sample__request__in=requests_visible_to(user))
    except Shipment.DoesNotExist:
        raise Http404("No such shipment.") from None


# --- The clock and the temperature trace -----------------------------------------------


def hours_between(start: datetime, end: datetime) -> float:
    """Elapsed hours as the difference of POSIX timestamps: real hours, so a shipment
    across a daylight-saving change is neither an hour short nor long (Python subtracts
    two datetimes of the same non-UTC zone as wall-clock times)."""
    return (end.timestamp() - start.timestamp()) / 3600


@dataclass
class Excursion:
    """A run of readings outside the allowed range (docs/drug-sensitivity.md §2): start, length and
    extreme value. One reading alone is still an excursion."""

    start: datetime
    end: datetime
    extreme: Decimal
    readings: int

    @property
    def minutes(self) -> float:
        return hours_between(self.start, self.end) * 60


def excursions(readings, low: Decimal, high: Decimal) -> list[Excursion]:
    found: list[Excursion] = []
    current = None
    for reading in readings:
        outside = reading.celsius < low or reading.celsius > high
        if outside:
            worst = lambda a, b: a if abs(a - (low + high) / 2) >= abs(b - (low + high) / 2) else b  # noqa: E731
            if current is None:
                current = Excursion(reading.at, reading.at, reading.celsius, 1)
                found.append(current)
            else:
                current.end, current.readings = reading.at, current.readings + 1
                current.extreme = worst(current.extreme, reading.celsius)
        elif current is not None:
            current.end = reading.at  # back in range: the excursion lasted until this reading
            current = None
    return found


@dataclass
class ShipmentStatus:
    elapsed_hours: float
    window_hours: int
    percent: float
    hours_left: float
    near: bool
    passed: bool
    excursions: list[Excursion] = field(default_factory=list)


def shipment_status(
    shipment: Shipment, *, now: datetime | None = None, readings=None
) -> ShipmentStatus:
    """Where the sample stands against its window: up to its receipt when received, else
    up to `now`."""
    sample = shipment.sample
    sample_type = sample.sample_type
    receipt = sample.receipt if has_related(sample, "receipt") else None
    end = receipt.arrived_at if receipt else (now or timezone.now())
    elapsed = hours_between(sample.collected_at, end)
    window = sample_type.viability_hours
    percent = 100 * elapsed / window
    if readings is None:
        readings = list(shipment.readings.order_by("at"))
    # Only readings in transport count as excursions: a logger started in the ward or read
    # out at the lab logs room temperature before dispatch and after arrival.
    readings = [r for r in readings if shipment.dispatched_at <= r.at <= end]
    return ShipmentStatus(
        elapsed_hours=elapsed,
        window_hours=window,
        percent=percent,
        hours_left=window - elapsed,
        near=percent >= sample_type.warning_percent,
        passed=elapsed >= window,
        excursions=excursions(readings, sample_type.min_celsius, sample_type.max_celsius),
    )


def open_shipments() -> QuerySet[Shipment]:
    """Shipments still on the road: the request is in transit and the sample not received."""
    return Shipment.objects.filter(
        sample__request__state=State.IN_TRANSIT, sample__receipt__isnull=True
    ).select_related(
        "sample__sample_type",
        "sample__receipt",
        "sample__request__patient",
        "sample__request__lab",
        "sample__request__requested_by",
        "dispatched_by",
    )


def temperature_chart(
    shipment: Shipment, readings, *, width: int = 640, height: int = 220
) -> dict | None:
    """The trace as coordinates for an inline SVG (server-rendered; no script, no inline
    style under the CSP): the allowed band, the line, the out-of-range points."""
    if not readings:
        return None
    sample_type = shipment.sample.sample_type
    low, high = float(sample_type.min_celsius), float(sample_type.max_celsius)
    values = [float(r.celsius) for r in readings]
    y_min, y_max = min(values + [low]) - 2, max(values + [high]) + 2
    t0, t1 = readings[0].at.timestamp(), readings[-1].at.timestamp()
    span = (t1 - t0) or 1
    left, right, top, bottom = 48, width - 10, 10, height - 30

    def x(at):
        return round(left + (at.timestamp() - t0) / span * (right - left), 1)

    def y(value):
        return round(bottom - (value - y_min) / (y_max - y_min) * (bottom - top), 1)

    points = [(x(r.at), y(float(r.celsius)), r) for r in readings]
    ticks = [round(y_min + i * (y_max - y_min) / 4, 1) for i in range(5)]
    return {
        "width": width,
        "height": height,
        "left": left,
        "right": right,
        "top": top,
        "bottom": bottom,
        "band_y": y(high),
        "band_height": round(y(low) - y(high), 1),
        "band_width": right - left,
        "polyline": " ".join(f"{px},{py}" for px, py, _ in points),
        "outside": [(px, py) for px, py, r in points if not low <= float(r.celsius) <= high],
        "ticks": [(y(t), t) for t in ticks],
        "start": readings[0].at,
        "end": readings[-1].at,
        "low": low,
        "high": high,
    }


# --- Chain of custody and the timeline ----------------------------------------------------


def _same_person(a: str, b: str) -> bool:
    return " ".join(a.casefold().split()) == " ".join(b.casefold().split())


def custody_gaps(handovers, *, received: bool = False) -> list[str]:
    """Breaks in the chain (docs/drug-sensitivity.md §2: each receiver is the next giver): a
    hand-over with no receiver, or one whose giver is not who last received the package; and a
    received shipment with no hand-over at all (nobody recorded carrying it)."""
    problems = []
    if received and not handovers:
        problems.append(
            "Gap in custody: the sample was received but no hand-over was recorded between "
            "dispatch "
            "and receipt."
        )
    previous = None
    for number, handover in enumerate(handovers, start=1):
        when = timezone.localtime(handover.at).strftime("%d.%m.%Y %H:%M")
        if (
            previous is not None
            and previous.receiver
            and not _same_person(previous.receiver, handover.giver)
        ):
            problems.append(
                f"Gap in custody before hand-over {number} ({when}): {handover.giver} handed over, "
                f"but {previous.receiver} had received the package."
            )
        if not handover.receiver:
            problems.append(
                f"Gap in custody at hand-over {number} ({when}, {handover.place}): "
                f"{handover.giver} handed over to no one recorded."
            )
        previous = handover
    return problems


@dataclass
class TimelineEntry:
    at: datetime
    kind: str
    text: str
    by: str = ""
    error: bool = False


def request_timeline(
    request: ScreeningRequest, samples: list[Sample], events: list[RequestEvent]
) -> list[TimelineEntry]:
    entries = [
        TimelineEntry(
            e.at,
            f"state-{e.to_state}",
            (
                f"{State(e.from_state).label} → {State(e.to_state).label}"
                if e.from_state
                else "Requested"
            )
            + (f": {e.note}" if e.note else ""),
            str(e.by),
        )
        for e in events
    ]
    for sample in samples:
        entries.append(
            TimelineEntry(
                sample.collected_at,
                "collected",
                f"Sample {sample.label_id} collected ({sample.sample_type.name}, "
                f"{sample.amount} {sample.amount_unit}, {sample.medium})",
                str(sample.registered_by),
            )
        )
        shipment = getattr(sample, "shipment", None) if has_related(sample, "shipment") else None
        if shipment:
            handovers = list(shipment.handovers.all())
            for handover in handovers:
                entries.append(
                    TimelineEntry(
                        handover.at,
                        "handover",
                        f"Hand-over at {handover.place}: {handover.giver} → "
                        f"{handover.receiver or 'NO RECEIVER'}",
                        str(handover.entered_by),
                        error=not handover.receiver,
                    )
                )
            received = has_related(sample, "receipt")
            for problem in custody_gaps(handovers, received=received):
                at = handovers[-1].at if handovers else sample.receipt.arrived_at
                entries.append(TimelineEntry(at, "custody-gap", problem, error=True))
        receipt = sample.receipt if has_related(sample, "receipt") else None
        if receipt:
            entries.append(
                TimelineEntry(
                    receipt.arrived_at,
                    "receipt",
                    f"Sample {sample.label_id} received: {receipt.get_condition_display()}, "
                    f"{receipt.arrival_celsius} °C on arrival"
                    + (
                        f", viability {receipt.viability_percent} %"
                        if receipt.viability_percent is not None
                        else ""
                    )
                    + (
                        f", {receipt.viable_cell_count} viable cells"
                        if receipt.viable_cell_count is not None
                        else ""
                    ),
                    str(receipt.received_by),
                )
            )
    kinds = {"state-requested": 0, "collected": 1, "handover": 2, "receipt": 3, "custody-gap": 4}
    return sorted(entries, key=lambda e: (e.at, kinds.get(e.kind, 5)))


def has_related(obj, relation: str) -> bool:
    try:
        getattr(obj, relation)
    except Exception:  # RelatedObjectDoesNotExist of a reverse one-to-one
        return False
    return True


# --- Lab dashboard ----------------------------------------------------------------------


def duration_text(hours: float | None) -> str:
    """Hours up to two days, then days: stages run from hours (transport) to weeks (culture)."""
    if hours is None:
        return "–"
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def _median_hours(pairs) -> float | None:
    hours = [hours_between(a, b) for a, b in pairs if a and b]
    return round(statistics.median(hours), 1) if hours else None


def lab_dashboard(*, labs: list[int], now: datetime) -> dict:
    """The lab's day in a constant number of queries, whatever the volume."""
    requests = ScreeningRequest.objects.filter(lab__in=labs)
    waiting = list(
        requests.filter(state=State.REQUESTED)
        .select_related("patient", "surgery_hospital", "lab")
        .order_by("-priority", "created_at")
    )
    in_transit = list(
        open_shipments().filter(sample__request__lab__in=labs).order_by("expected_arrival")
    )
    for shipment in in_transit:
        shipment.status = shipment_status(shipment, now=now, readings=[])
    local_now = timezone.localtime(now)
    week_start = (local_now - timedelta(days=local_now.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    received = list(
        Receipt.objects.filter(sample__request__lab__in=labs, arrived_at__gte=week_start)
        .select_related("sample__request__patient", "sample__sample_type")
        .order_by("-arrived_at")
    )
    # Turnaround per stage (the headline figure, docs/drug-sensitivity.md §1): medians over
    # the year.
    since = now - timedelta(days=365)
    accepted = RequestEvent.objects.filter(
        request__lab__in=labs, to_state=State.ACCEPTED, at__gte=since
    ).values_list("request__created_at", "at")
    collection = Receipt.objects.filter(
        sample__request__lab__in=labs, arrived_at__gte=since
    ).values_list("sample__collected_at", "arrived_at")
    reported = {
        rid: at
        for rid, at in RequestEvent.objects.filter(
            request__lab__in=labs, to_state=State.REPORTED, at__gte=since
        ).values_list("request_id", "at")
    }
    first_accepted_receipt = {}
    for rid, at in (
        Receipt.objects.filter(sample__request__in=list(reported), accepted=True)
        .order_by("arrived_at")
        .values_list("sample__request_id", "arrived_at")
    ):
        first_accepted_receipt.setdefault(rid, at)
    return {
        "waiting": waiting,
        "in_transit": in_transit,
        "received": received,
        "week_start": week_start,
        "turnaround": {
            "request_to_acceptance": _median_hours(accepted),
            "collection_to_receipt": _median_hours(collection),
            "receipt_to_report": _median_hours(
                (first_accepted_receipt.get(rid), at) for rid, at in reported.items()
            ),
        },
        "counts": _state_counts(requests),
        "states": State.choices,
    }


def _state_counts(requests) -> dict[str, int]:
    return dict(requests.values_list("state").annotate(n=Count("id")).values_list("state", "n"))


# --- Patient page panel, notifications -----------------------------------------------------


def patient_requests(user: User, patient_id: int) -> list[ScreeningRequest]:
    """One query: the patient's requests this member may see."""
    return list(
        requests_visible_to(user)
        .filter(patient_id=patient_id)
        .select_related("lab")
        .order_by("-created_at")
    )


def notifications_for(user: User, *, limit: int = 100) -> list[Notification]:
    return list(
        Notification.objects.filter(
            user=user, request__in=requests_visible_to(user)
        ).select_related("request__patient")[:limit]
    )


def unread_count(user: User) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def readings_for(shipment: Shipment) -> list[TemperatureReading]:
    return list(shipment.readings.order_by("at"))


def lab_choices() -> QuerySet[Institution]:
    return Institution.objects.filter(kind=Institution.Kind.LAB).order_by("code")


# --- Plate results: who sees them -----------------------------------------------------------------
# The lab's scientists see everything of their lab's requests; the patient's clinicians and
# coordinators see results only through a released (signed) report: numbers become clinical
# when the lab signs them. Everyone else gets 404 (requests_visible_to).


def sees_lab_results(user: User, request: ScreeningRequest) -> bool:
    return is_lab_scientist_of(user, request.lab_id)


def latest_run(request: ScreeningRequest, *, done: bool = False):
    from .models import AnalysisRun

    runs = AnalysisRun.objects.filter(upload__request=request)
    if done:
        runs = runs.filter(status=AnalysisRun.Status.DONE)
    return runs.select_related("upload", "reference_set").order_by("-created_at", "-id").first()


def released_reports(request: ScreeningRequest):
    from .models import Report

    return list(
        Report.objects.filter(request=request, status=Report.Status.RELEASED)
        .select_related("signed_by", "run")
        .order_by("-number")
    )


def visible_run(user: User, request: ScreeningRequest):
    """The run this member may see: the lab the newest; a clinician the newest released
    report's run (None before a release)."""
    if sees_lab_results(user, request):
        return latest_run(request)
    reports = released_reports(request)
    return reports[0].run if reports else None


def run_plates(run) -> list:
    from .models import Plate

    return list(
        Plate.objects.filter(upload_id=run.upload_id)
        .select_related("override_by")
        .order_by("position")
    )


def ranked_results(run, *, drug_class: str = "") -> list:
    """Drugs ranked by selective DSS when the run had a reference set, else by DSS2 (FIMM's default
    score, docs/drug-sensitivity.md §6); drugs the reference set lacks after those it has; unscored
    drugs last, by name."""
    results = list(run.results.all())
    if drug_class:
        results = [r for r in results if r.drug_class == drug_class]
    return sorted(results, key=lambda r: r.rank_key)


def curves(results, threshold: float) -> list[tuple]:
    return [(r, curve_chart(r, threshold=threshold)) for r in results]


def report_top_drugs(report) -> list:
    """The report's top-ranked scored drugs (its run's ranking, report.top_drugs of them)."""
    return [r for r in ranked_results(report.run) if r.dss2 is not None][: report.top_drugs]


def report_context(report, *, frozen: bool = False) -> dict:
    """What the tumour board's report shows (web page and PDF). A released report shows
    the body made when it was signed (frozen=True), so later register edits, custody
    events or plate overrides never change a signed version; only a new version does."""
    screening_request = report.request
    versions = list(screening_request.reports.order_by("-number"))
    if frozen and report.body_html:
        from django.utils.safestring import mark_safe

        # Our own template's output, escaped when it was rendered at signing.
        return {
            "report": report,
            "req": screening_request,
            "versions": versions,
            "frozen_body": mark_safe(report.body_html),  # noqa: S308 - escaped at signing
        }
    ranked = report_top_drugs(report)
    threshold = report.run.thresholds.get("dss_threshold", 10.0)
    samples = request_samples(screening_request)
    events = list(screening_request.transitions.select_related("by"))
    return {
        "report": report,
        "req": screening_request,
        "episode": screening_request.episode,
        "markers": list(screening_request.episode.markers.all()),
        "timeline": request_timeline(screening_request, samples, events),
        "plates": run_plates(report.run),
        "curves": curves(ranked, threshold),
        "threshold": threshold,
        "versions": versions,
    }


def report_get(*, user: User, report_id: int):
    """A report: for the lab any version; for the patient's clinicians released ones."""
    from .models import Report

    try:
        report = Report.objects.select_related(
            "request__patient", "request__episode", "request__lab", "run", "signed_by", "created_by"
        ).get(pk=report_id, request__in=requests_visible_to(user))
    except Report.DoesNotExist:
        raise Http404("No such report.") from None
    if report.status != Report.Status.RELEASED and not sees_lab_results(user, report.request):
        raise Http404("No such report.")
    return report


def plate_get(*, user: User, plate_id: int):
    from .models import Plate

    try:
        plate = Plate.objects.select_related(
            "upload__request__lab", "upload__request__patient"
        ).get(pk=plate_id, upload__request__in=requests_visible_to(user))
    except Plate.DoesNotExist:
        raise Http404("No such plate.") from None
    return plate  # the views let only the lab's scientists act on it (403 for the clinicians)


# --- Drawings (inline SVG, server-rendered: no script, no inline style under the CSP) -------------


def curve_chart(result, *, threshold: float = 10.0, width: int = 260, height: int = 160) -> dict:
    """Points, the fitted 4PL and the threshold as SVG coordinates; x is log10(M) over the
    tested range, y is % inhibition from -20 to 120 (noise outside 0..100 is kept)."""
    import math

    from .analysis import logistic4

    left, right, top, bottom = 34, width - 6, 6, height - 20
    x_lo, x_hi = result.x_min - 0.25, result.x_max + 0.25
    y_lo, y_hi = -20.0, 120.0

    def sx(x):
        return round(left + (x - x_lo) / (x_hi - x_lo) * (right - left), 1)

    def sy(y):
        return round(bottom - (min(max(y, y_lo), y_hi) - y_lo) / (y_hi - y_lo) * (bottom - top), 1)

    points = [(sx(math.log10(c * 1e-9)), sy(v)) for c, v in result.points]
    line = ""
    if result.top is not None:
        steps = [result.x_min + i * (result.x_max - result.x_min) / 40 for i in range(41)]
        curve = (result.top, result.bottom, result.log_ic50, result.slope)
        line = " ".join(f"{sx(x)},{sy(float(logistic4(x, *curve)))}" for x in steps)
    ticks = [
        (sx(x), f"{10 ** (x + 9):g}")
        for x in range(math.ceil(result.x_min), math.floor(result.x_max) + 1)
    ]
    return {
        "width": width,
        "height": height,
        "left": left,
        "right": right,
        "top": top,
        "bottom": bottom,
        "points": points,
        "line": line,
        "threshold_y": sy(threshold),
        "zero_y": sy(0),
        "hundred_y": sy(100),
        "ticks": ticks,
    }


def heat_map(plate, wells, *, cell: int = 14) -> dict:
    """A plate as a grid of cells coloured by % inhibition in ten bands (CSS classes)."""
    from .plates import FORMATS, row_letter

    rows, columns = FORMATS[plate.upload.plate_format]
    cells = []
    for w in wells:
        band = (
            "empty" if w.inhibition is None else str(min(max(int((w.inhibition + 5) // 10), 0), 10))
        )
        cells.append(
            {
                "x": 20 + w.column * cell,
                "y": 14 + w.row * cell,
                "band": band,
                "role": w.role,
                "title": f"{w.well} {w.drug_name or w.get_role_display()}"
                + (f" {w.concentration_nm:g} nM" if w.concentration_nm else "")
                + (f": {w.inhibition:.0f} %" if w.inhibition is not None else ""),
            }
        )
    return {
        "width": 24 + columns * cell,
        "height": 18 + rows * cell,
        "cell": cell - 1,
        "cells": cells,
        "rows": [(14 + r * cell + cell - 4, row_letter(r)) for r in range(rows)],
        "columns": [(20 + c * cell + 2, c + 1) for c in range(columns)],
    }
