"""Writes of the screening app and its business rules. Every write:
- checks the member's part (clinicians of the patient's institutions request, register
  the sample and ship it; scientists of the chosen lab review, receive and screen);
- moves the request only along TRANSITIONS, recording a RequestEvent;
- refuses a change made against an older version (EditConflict -> 409);
- keeps who and what in django-pghistory's context.
Rules raise ValidationError({field: message}); the pages and the API show the same text."""

import hashlib
import math
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pghistory
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import connection, transaction
from django.utils import timezone

from consortium import formats, uploads
from consortium import services as core_services
from consortium.exceptions import EditConflict, PasswordRefused
from consortium.heartbeat import HEARTBEAT_STALE, heartbeat
from consortium.models import InboxItem, Institution, Role, User
from consortium.services import inbox_deliver, outbox_enqueue
from registry.models import TumourEpisode
from registry.selectors import can_edit_patient

from . import analysis, logger_csv, plates, selectors, transport
from .models import (
    AnalysisRun,
    Drug,
    DrugPanel,
    DrugResult,
    HandOver,
    LabQcSettings,
    LoggerUpload,
    Plate,
    PlateLayoutTemplate,
    PlateUpload,
    Receipt,
    ReferenceSet,
    Report,
    RequestEvent,
    Sample,
    SampleType,
    ScreeningRequest,
    Shipment,
    ShipmentAlert,
    State,
    TemperatureReading,
    Well,
)

CLINICIAN, LAB = "clinician", "lab"

# Who may move a request from a state to another: the patient's clinicians or the lab's
# scientists. Anything not listed is refused, naming the allowed moves. Plate results
# move received -> in_culture -> screening -> reported when plate results come in.
TRANSITIONS: dict[str, dict[str, str]] = {
    State.REQUESTED: {State.ACCEPTED: LAB, State.DECLINED: LAB, State.CANCELLED: CLINICIAN},
    State.ACCEPTED: {State.SAMPLE_COLLECTED: CLINICIAN, State.CANCELLED: CLINICIAN},
    State.SAMPLE_COLLECTED: {State.IN_TRANSIT: CLINICIAN, State.CANCELLED: CLINICIAN},
    State.IN_TRANSIT: {State.RECEIVED: LAB, State.REJECTED: LAB},
    # A received sample may still fail (contamination, too few cells) before culture.
    State.RECEIVED: {State.IN_CULTURE: LAB, State.REJECTED: LAB},
    # A rejected sample: the hospital sends a new one, or gives up.
    State.REJECTED: {State.SAMPLE_COLLECTED: CLINICIAN, State.CANCELLED: CLINICIAN},
    # About a third of cultures never expand (Skaga et al. 2019, docs/drug-sensitivity.md
    # §1): the lab stops.
    State.IN_CULTURE: {State.SCREENING: LAB, State.CANCELLED: LAB},
    State.SCREENING: {State.REPORTED: LAB, State.CANCELLED: LAB},
    State.DECLINED: {},
    State.REPORTED: {},
    State.CANCELLED: {},
}
# Moves that carry data of their own and are made through their own service.
MADE_BY = {
    State.SAMPLE_COLLECTED: "registering the sample",
    State.IN_TRANSIT: "dispatching the shipment",
    State.RECEIVED: "recording the receipt",
}
NEEDS_REASON = {State.DECLINED, State.CANCELLED, State.REJECTED}
OPEN_SHIPMENT_STATES = {State.IN_TRANSIT}


def _label(state: str) -> str:
    return State(state).label.lower()


def allowed_next(state: str) -> list[str]:
    return list(TRANSITIONS[state])


def check_transition(current: str, wanted: str) -> None:
    """Refuse a move the table does not allow, naming current, wanted and allowed states."""
    if wanted not in State.values:
        raise ValidationError(
            {"state": f"Unknown state '{wanted}'; states are: {', '.join(State.values)}."}
        )
    if wanted not in TRANSITIONS[current]:
        allowed = ", ".join(_label(s) for s in TRANSITIONS[current]) or "none (it is final)"
        raise ValidationError(
            {
                "state": f"A request that is {_label(current)} cannot become {_label(wanted)}. "
                f"Allowed from {_label(current)}: {allowed}."
            }
        )


def _takes_part(by: User, screening_request: ScreeningRequest, part: str) -> bool:
    if part == LAB:
        return selectors.is_lab_scientist_of(by, screening_request.lab_id)
    return can_edit_patient(by, screening_request.patient)


def _require_part(by: User, screening_request: ScreeningRequest, part: str) -> None:
    if _takes_part(by, screening_request, part):
        return
    if part == LAB:
        raise PermissionDenied(f"Only scientists of {screening_request.lab.code} do this.")
    raise PermissionDenied("Only clinicians of the patient's institutions do this.")


def direct_moves(state: str) -> dict[str, str]:
    """The moves request_transition makes from `state` (to -> whose part they are): every
    allowed one except those that carry data of their own and go through their own service
    (a sample registered, dispatched, received or rejected on receipt)."""
    return {
        to: part
        for to, part in TRANSITIONS[state].items()
        if to not in MADE_BY and not (to == State.REJECTED and state == State.IN_TRANSIT)
    }


def moves_for(by: User, screening_request: ScreeningRequest) -> list[tuple[str, str]]:
    """(state, whose part) of the moves this member may make with request_transition now:
    what the request page offers."""
    return [
        (to, part)
        for to, part in direct_moves(screening_request.state).items()
        if _takes_part(by, screening_request, part)
    ]


def _history(by: User, screening_request: ScreeningRequest | None = None):
    return pghistory.context(
        user=by.pk,
        screening_request=screening_request.pk if screening_request else None,
        patient=screening_request.patient_id if screening_request else None,
    )


