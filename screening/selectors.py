"""Reads of the screening app, always through who may see what:
- clinicians and coordinators see the requests of patients of their institutions;
- lab scientists see the requests sent to their lab (register number only, never the
  name or the national ID);
- everyone else (researchers, admins) sees none: anything not visible answers 404.
Times are computed in UTC (timestamps), shown in Europe/Oslo by the templates."""

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, OuterRef, Prefetch, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from consortium import formats
from consortium.models import Institution, Role, User
from consortium.prepared import PreparedQuery
from registry.models import PatientInstitution
from registry.selectors import CLINICAL_ROLES, at_own_institution, user_institution_ids

from .charts import curve_chart
from .models import (
    HandOver,
    Receipt,
    RequestEvent,
    Sample,
    ScreeningRequest,
    Shipment,
    State,
    TemperatureReading,
)
from .transport import custody_gaps, hours_between, shipment_status


def user_lab_ids(user: User) -> list[int]:
    if not user.is_authenticated or not user.is_lab_scientist:
        return []
    return list(
        Institution.objects.filter(
            pk__in=user_institution_ids(user), kind=Institution.Kind.LAB
        ).values_list("pk", flat=True)
    )


def is_lab_scientist_of(user: User, lab_id: int) -> bool:
    return user.is_authenticated and user.is_lab_scientist and lab_id in user_institution_ids(user)


def lab_scientists(lab_id: int) -> list[User]:
    return list(User.objects.filter(role=Role.LAB_SCIENTIST, is_active=True, institutions=lab_id))


def request_clinicians(request: ScreeningRequest) -> list[User]:
    """Who hears of the lab's answers: the requesting clinician."""
    return [request.requested_by] if request.requested_by.is_active else []


def can_see_requests(user: User) -> bool:
    return user.is_authenticated and user.sees_screening_requests


def require_viewer(user: User) -> None:
    """The pages' and the API's one check before a list of requests or notifications."""
    if not can_see_requests(user):
        raise PermissionDenied(
            "Only clinicians, coordinators and lab scientists see screening requests."
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
    if user.is_lab_scientist:
        return ScreeningRequest.objects.filter(lab__in=user_institution_ids(user))
    return ScreeningRequest.objects.none()


def request_list(user: User, *, state: str = "") -> QuerySet[ScreeningRequest]:
    requests = requests_visible_to(user).select_related(
        "patient", "lab", "surgery_hospital", "panel"
    )
    return requests.filter(state=state) if state else requests


def request_get(*, user: User, request_id: int) -> ScreeningRequest:
    return get_object_or_404(
        requests_visible_to(user)
        .select_related("patient", "episode", "lab", "surgery_hospital", "panel", "requested_by")
        .prefetch_related("drugs"),
        pk=request_id,
    )


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
    return get_object_or_404(
        _samples_queryset().select_related("request__patient", "request__lab"),
        pk=sample_id,
        request__in=requests_visible_to(user),
    )


def shipment_get(*, user: User, shipment_id: int) -> Shipment:
    return get_object_or_404(
        Shipment.objects.select_related(
            "sample__sample_type",
            "sample__request__patient",
            "sample__request__lab",
            "sample__receipt",
            "dispatched_by",
        ),
        pk=shipment_id,
        sample__request__in=requests_visible_to(user),
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


# --- Chain of custody and the timeline ----------------------------------------------------


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
                f"{formats.quantity(sample.amount, 'sample_amount')}{formats.UNIT_SPACE}"
                f"{sample.get_amount_unit_display()}, "
                f"{sample.medium})",
                str(sample.registered_by),
            )
        )
        shipment = getattr(sample, "shipment", None) if hasattr(sample, "shipment") else None
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
            received = hasattr(sample, "receipt")
            for problem in custody_gaps(handovers, received=received):
                at = handovers[-1].at if handovers else sample.receipt.arrived_at
                entries.append(TimelineEntry(at, "custody-gap", problem, error=True))
        receipt = sample.receipt if hasattr(sample, "receipt") else None
        if receipt:
            entries.append(
                TimelineEntry(
                    receipt.arrived_at,
                    "receipt",
                    f"Sample {sample.label_id} received: {receipt.get_condition_display()}, "
                    f"{formats.quantity(receipt.arrival_celsius, 'temperature')} on arrival"
                    + (
                        f", viability {formats.quantity(receipt.viability_percent, 'viability')}"
                        if receipt.viability_percent is not None
                        else ""
                    )
                    + (
                        f", {formats.amount(receipt.viable_cell_count, 'cell_count')} viable cells"
                        if receipt.viable_cell_count is not None
                        else ""
                    ),
                    str(receipt.received_by),
                )
            )
    kinds = {"state-requested": 0, "collected": 1, "handover": 2, "receipt": 3, "custody-gap": 4}
    return sorted(entries, key=lambda e: (e.at, kinds.get(e.kind, 5)))


