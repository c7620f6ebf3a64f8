"""A temperature logger's CSV export, parsed whole or refused naming the line (beside
plates.py, the plate reader's files). The readings it returns are stored by
services.logger_upload; the plausible range is transport.check_celsius."""

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError

from consortium.text_checks import NUL_MESSAGE, nul_line, text_lines

from .transport import check_celsius


@dataclass
class ParsedLog:
    device_serial: str
    time_zone: str
    readings: list[tuple[datetime, Decimal]]


HEADER_KEYS = {
    "device serial": "serial",
    "serial": "serial",
    "device": "serial",
    "start": "start",
    "interval": "interval",
    "unit": "unit",
    "time zone": "tz",
    "timezone": "tz",
}


def parse(text: str, *, time_zone: str = "") -> ParsedLog:
    """A logger export (docs/drug-sensitivity.md §2): a header block of `key: value` lines (device
    serial, start, interval, unit, optionally time zone), then a `timestamp,temperature`
    header and one row per reading. Timestamps are ISO 8601, with an offset or in the
    logger's time zone (the file's `Time zone:` line, else the upload's field); an hour
    that repeats when daylight saving ends is ambiguous without an offset and refused,
    as is one skipped when it starts. Temperatures in °C. Any bad line refuses the whole
    file, naming the line."""
    nul_at = nul_line(text)
    if nul_at:
        raise ValidationError({"file": f"Line {nul_at}: the line {NUL_MESSAGE}."})
    # Read as a stream, line by line: a bad line refuses the file without the rest being
    # split or parsed first (a large file fails fast).
    stream = text_lines(text)
    serial, unit, file_tz = "", "C", ""
    start = header = None
    for number, line in enumerate(stream, start=1):
        stripped = line.strip().lstrip("#").strip()
        if not stripped:
            continue
        if stripped.lower().replace(";", ",").replace(" ", "").startswith("timestamp,"):
            start, header = number, line
            break
        key, sep, value = stripped.partition(":")
        if not sep or key.strip().lower() not in HEADER_KEYS:
            raise ValidationError(
                {
                    "file": f"Line {number}: expected a header line (device serial, start, "
                    "interval, "
                    f"unit, time zone) or the column header 'timestamp,temperature'."
                }
            )
        kind, value = HEADER_KEYS[key.strip().lower()], value.strip().strip(",;")
        if kind == "serial":
            serial = value
        elif kind == "unit":
            unit = value.replace("°", "").strip().upper()
            if unit not in ("C", "CELSIUS"):
                raise ValidationError(
                    {"file": f"Line {number}: temperatures must be in °C, not '{value}'."}
                )
        elif kind == "tz":
            file_tz = value
    if start is None:
        raise ValidationError({"file": "No column header 'timestamp,temperature' found."})
    zone_name = file_tz or time_zone
    zone = None
    if zone_name:
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError(
                {"time_zone": f"Unknown time zone '{zone_name}' (use e.g. Europe/Oslo)."}
            ) from None
    delimiter = ";" if header.count(";") > header.count(",") else ","
    readings: list[tuple[datetime, Decimal]] = []
    seen: set[datetime] = set()
    reader = csv.reader(stream, delimiter=delimiter)
    for row in reader:
        number = start + reader.line_num
        if not row or not "".join(row).strip():
            continue
        if len(row) != 2:
            raise ValidationError(
                {
                    "file": f"Line {number}: expected 2 columns (timestamp, temperature), "
                    f"found {len(row)}."
                }
            )
        raw_at, raw_value = row[0].strip(), row[1].strip().replace(",", ".")
        try:
            at = datetime.fromisoformat(raw_at)
        except ValueError:
            raise ValidationError(
                {
                    "file": f"Line {number}: '{raw_at}' is not a timestamp "
                    "(use ISO 8601, e.g. 2026-10-25 02:30:00 or 2026-10-25T02:30:00+02:00)."
                }
            ) from None
        at = _to_utc(at, zone, zone_name, number)
        try:
            value = Decimal(raw_value)
        except InvalidOperation:
            raise ValidationError(
                {"file": f"Line {number}: '{row[1].strip()}' is not a temperature."}
            ) from None
        if not value.is_finite():
            raise ValidationError(
                {"file": f"Line {number}: '{row[1].strip()}' is not a temperature."}
            )
        check_celsius(value, field="file", line=number)
        if at in seen:
            raise ValidationError({"file": f"Line {number}: a second reading at {raw_at}."})
        seen.add(at)
        readings.append((at, value))
    if not readings:
        raise ValidationError({"file": "The file has no readings."})
    return ParsedLog(device_serial=serial, time_zone=zone_name, readings=readings)


def _to_utc(at: datetime, zone: ZoneInfo | None, zone_name: str, line: int) -> datetime:
    if at.tzinfo is not None:
        return at.astimezone(UTC)
    if zone is None:
        raise ValidationError(
            {
                "time_zone": f"Line {line}: the timestamp has no UTC offset; give the logger's "
                "time zone (e.g. Europe/Oslo)."
            }
        )
    first, second = at.replace(tzinfo=zone, fold=0), at.replace(tzinfo=zone, fold=1)
    if first.utcoffset() != second.utcoffset():
        # Either the hour repeated when daylight saving ended, or the skipped hour in spring.
        round_trip = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        if round_trip != at:
            raise ValidationError(
                {
                    "file": f"Line {line}: {at:%Y-%m-%d %H:%M} does not exist in {zone_name} "
                    "(the clocks skipped that hour)."
                }
            )
        raise ValidationError(
            {
                "file": f"Line {line}: {at:%Y-%m-%d %H:%M} happened twice in {zone_name} "
                "(daylight saving ended); give the UTC offset, e.g. +02:00 or +01:00."
            }
        )
    return first.astimezone(UTC)