def _locked(screening_request: ScreeningRequest, expected_version: int | None) -> ScreeningRequest:
    current = (
        ScreeningRequest.objects.select_for_update()
        .select_related("lab", "patient")
        .get(pk=screening_request.pk)
    )
    if expected_version is not None and current.version != expected_version:
        raise EditConflict(
            f"The request was changed (now {_label(current.state)}, version {current.version}) "
            f"after you opened it at version {expected_version}; nothing was changed. "
            "Reload and try again."
        )
    return current


def _move(
    screening_request: ScreeningRequest, *, to: str, by: User, note: str = "", at=None
) -> RequestEvent:
    """The one place a request changes state (request locked by the caller)."""
    check_transition(screening_request.state, to)
    _require_part(by, screening_request, TRANSITIONS[screening_request.state][to])
    event = RequestEvent.objects.create(
        request=screening_request,
        from_state=screening_request.state,
        to_state=to,
        by=by,
        note=note,
        at=at or timezone.now(),
    )
    screening_request.state = to
    screening_request.version += 1
    with _history(by, screening_request):
        screening_request.save(
            update_fields=["state", "version", "expected_sample_date", "updated_at"]
        )
    return event


# --- Requests ----------------------------------------------------------------------------


CONSENT_FIELDS = ("consent_date", "consent_form_version", "consent_scope")


@transaction.atomic
def request_create(
    *,
    by: User,
    episode: TumourEpisode,
    lab: Institution,
    indication: str,
    planned_surgery_date,
    surgery_hospital: Institution,
    panel: DrugPanel | None = None,
    drugs=(),
    priority: str = ScreeningRequest.Priority.ROUTINE,
    consent_date=None,
    consent_form_version: str = "",
    consent_scope: str = "",
) -> ScreeningRequest:
    patient = episode.patient
    if by.role != Role.CLINICIAN or not can_edit_patient(by, patient):
        raise PermissionDenied("Only clinicians of the patient's institutions request a screen.")
    errors: dict[str, list[str]] = {}

    def add(field, message):
        errors.setdefault(field, []).append(message)

    # No consent, no request (the Health Research Act; docs/drug-sensitivity.md §2).
    missing = [
        f
        for f, v in zip(
            CONSENT_FIELDS, (consent_date, consent_form_version, consent_scope), strict=True
        )
        if not v
    ]
    for field in missing:
        add(
            field,
            "The patient's consent is required before a screen is requested: give the consent "
            "date, "
            "the consent form version and its scope.",
        )
    if consent_date and consent_date > timezone.localdate():
        add("consent_date", "The consent date cannot be in the future.")
    if consent_scope and consent_scope not in ScreeningRequest.ConsentScope.values:
        add("consent_scope", f"Choose one of: {', '.join(ScreeningRequest.ConsentScope.values)}.")
    if lab.kind != Institution.Kind.LAB:
        add("lab", f"{lab.code} is not a screening lab.")
    if surgery_hospital.kind != Institution.Kind.HOSPITAL:
        add("surgery_hospital", f"{surgery_hospital.code} is not a hospital.")
    if not indication.strip():
        add("indication", "Say why the screen is requested.")
    drugs = list(drugs)
    if panel is None and not drugs:
        add("panel", "Choose one of the lab's standard panels, or pick drugs from its library.")
    if panel is not None and panel.lab_id != lab.pk:
        add("panel", f"The panel '{panel.name}' is not one of {lab.code}'s panels.")
    foreign = [d.name for d in drugs if d.lab_id != lab.pk]
    if foreign:
        add("drugs", f"Not in {lab.code}'s library: {', '.join(foreign)}.")
    if priority not in ScreeningRequest.Priority.values:
        add("priority", f"Choose one of: {', '.join(ScreeningRequest.Priority.values)}.")
    if errors:
        raise ValidationError(errors)
    screening_request = ScreeningRequest(
        patient=patient,
        episode=episode,
        requested_by=by,
        lab=lab,
        indication=indication.strip(),
        planned_surgery_date=planned_surgery_date,
        surgery_hospital=surgery_hospital,
        panel=panel,
        priority=priority,
        consent_date=consent_date,
        consent_form_version=consent_form_version,
        consent_scope=consent_scope,
    )
    with pghistory.context(user=by.pk, patient=patient.pk):
        screening_request.save()
        screening_request.drugs.set(drugs)
    RequestEvent.objects.create(
        request=screening_request,
        from_state="",
        to_state=State.REQUESTED,
        by=by,
        at=screening_request.created_at,
        note=indication.strip()[:500],
    )
    _notify(
        screening_request,
        recipients=selectors.lab_scientists(screening_request.lab_id),
        text=f"New screening request {screening_request.pk} for {patient.register_number} "
        f"from {by}.",
    )
    return screening_request


@transaction.atomic
def request_transition(
    *,
    screening_request: ScreeningRequest,
    to: str,
    by: User,
    note: str = "",
    expected_sample_date=None,
    expected_version: int | None = None,
) -> ScreeningRequest:
    """A move without data of its own: accept (with the day the sample is expected),
    decline or cancel (with a reason), into culture, screening, reported."""
    screening_request = _locked(screening_request, expected_version)
    check_transition(screening_request.state, to)
    _require_part(by, screening_request, TRANSITIONS[screening_request.state][to])
    if to not in direct_moves(screening_request.state):
        raise ValidationError(
            {
                "state": f"A request becomes {_label(to)} by "
                f"{MADE_BY.get(to, 'recording the receipt')}."
            }
        )
    if to in NEEDS_REASON and not note.strip():
        raise ValidationError({"note": f"Give a reason to make the request {_label(to)}."})
    if to == State.ACCEPTED:
        if not expected_sample_date:
            raise ValidationError(
                {"expected_sample_date": "Give the day the lab expects the sample."}
            )
        screening_request.expected_sample_date = expected_sample_date
    part = TRANSITIONS[screening_request.state][to]
    if (
        to == State.REJECTED
    ):  # rejected after receipt (e.g. the culture failed): the receipt says so too
        sample = selectors.current_sample(screening_request)
        Receipt.objects.filter(sample=sample).update(accepted=False, rejection_reason=note.strip())
    _move(screening_request, to=to, by=by, note=note.strip())
    # The other side hears of it: the lab's moves go to the clinicians, and back.
    recipients = (
        selectors.request_clinicians(screening_request)
        if part == LAB
        else selectors.lab_scientists(screening_request.lab_id)
    )
    _notify(
        screening_request,
        recipients=recipients,
        text=f"Screening request {screening_request.pk} "
        f"({screening_request.patient.register_number}) is now {_label(to)}"
        + (f": {note.strip()}" if note.strip() else "."),
    )
    return screening_request