# --- Lab dashboard ----------------------------------------------------------------------


def duration_text(hours: float | None) -> str:
    """Hours up to two days, then days: stages run from hours (transport) to weeks (culture)."""
    if hours is None:
        return "–"
    return formats.quantity(hours, "hours") if hours < 48 else formats.quantity(hours / 24, "days")


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


def patient_requests(user: User, patient) -> list[ScreeningRequest]:
    """One query: the patient's requests this member may see. The patient page has read
    the patient's institutions, so a clinician's or coordinator's scope is decided without
    the EXISTS of requests_visible_to."""
    if user.role in CLINICAL_ROLES:
        if not at_own_institution(user, patient):
            return []
        return _REQUESTS_OF(patient=patient.pk)
    return list(_of_patient(requests_visible_to(user), patient.pk))


def _of_patient(requests: QuerySet[ScreeningRequest], patient_id: int):
    return requests.filter(patient_id=patient_id).select_related("lab").order_by("-created_at")


# A clinician's or coordinator's view, built once per process (consortium.prepared).
_REQUESTS_OF = PreparedQuery(
    lambda patient: _of_patient(ScreeningRequest.objects.all(), patient), patient=-1
)


def readings_for(shipment: Shipment) -> list[TemperatureReading]:
    return list(shipment.readings.order_by("at"))


# --- Plate results: who sees them -----------------------------------------------------------------
# The lab's scientists see everything of their lab's requests; the patient's clinicians and
# coordinators see results only through a released (signed) report: numbers become clinical
# when the lab signs them. Everyone else gets 404 (requests_visible_to).


def sees_lab_results(user: User, request: ScreeningRequest) -> bool:
    return is_lab_scientist_of(user, request.lab_id)


def require_lab(user: User, screening_request: ScreeningRequest) -> None:
    """The check before the lab's own pages of a request (plates, overrides, reports)."""
    if not sees_lab_results(user, screening_request):
        raise PermissionDenied("Only the lab's scientists do this.")


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


def reports_for(user: User, screening_request: ScreeningRequest) -> QuerySet:
    """The request's report versions this member sees, newest first: every version for the
    lab, the released ones for the patient's clinicians and coordinators."""
    from .models import Report

    reports = screening_request.reports.select_related(
        "request__patient", "signed_by", "created_by"
    )
    if not sees_lab_results(user, screening_request):
        reports = reports.filter(status=Report.Status.RELEASED)
    return reports.order_by("-number")


def layout_templates(lab_id: int) -> QuerySet:
    """The lab's saved plate layouts: another lab's are neither offered nor found."""
    from .models import PlateLayoutTemplate

    return PlateLayoutTemplate.objects.filter(lab_id=lab_id)


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

    report = get_object_or_404(
        Report.objects.select_related(
            "request__patient", "request__episode", "request__lab", "run", "signed_by", "created_by"
        ),
        pk=report_id,
        request__in=requests_visible_to(user),
    )
    if report.status != Report.Status.RELEASED and not sees_lab_results(user, report.request):
        raise Http404("No such report.")
    return report


def plate_get(*, user: User, plate_id: int):
    from .models import Plate

    plate = get_object_or_404(
        Plate.objects.select_related("upload__request__lab", "upload__request__patient"),
        pk=plate_id,
        upload__request__in=requests_visible_to(user),
    )
    return plate  # the views let only the lab's scientists act on it (403 for the clinicians)
