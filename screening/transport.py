"""The transport rules of a fresh tumour sample (docs/drug-sensitivity.md §2): the viability
window measured in real hours, temperature excursions outside the sample type's range, and
gaps in the chain of custody. Pure functions of the rows given (no queries of their own
beyond a shipment's readings when none are passed): selectors, services, pages and the API
all judge a shipment by these."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils import timezone

from .models import Shipment


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
    receipt = sample.receipt if hasattr(sample, "receipt") else None
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


# --- Chain of custody ---------------------------------------------------------------


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


# --- Temperatures --------------------------------------------------------------------


def check_celsius(value: Decimal, *, field: str, line: int | None = None) -> None:
    # No transport is colder than liquid nitrogen's vapour or warmer than a hot day's van.
    if not Decimal(-200) <= value <= Decimal(60):
        where = f"Line {line}: " if line else ""
        raise ValidationError(
            {field: f"{where}{value} °C is not a plausible temperature (-200 to 60 °C)."}
        )