# --- Sample and shipment ----------------------------------------------------------------


@transaction.atomic
def sample_register(
    *,
    screening_request: ScreeningRequest,
    by: User,
    sample_type: SampleType,
    amount,
    amount_unit: str,
    medium: str,
    collected_at: datetime,
    expected_version: int | None = None,
) -> Sample:
    """At surgery the sending hospital registers the sample (also a new one after a
    rejection); the viability clock starts at collection."""
    screening_request = _locked(screening_request, expected_version)
    check_transition(screening_request.state, State.SAMPLE_COLLECTED)
    _require_part(by, screening_request, CLINICIAN)
    if collected_at > timezone.now() + timedelta(minutes=5):
        raise ValidationError({"collected_at": "The collection time cannot be in the future."})
    if amount is None or Decimal(amount) <= 0:
        raise ValidationError({"amount": "The amount must be more than 0."})
    with _history(by, screening_request):
        sample = Sample.objects.create(
            request=screening_request,
            sample_type=sample_type,
            amount=amount,
            amount_unit=amount_unit,
            medium=medium,
            collected_at=collected_at,
            registered_by=by,
        )
    _move(
        screening_request,
        to=State.SAMPLE_COLLECTED,
        by=by,
        note=f"Sample {sample.label_id}: {sample_type.name}",
        at=collected_at,
    )
    return sample


@transaction.atomic
def shipment_dispatch(
    *,
    sample: Sample,
    by: User,
    packaging: str,
    courier: str,
    dispatched_at: datetime,
    expected_arrival: datetime,
    tracking_reference: str = "",
    dry_ice_kg=None,
    expected_version: int | None = None,
) -> Shipment:
    screening_request = _locked(sample.request, expected_version)
    check_transition(screening_request.state, State.IN_TRANSIT)
    _require_part(by, screening_request, CLINICIAN)
    if selectors.current_sample(screening_request).pk != sample.pk:
        raise ValidationError({"sample": f"{sample.label_id} is not the request's current sample."})
    if dispatched_at < sample.collected_at:
        raise ValidationError({"dispatched_at": "A sample cannot leave before it was collected."})
    if expected_arrival <= dispatched_at:
        raise ValidationError({"expected_arrival": "The expected arrival must be after dispatch."})
    if packaging == Shipment.Packaging.DRY_ICE and not dry_ice_kg:
        raise ValidationError(
            {"dry_ice_kg": "Dry ice (UN1845) must be declared with its weight (UN3373/P650 rules)."}
        )
    with _history(by, screening_request):
        shipment = Shipment.objects.create(
            sample=sample,
            packaging=packaging,
            courier=courier,
            tracking_reference=tracking_reference,
            dispatched_at=dispatched_at,
            expected_arrival=expected_arrival,
            dry_ice_kg=dry_ice_kg,
            dispatched_by=by,
        )
    _move(
        screening_request,
        to=State.IN_TRANSIT,
        by=by,
        note=f"{courier} {tracking_reference}".strip(),
        at=dispatched_at,
    )
    _notify(
        screening_request,
        recipients=selectors.lab_scientists(screening_request.lab_id),
        text=f"Sample {sample.label_id} ({screening_request.patient.register_number}) is on "
        f"its way with {courier}; "
        f"expected {timezone.localtime(expected_arrival):%d.%m.%Y %H:%M}.",
    )
    return shipment


def _require_shipment_party(by: User, shipment: Shipment) -> None:
    """Sender's clinicians or the lab's scientists: the people handing over or receiving."""
    screening_request = shipment.sample.request
    if not (
        can_edit_patient(by, screening_request.patient)
        or selectors.is_lab_scientist_of(by, screening_request.lab_id)
    ):
        raise PermissionDenied(
            "Only the sending hospital's clinicians or the lab's scientists enter this."
        )


@transaction.atomic
def handover_add(
    *, shipment: Shipment, by: User, giver: str, receiver: str, place: str, at: datetime
) -> HandOver:
    _require_shipment_party(by, shipment)
    if not giver.strip():
        raise ValidationError({"giver": "Say who handed the package over."})
    if not place.strip():
        raise ValidationError({"place": "Say where the hand-over took place."})
    if at < shipment.sample.collected_at:
        raise ValidationError({"at": "A hand-over cannot precede the sample's collection."})
    if at > timezone.now() + timedelta(minutes=5):
        raise ValidationError({"at": "A hand-over cannot be in the future."})
    with _history(by, shipment.sample.request):
        return HandOver.objects.create(
            shipment=shipment,
            giver=giver.strip(),
            receiver=receiver.strip(),
            place=place.strip(),
            at=at,
            entered_by=by,
        )


# --- Temperatures ---------------------------------------------------------------------


@transaction.atomic
def reading_add(*, shipment: Shipment, by: User, at: datetime, celsius) -> TemperatureReading:
    _require_shipment_party(by, shipment)
    if TemperatureReading.objects.filter(shipment=shipment, at=at).exists():
        raise ValidationError(
            {"at": f"There is already a reading at {timezone.localtime(at):%d.%m.%Y %H:%M:%S}."}
        )
    transport.check_celsius(Decimal(str(celsius)), field="celsius")
    with _history(by, shipment.sample.request):
        return TemperatureReading.objects.create(
            shipment=shipment, at=at, celsius=celsius, entered_by=by
        )


@transaction.atomic
def logger_upload(
    *, shipment: Shipment, by: User, content: bytes, filename: str = "", time_zone: str = ""
) -> LoggerUpload:
    """Take a logger's CSV whole or not at all. The same file twice is refused; readings
    already there (an overlapping file, a hand entry) are kept once."""
    _require_shipment_party(by, shipment)
    uploads.check_size(
        content, limit=uploads.LOGGER_CSV_MAX_BYTES, field="file", what="The logger file"
    )
    digest = hashlib.sha256(content).hexdigest()
    earlier = LoggerUpload.objects.filter(shipment=shipment, sha256=digest).first()
    if earlier:
        raise ValidationError(
            {
                "file": f"This file was already uploaded ({earlier.filename or 'unnamed'}, "
                f"{timezone.localtime(earlier.uploaded_at):%d.%m.%Y %H:%M}); nothing was added."
            }
        )
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError({"file": "The file is not UTF-8 text."}) from None
    parsed = logger_csv.parse(text, time_zone=time_zone)
    with _history(by, shipment.sample.request):
        return _store_log(shipment, by, parsed, digest, filename)


def _store_log(
    shipment: Shipment, by: User, parsed: logger_csv.ParsedLog, digest: str, filename: str
) -> LoggerUpload:
    upload = LoggerUpload.objects.create(
        shipment=shipment,
        sha256=digest,
        filename=filename[:200],
        device_serial=parsed.device_serial[:100],
        time_zone=parsed.time_zone,
        readings=len(parsed.readings),
        uploaded_by=by,
    )
    before = shipment.readings.count()
    TemperatureReading.objects.bulk_create(
        [
            TemperatureReading(
                shipment=shipment, at=at, celsius=value, upload=upload, entered_by=by
            )
            for at, value in parsed.readings
        ],
        ignore_conflicts=True,
    )
    upload.added = shipment.readings.count() - before
    upload.save(update_fields=["added"])
    return upload


# --- Receipt ---------------------------------------------------------------------------


@transaction.atomic
def receipt_record(
    *,
    sample: Sample,
    by: User,
    arrived_at: datetime,
    condition: str,
    arrival_celsius,
    accepted: bool,
    viable_cell_count=None,
    viability_percent=None,
    rejection_reason: str = "",
    expected_version: int | None = None,
) -> Receipt:
    screening_request = _locked(sample.request, expected_version)
    wanted = State.RECEIVED if accepted else State.REJECTED
    check_transition(screening_request.state, wanted)
    _require_part(by, screening_request, LAB)
    shipment = getattr(sample, "shipment", None)
    if shipment is None or selectors.current_sample(screening_request).pk != sample.pk:
        raise ValidationError({"sample": f"{sample.label_id} is not the sample in transit."})
    if arrived_at < shipment.dispatched_at:
        raise ValidationError({"arrived_at": "The sample cannot arrive before it was dispatched."})
    if arrived_at > timezone.now() + timedelta(minutes=5):
        raise ValidationError({"arrived_at": "The arrival time cannot be in the future."})
    if viability_percent is not None and not 0 <= Decimal(viability_percent) <= 100:
        raise ValidationError({"viability_percent": "Viability is a percentage, 0 to 100."})
    if accepted and (viable_cell_count is None or viability_percent is None):
        raise ValidationError(
            {"viability_percent": "Give the viable cell count and viability to accept a sample."}
        )
    if not accepted and not rejection_reason.strip():
        raise ValidationError(
            {
                "rejection_reason": "Say why the sample is rejected; the hospital is asked for a "
                "new one."
            }
        )
    with _history(by, screening_request):
        receipt = Receipt.objects.create(
            sample=sample,
            arrived_at=arrived_at,
            condition=condition,
            arrival_celsius=arrival_celsius,
            viable_cell_count=viable_cell_count,
            viability_percent=viability_percent,
            accepted=accepted,
            rejection_reason=rejection_reason.strip(),
            received_by=by,
        )
    measured = [
        f"Viability {formats.quantity(viability_percent, 'viability')}"
        if viability_percent is not None
        else "",
        f"{formats.amount(viable_cell_count, 'cell_count')} viable cells"
        if viable_cell_count is not None
        else "",
    ]
    note = (
        ", ".join(m for m in measured if m) or "Accepted"
        if accepted
        else f"Rejected: {rejection_reason.strip()}. A new sample is needed."
    )
    _move(screening_request, to=wanted, by=by, note=note, at=arrived_at)
    _notify(
        screening_request,
        recipients=selectors.request_clinicians(screening_request),
        text=f"Sample {sample.label_id} ({screening_request.patient.register_number}) arrived at "
        f"{screening_request.lab.code}: "
        + (
            "accepted."
            if accepted
            else f"rejected ({rejection_reason.strip()}); please send a new sample."
        ),
    )
    return receipt


# --- Alerts ----------------------------------------------------------------------------


def _notify(
    screening_request: ScreeningRequest,
    *,
    recipients,
    text: str,
    alert: ShipmentAlert | None = None,
    subject: str = "",
    kind: str = InboxItem.Kind.SCREENING,
    url: str = "",
) -> None:
    """An inbox item each, in the event's transaction, and an e-mail each after commit.
    Register number and sample id only: never the name or the national ID."""
    users = [u for u in recipients]
    if not users:
        return
    link = url or screening_request.get_absolute_url()
    # One item per event: an alert by its row; any other notice by the request's version
    # (each move raises it) and its words, so a retried call adds nothing.
    key = (
        f"screening.alert:{alert.pk}"
        if alert is not None
        else f"screening.request:{screening_request.pk}:v{screening_request.version}:"
        + hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()[:12]
    )
    inbox_deliver(
        recipients=users,
        kind=InboxItem.Kind.ALERT if alert is not None else kind,
        text=text,
        url=link,
        key=key,
        patient_id=screening_request.patient_id,
    )
    for user in users:
        # One robust callback per member: a mail server refusing one address neither loses
        # the others' mails nor turns the committed change into an error page (it is logged).
        transaction.on_commit(
            lambda email=user.email: send_mail(
                subject or f"NBTC screening request {screening_request.pk}",
                f"{text}\n\nSee {link}",
                None,
                [email],
            ),
            robust=True,
        )


def alert_recipients(screening_request: ScreeningRequest, shipment: Shipment) -> list[User]:
    """The sender (who requested, who dispatched) and the lab's scientists."""
    senders = {u for u in (screening_request.requested_by, shipment.dispatched_by) if u.is_active}
    return sorted(
        senders | set(selectors.lab_scientists(screening_request.lab_id)), key=lambda u: u.pk
    )


@transaction.atomic
def shipments_check(*, now: datetime) -> list[ShipmentAlert]:
    """Raise each alert a shipment in transit has earned by `now`, once per event: near
    the window (the sample type's warning share elapsed), past it, or each excursion out
    of range. Returns the alerts raised now. Takes `now` so tests use a fixed clock."""
    raised = []
    # Two queries for all open shipments (readings and earlier alerts prefetched), not per shipment.
    for shipment in selectors.open_shipments().prefetch_related("readings", "alerts"):
        status = transport.shipment_status(
            shipment, now=now, readings=sorted(shipment.readings.all(), key=lambda r: r.at)
        )
        sample, screening_request = shipment.sample, shipment.sample.request
        named = f"Sample {sample.label_id} ({screening_request.patient.register_number})"
        wanted = []
        if status.passed:
            wanted.append(
                (
                    ShipmentAlert.Kind.WINDOW_PASSED,
                    "",
                    f"{named} has passed its {sample.sample_type.viability_hours} h viability "
                    f"window ({formats.quantity(status.elapsed_hours, 'hours')} since collection).",
                )
            )
        if status.near:
            wanted.append(
                (
                    ShipmentAlert.Kind.WINDOW_NEAR,
                    "",
                    f"{named} is at "
                    f"{formats.quantity(status.percent, 'window_used')} of its "
                    f"{sample.sample_type.viability_hours} h viability window: "
                    f"{formats.quantity(status.hours_left, 'hours')} left.",
                )
            )
        for excursion in status.excursions:  # each excursion is its own event
            wanted.append(
                (
                    ShipmentAlert.Kind.TEMPERATURE,
                    excursion.start.astimezone(UTC).isoformat(),
                    f"{named}: temperature out of "
                    f"{sample.sample_type.min_celsius}–{sample.sample_type.max_celsius} °C from "
                    f"{timezone.localtime(excursion.start):%d.%m.%Y %H:%M}, extreme "
                    f"{excursion.extreme} °C.",
                )
            )
        existing = {(alert.kind, alert.event) for alert in shipment.alerts.all()}
        for kind, event, message in wanted:
            if (kind, event) in existing:
                continue
            alert, created = ShipmentAlert.objects.get_or_create(
                shipment=shipment,
                kind=kind,
                event=event,
                defaults={"message": message, "raised_at": now},
            )
            if created:
                raised.append(alert)
                _notify(
                    screening_request,
                    recipients=alert_recipients(screening_request, shipment),
                    text=message,
                    alert=alert,
                    subject=f"NBTC shipment alert: {alert.get_kind_display()}",
                )
    return raised


# --- Plate results --------------------------------------------------------------------------------
# Upload: parse and check everything first (plates.py), then write in one transaction and
# start the analysis after commit. The analysis (analysis.py) runs in a Celery task.


def qc_settings(lab_id: int) -> LabQcSettings:
    settings_row, _ = LabQcSettings.objects.get_or_create(lab_id=lab_id)
    return settings_row


def _accepted_sample(screening_request: ScreeningRequest) -> Sample:
    sample = selectors.current_sample(screening_request)
    receipt = getattr(sample, "receipt", None) if sample and hasattr(sample, "receipt") else None
    if receipt is None or not receipt.accepted:
        raise ValidationError(
            {"request": "Results need a sample the lab has received and accepted."}
        )
    return sample


def _decode(content: bytes | str, field_name: str) -> str:
    if isinstance(content, str):
        return content
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError({field_name: "The file is not UTF-8 text."}) from None


@transaction.atomic
def plate_upload(
    *,
    screening_request: ScreeningRequest,
    by: User,
    readouts: list[tuple[str, bytes | str]],
    layout: tuple[str, bytes | str] | None = None,
    layout_template: PlateLayoutTemplate | None = None,
    plate_format: int = 384,
    save_template_as: str = "",
) -> PlateUpload:
    """Take a layout (a file, or a saved template of the lab) and one or more readout
    files, whole or not at all; queue the analysis. A request in culture moves to
    screening with its first upload."""
    screening_request = _locked(screening_request, None)
    _require_part(by, screening_request, LAB)
    if screening_request.state not in (State.IN_CULTURE, State.SCREENING, State.REPORTED):
        raise ValidationError(
            {
                "request": "Plates are uploaded for a request in culture or screening, not one "
                "that "
                f"is {_label(screening_request.state)}."
            }
        )
    sample = _accepted_sample(screening_request)
    if (layout is None) == (layout_template is None):
        raise ValidationError({"layout": "Give a layout file or choose a saved layout, not both."})
    if layout_template is not None:
        if layout_template.lab_id != screening_request.lab_id:
            raise ValidationError({"layout_template": "That layout belongs to another lab."})
        plate_format = layout_template.plate_format
        parsed_layout = plates.layout_from_rows(layout_template.wells, plate_format=plate_format)
        layout_name, layout_bytes = layout_template.name, str(layout_template.wells).encode()
    else:
        layout_name, raw = layout
        uploads.check_size(
            raw, limit=uploads.LAYOUT_MAX_BYTES, field="layout", what=f"The layout {layout_name}"
        )
        parsed_layout = plates.parse_layout(_decode(raw, "layout"), plate_format=plate_format)
        layout_bytes = raw if isinstance(raw, bytes) else raw.encode()
    if not readouts:
        raise ValidationError({"readout": "Give at least one readout file."})
    if len(readouts) > uploads.READOUTS_MAX_FILES:
        raise ValidationError(
            {"readout": f"At most {uploads.READOUTS_MAX_FILES} readout files per upload."}
        )
    for name, raw in readouts:  # every size first: a file too large is refused unparsed
        uploads.check_size(
            raw, limit=uploads.READOUT_MAX_BYTES, field="readout", what=f"The readout {name}"
        )
    parsed = []
    for name, raw in readouts:
        try:
            parsed.append(plates.parse_readout(_decode(raw, "readout"), plate_format=plate_format))
        except ValidationError as error:
            raise ValidationError(
                {
                    "readout": [f"{name}: {m}" for m in error.message_dict.get("readout", [])]
                    or error.messages
                }
            ) from None
    matched = plates.match_readout(parsed_layout, plates.merge_readouts(parsed))
    digest = hashlib.sha256(
        layout_bytes + b"".join(r if isinstance(r, bytes) else r.encode() for _, r in readouts)
    ).hexdigest()
    template = layout_template
    with _history(by, screening_request):
        if save_template_as.strip():
            if PlateLayoutTemplate.objects.filter(
                lab=screening_request.lab, name=save_template_as.strip()
            ).exists():
                raise ValidationError(
                    {
                        "save_template_as": f"The lab already has a layout named "
                        f"'{save_template_as.strip()}'."
                    }
                )
            template = PlateLayoutTemplate.objects.create(
                lab=screening_request.lab,
                name=save_template_as.strip(),
                plate_format=plate_format,
                wells=parsed_layout.as_rows(),
                created_by=by,
            )
        upload = PlateUpload.objects.create(
            request=screening_request,
            sample=sample,
            plate_format=plate_format,
            layout_template=template,
            layout_filename=layout_name[:200],
            readout_filenames=", ".join(n for n, _ in readouts)[:500],
            sha256=digest,
            uploaded_by=by,
        )
        wells = []
        for position, plate_data in enumerate(matched):
            plate = Plate.objects.create(upload=upload, name=plate_data.name, position=position)
            wells += [
                Well(
                    plate=plate,
                    well=w.well,
                    row=w.row,
                    column=w.column,
                    role=w.role,
                    drug_name=w.drug,
                    concentration_nm=w.concentration_nm,
                    signal=signal,
                )
                for w, signal in plate_data.wells
            ]
        Well.objects.bulk_create(wells, batch_size=1000)
    if screening_request.state == State.IN_CULTURE:
        _move(
            screening_request, to=State.SCREENING, by=by, note=f"Plates uploaded ({len(matched)})."
        )
    analysis_queue(upload=upload, by=by)
    return upload


def analysis_queue(*, upload: PlateUpload, by: User) -> AnalysisRun:
    """A new run of the analysis, started by a Celery task once this transaction commits."""
    from .tasks import analyse_plates

    run = AnalysisRun.objects.create(upload=upload, requested_by=by)
    outbox_enqueue(analyse_plates, run.pk)  # runs after commit, or once the broker is back
    return run


@transaction.atomic
def analysis_requeue_lost(*, now: datetime) -> list[int]:
    """Runs left 'running' by a lost worker (no heartbeat for HEARTBEAT_STALE) are queued
    again; returns their ids. Run every minute (beat), so a killed worker's analysis is
    redone within minutes, not after the broker's visibility timeout. Redoing replaces the
    results with the same numbers (analysis_run)."""
    from .tasks import analyse_plates

    lost = list(
        AnalysisRun.objects.select_for_update(skip_locked=True)
        .filter(status=AnalysisRun.Status.RUNNING, heartbeat_at__lt=now - HEARTBEAT_STALE)
        .values_list("pk", flat=True)
    )
    for run_id in lost:
        AnalysisRun.objects.filter(pk=run_id).update(
            status=AnalysisRun.Status.QUEUED,
            error=f"The worker was lost at {timezone.localtime(now):%d.%m.%Y %H:%M}; "
            "the analysis was started again.",
        )
        outbox_enqueue(analyse_plates, run_id)
    return lost


def _thresholds(row: LabQcSettings) -> analysis.Thresholds:
    return analysis.Thresholds(
        z_prime_pass=row.z_prime_pass,
        z_prime_warn=row.z_prime_warn,
        ssmd_pass=row.ssmd_pass,
        ssmd_warn=row.ssmd_warn,
        max_negative_cv=row.max_negative_cv,
        max_edge_percent=row.max_edge_percent,
    )


ANALYSIS_LOCK = 5_202_612  # with the run's id: one worker writes a run's results at a time


def analysis_run(*, run_id: int) -> AnalysisRun:
    """Normalise, check, fit and score one run. Idempotent and safe against a redelivered
    task: a finished run is left as it is; a run another worker is on is left to it (its
    heartbeat is fresh: consortium/heartbeat.py); an interrupted one (worker lost: no
    heartbeat for HEARTBEAT_STALE, requeued, or failed) starts over and replaces its
    results. The same data and settings give the same numbers."""
    with transaction.atomic():
        run = (
            AnalysisRun.objects.select_for_update().select_related("upload__request").get(pk=run_id)
        )
        if run.status == AnalysisRun.Status.DONE:
            return run
        if (
            run.status == AnalysisRun.Status.RUNNING
            and run.heartbeat_at
            and run.heartbeat_at > timezone.now() - HEARTBEAT_STALE
        ):
            return run
        claim = timezone.now()
        run.status, run.started_at, run.heartbeat_at, run.error = (
            AnalysisRun.Status.RUNNING,
            claim,
            claim,
            "",
        )
        run.save(update_fields=["status", "started_at", "heartbeat_at", "error"])
    upload = run.upload
    screening_request = upload.request
    claimed = AnalysisRun.objects.filter(
        pk=run.pk, status=AnalysisRun.Status.RUNNING, started_at=claim
    )
    try:
        with (
            heartbeat(claimed),
            transaction.atomic(),
            pghistory.context(
                user=run.requested_by_id,
                screening_request=screening_request.pk,
                patient=screening_request.patient_id,
            ),
        ):
            # An advisory lock, not the run's row: the heartbeat keeps writing that row.
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_advisory_xact_lock(%s, %s)", [ANALYSIS_LOCK, run.pk % 2**31]
                )
            if not claimed.exists():
                return AnalysisRun.objects.get(pk=run.pk)  # another worker took it over
            _analyse(run, upload, screening_request)
    except Exception as error:  # noqa: BLE001 - a failed analysis is shown, not lost
        AnalysisRun.objects.filter(pk=run.pk, started_at=claim).update(
            status=AnalysisRun.Status.FAILED, error=str(error)[:2000], finished_at=timezone.now()
        )
        raise
    run.refresh_from_db()
    return run


def _finite(value: float | None) -> float | None:
    """A QC figure with no finite value (a zero control mean, zero spread) is stored as
    unknown: JSON has no infinity, and the flags already say why the plate failed."""
    return value if value is not None and math.isfinite(value) else None


def _analyse(run: AnalysisRun, upload: PlateUpload, screening_request: ScreeningRequest) -> None:
    lab_settings = qc_settings(screening_request.lab_id)
    thresholds = _thresholds(lab_settings)
    reference = (
        ReferenceSet.objects.filter(lab_id=screening_request.lab_id, active=True)
        .order_by("-created_at", "-id")
        .first()
    )
    plate_rows = list(upload.plates.order_by("position"))
    wells = list(
        Well.objects.filter(plate__upload=upload).order_by("plate__position", "row", "column")
    )
    by_plate: dict[int, list[Well]] = {}
    for well in wells:
        by_plate.setdefault(well.plate_id, []).append(well)
    rows, columns = plates.FORMATS[upload.plate_format]
    started = time.perf_counter()
    plate_results, drug_results = analysis.analyse(
        [
            (
                p.name,
                [
                    (w.well, w.row, w.column, w.role, w.drug_name, w.concentration_nm, w.signal)
                    for w in by_plate.get(p.pk, [])
                ],
            )
            for p in plate_rows
        ],
        rows=rows,
        columns=columns,
        thresholds=thresholds,
        dss_threshold=lab_settings.dss_threshold,
        overridden=frozenset(p.name for p in plate_rows if p.override_reason),
        reference=reference.scores if reference else None,
    )
    seconds = time.perf_counter() - started
    for plate, result in zip(plate_rows, plate_results, strict=True):
        qc = result.qc
        plate.mu_negative, plate.mu_positive, plate.z_prime, plate.ssmd = (
            _finite(qc.mu_negative),
            _finite(qc.mu_positive),
            _finite(qc.z_prime),
            _finite(qc.ssmd),
        )
        plate.cv_negative, plate.cv_positive, plate.edge_percent = (
            _finite(qc.cv_negative),
            _finite(qc.cv_positive),
            _finite(qc.edge_percent),
        )
        plate.qc_status, plate.qc_flags = qc.status, qc.flags
        plate.save(
            update_fields=[
                "mu_negative",
                "mu_positive",
                "z_prime",
                "ssmd",
                "cv_negative",
                "cv_positive",
                "edge_percent",
                "qc_status",
                "qc_flags",
            ]
        )
        for well in by_plate.get(plate.pk, []):
            well.inhibition = result.inhibition[well.well]
    Well.objects.bulk_update(wells, ["inhibition"], batch_size=1000)
    library = {d.name: d for d in Drug.objects.filter(lab_id=screening_request.lab_id)}
    DrugResult.objects.filter(run=run).delete()
    DrugResult.objects.bulk_create(
        [
            DrugResult(
                run=run,
                drug_name=d.drug,
                drug=library.get(d.drug),
                drug_class=getattr(library.get(d.drug), "drug_class", ""),
                plates=d.plates,
                points=[[c, round(v, 4)] for c, v in d.points],
                top=d.fit.top,
                log_ic50=d.fit.log_ic50,
                ic50_nm=d.fit.ic50_nm,
                slope=d.fit.slope,
                errors=d.fit.errors,
                r_squared=d.fit.r_squared,
                residual_sd=d.fit.residual_sd,
                auc=d.fit.auc,
                x_min=d.x_min,
                x_max=d.x_max,
                fit_flags=d.fit.flags,
                converged=d.fit.converged,
                fit_evaluations=d.fit.evaluations,
                qc_flags=d.qc_flags,
                scored=d.scored,
                dss1=d.scores.dss1 if d.scores else None,
                dss2=d.scores.dss2 if d.scores else None,
                dss3=d.scores.dss3 if d.scores else None,
                selective_dss=d.selective_dss,
            )
            for d in drug_results
        ]
    )
    run.status, run.finished_at, run.seconds = AnalysisRun.Status.DONE, timezone.now(), seconds
    run.reference_set = reference
    run.thresholds = {**thresholds.__dict__, "dss_threshold": lab_settings.dss_threshold}
    run.save(update_fields=["status", "finished_at", "seconds", "reference_set", "thresholds"])


@transaction.atomic
def plate_override(*, plate: Plate, by: User, reason: str) -> AnalysisRun:
    """Score a failed plate's drugs anyway, with the scientist's reason kept
    (docs/drug-sensitivity.md §4); a new run replaces the results on the page (earlier runs
    are kept)."""
    screening_request = _locked(plate.upload.request, None)
    _require_part(by, screening_request, LAB)
    if plate.qc_status != Plate.Qc.FAIL:
        raise ValidationError(
            {"plate": f"Plate {plate.name} did not fail QC; there is nothing to override."}
        )
    if not reason.strip():
        raise ValidationError({"reason": "Say why the failed plate's drugs may be scored."})
    with _history(by, screening_request):
        plate.override_reason, plate.override_by, plate.override_at = (
            reason.strip(),
            by,
            timezone.now(),
        )
        plate.save(update_fields=["override_reason", "override_by", "override_at"])
    return analysis_queue(upload=plate.upload, by=by)


# --- Reports for the tumour board -------------------------------------------------------------


@transaction.atomic
def report_save(
    *,
    screening_request: ScreeningRequest,
    by: User,
    interpretation: str,
    top_drugs: int = 10,
    expected_version: int | None = None,
) -> Report:
    """Write the draft: the current one, or a new version on the latest finished run when
    the last report was released (a released report is never changed)."""
    screening_request = _locked(screening_request, None)
    _require_part(by, screening_request, LAB)
    run = selectors.latest_run(screening_request, done=True)
    if run is None:
        raise ValidationError({"interpretation": "There are no finished results to report yet."})
    if not 1 <= int(top_drugs) <= 50:
        raise ValidationError({"top_drugs": "Show 1 to 50 top-ranked drugs."})
    latest = (
        Report.objects.select_for_update()
        .filter(request=screening_request)
        .order_by("-number")
        .first()
    )
    with _history(by, screening_request):
        if latest is None or latest.status == Report.Status.RELEASED:
            if (
                expected_version is not None
                and latest is not None
                and latest.version != expected_version
            ):
                raise EditConflict(
                    "A new version was started since you opened the report; reload it."
                )
            return Report.objects.create(
                request=screening_request,
                run=run,
                number=(latest.number + 1) if latest else 1,
                interpretation=interpretation.strip(),
                top_drugs=top_drugs,
                created_by=by,
            )
        if expected_version is not None and latest.version != expected_version:
            raise EditConflict(
                f"The draft was changed (now version {latest.version}) after you opened it at "
                f"version {expected_version}; nothing was changed. Reload and try again."
            )
        latest.interpretation, latest.top_drugs, latest.run = interpretation.strip(), top_drugs, run
        latest.version += 1
        latest.save(update_fields=["interpretation", "top_drugs", "run", "version"])
        return latest


def _freeze(report: Report) -> None:
    """Keep what is signed: the web body and the PDF as they read now."""
    from django.template.loader import render_to_string

    from .report_pdf import render_pdf

    context = selectors.report_context(report)
    report.body_html = render_to_string("screening/_report_body.html", context)
    report.pdf = render_pdf(context)
    report.pdf_sha256 = hashlib.sha256(report.pdf).hexdigest()


def report_sign(
    *,
    report: Report,
    by: User,
    password: str,
    expected_version: int | None = None,
    http_request=None,
) -> Report:
    """Sign and release: the scientist re-enters the password (re-authentication for a
    signature), limited as sign-in is (consortium.services.password_confirm: 5 wrong per 5
    minutes lock the account). The first release makes the request reported and tells the
    clinician. A wrong or locked-out password is recorded (FailedPasswordCheck) after the
    signing transaction rolled back, so the record stays."""
    try:
        return _report_sign(
            report=report,
            by=by,
            password=password,
            expected_version=expected_version,
            http_request=http_request,
        )
    except PasswordRefused as refused:
        core_services.failed_password_check_record(
            user=by,
            purpose=f"Signing screening report {report.pk}",
            locked=refused.locked,
            request=http_request,
        )
        message = (
            "Too many wrong passwords: signing and sign-in are locked for a few minutes "
            "(5 wrong in 5 minutes); the report was not signed."
            if refused.locked
            else "The password is not right; the report was not signed."
        )
        raise ValidationError({"password": message}) from None


@transaction.atomic
def _report_sign(
    *, report: Report, by: User, password: str, expected_version: int | None, http_request
) -> Report:
    report = (
        Report.objects.select_for_update()
        .select_related("request__lab", "request__patient")
        .get(pk=report.pk)
    )
    screening_request = _locked(report.request, None)
    _require_part(by, screening_request, LAB)
    if report.status == Report.Status.RELEASED:
        raise ValidationError(
            {
                "report": f"Report version {report.number} is already released; changes need a new "
                "version."
            }
        )
    if expected_version is not None and report.version != expected_version:
        raise EditConflict(
            f"The draft was changed (now version {report.version}) after you opened it; reload it "
            "before signing."
        )
    if not report.interpretation.strip():
        raise ValidationError({"interpretation": "Write the lab's interpretation before signing."})
    newest = selectors.latest_run(screening_request, done=True)
    if newest is not None and newest.pk != report.run_id:
        raise ValidationError(
            {
                "report": f"There are newer results (analysis {newest.pk}) than this draft shows; "
                "save the draft again to report them, then sign."
            }
        )
    core_services.password_confirm(user=by, password=password, request=http_request)
    with _history(by, screening_request):
        report.status, report.signed_by, report.signed_at = (
            Report.Status.RELEASED,
            by,
            timezone.now(),
        )
        report.version += 1
        _freeze(report)
        report.save(
            update_fields=[
                "status",
                "signed_by",
                "signed_at",
                "version",
                "body_html",
                "pdf",
                "pdf_sha256",
            ]
        )
    if screening_request.state == State.SCREENING:
        _move(
            screening_request,
            to=State.REPORTED,
            by=by,
            note=f"Report version {report.number} signed and released.",
        )
    _notify(
        screening_request,
        recipients=selectors.request_clinicians(screening_request),
        text=f"Screening report version {report.number} for "
        f"{screening_request.patient.register_number} is released.",
        kind=InboxItem.Kind.RESULTS_RELEASED,
        url=report.get_absolute_url(),
    )
    return report
