"""Sample transport: the logger CSV (good and bad files, time zones, the daylight-saving
change), duplicate and overlapping uploads, excursions, the elapsed-time clock across
DST, the chain-of-custody gap check, and the window and temperature alerts with a
fixed clock, raised once per event (docs/drug-sensitivity.md §2)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError

from consortium.models import InboxItem
from screening import logger_csv, selectors, services, transport
from screening.models import (
    HandOver,
    Sample,
    ShipmentAlert,
    State,
    TemperatureReading,
)
from tests.screening.factories import bring_to, make_world, utc

GOOD = """Device serial: TL-4471
Start: 2026-03-01 08:00
Interval: 5 min
Unit: °C
timestamp,temperature
2026-03-01 08:00:00,4.1
2026-03-01 08:05:00,4.3
2026-03-01 08:10:00,9.2
2026-03-01 08:15:00,5.0
"""


def test_it_parses_a_good_file_in_the_loggers_time_zone():
    parsed = logger_csv.parse(GOOD, time_zone="Europe/Oslo")
    assert parsed.device_serial == "TL-4471"
    assert parsed.readings[0] == (utc(2026, 3, 1, 7, 0), Decimal("4.1"))  # CET = UTC+1
    assert [v for _, v in parsed.readings] == [
        Decimal("4.1"),
        Decimal("4.3"),
        Decimal("9.2"),
        Decimal("5.0"),
    ]


def test_it_takes_the_time_zone_from_the_file_and_offsets_as_given():
    text = (
        "Time zone: Europe/Oslo\ntimestamp;temperature\n"
        "2026-07-01 12:00;4,5\n2026-07-01T12:05:00+00:00;4,6\n"
    )
    parsed = logger_csv.parse(text)
    assert parsed.readings == [
        (utc(2026, 7, 1, 10, 0), Decimal("4.5")),
        (utc(2026, 7, 1, 12, 5), Decimal("4.6")),
    ]


@pytest.mark.parametrize(
    "text,line,words",
    [
        (GOOD.replace("4.3", "warm"), 7, "'warm' is not a temperature"),
        (GOOD.replace("2026-03-01 08:10:00", "01/03/2026 8:10"), 8, "is not a timestamp"),
        (GOOD.replace("08:15:00,5.0", "08:15:00,5.0,1"), 9, "expected 2 columns"),
        (GOOD.replace("Unit: °C", "Unit: °F"), 4, "must be in °C"),
        (GOOD.replace("Interval: 5 min", "Colour: blue"), 3, "expected a header line"),
        (GOOD.replace("9.2", "900"), 8, "not a plausible temperature"),
        (GOOD.replace("08:15:00", "08:10:00"), 9, "a second reading"),
    ],
)
def test_a_bad_line_refuses_the_file_naming_the_line(text, line, words):
    with pytest.raises(ValidationError) as refused:
        logger_csv.parse(text, time_zone="Europe/Oslo")
    message = refused.value.message_dict["file"][0]
    assert message.startswith(f"Line {line}:") and words in message


def test_naive_timestamps_need_a_time_zone():
    with pytest.raises(ValidationError) as refused:
        logger_csv.parse(GOOD)
    assert "time zone" in refused.value.message_dict["time_zone"][0]
    with pytest.raises(ValidationError):
        logger_csv.parse(GOOD, time_zone="Europe/Atlantis")


def test_the_repeated_october_hour_needs_an_offset_and_the_skipped_march_hour_is_refused():
    # 25 October 2026: clocks go back from 03:00 CEST to 02:00 CET, so 02:30 happens twice.
    ambiguous = "timestamp,temperature\n2026-10-25 02:30:00,4.0\n"
    with pytest.raises(ValidationError) as refused:
        logger_csv.parse(ambiguous, time_zone="Europe/Oslo")
    assert (
        "Line 2:" in refused.value.message_dict["file"][0]
        and "happened twice" in refused.value.message_dict["file"][0]
    )
    resolved = logger_csv.parse(
        "timestamp,temperature\n2026-10-25T02:30:00+02:00,4.0\n2026-10-25T02:30:00+01:00,4.2\n",
        time_zone="Europe/Oslo",
    )
    assert [at for at, _ in resolved.readings] == [
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 25, 1, 30),
    ]
    # 29 March 2026: 02:00 CET jumps to 03:00 CEST; 02:30 never happened.
    with pytest.raises(ValidationError) as skipped:
        logger_csv.parse(
            "timestamp,temperature\n2026-03-29 02:30:00,4.0\n", time_zone="Europe/Oslo"
        )
    assert "does not exist" in skipped.value.message_dict["file"][0]


@pytest.mark.parametrize(
    "collected,received,hours",
    [
        # Across the October change: 01:00 CEST -> 05:00 CET is 5 real hours, not 4.
        (utc(2026, 10, 24, 23, 0), utc(2026, 10, 25, 4, 0), 5.0),
        # Across the March change: 01:00 CET -> 05:00 CEST is 3 real hours, not 4.
        (utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 3, 0), 3.0),
    ],
)
def test_elapsed_time_across_daylight_saving_is_real_hours(collected, received, hours):
    from zoneinfo import ZoneInfo

    oslo = ZoneInfo("Europe/Oslo")
    # Computed from Oslo wall-clock times, as a page would hold them.
    assert transport.hours_between(collected.astimezone(oslo), received.astimezone(oslo)) == hours
    wall = received.astimezone(oslo).replace(tzinfo=None) - collected.astimezone(oslo).replace(
        tzinfo=None
    )
    assert wall.total_seconds() / 3600 != hours  # the wall clock would be an hour off


@pytest.mark.django_db
def test_a_shipment_across_the_october_change_is_timed_in_real_hours():
    world = make_world()
    request = bring_to(world, State.IN_TRANSIT)
    sample = request.samples.get()
    Sample.objects.filter(pk=sample.pk).update(collected_at=utc(2026, 10, 24, 22, 30))  # 00:30 CEST
    shipment = selectors.shipment_get(user=world.lab, shipment_id=sample.shipment.pk)
    status = transport.shipment_status(
        shipment, now=utc(2026, 10, 25, 16, 30), readings=[]
    )  # 17:30 CET
    assert (
        status.elapsed_hours == 18.0
        and status.hours_left == 6.0
        and status.near
        and not status.passed
    )


@pytest.mark.django_db
def test_uploads_are_whole_or_nothing_duplicates_refused_and_overlaps_kept_once():
    world = make_world()
    shipment = bring_to(world, State.IN_TRANSIT).samples.get().shipment
    bad = GOOD.replace("4.3", "warm").encode()
    with pytest.raises(ValidationError):
        services.logger_upload(
            shipment=shipment, by=world.clinician, content=bad, time_zone="Europe/Oslo"
        )
    assert not TemperatureReading.objects.exists()
    first = services.logger_upload(
        shipment=shipment,
        by=world.clinician,
        content=GOOD.encode(),
        filename="tl-4471.csv",
        time_zone="Europe/Oslo",
    )
    assert (first.readings, first.added) == (4, 4)
    with pytest.raises(ValidationError) as duplicate:
        services.logger_upload(
            shipment=shipment, by=world.lab, content=GOOD.encode(), time_zone="Europe/Oslo"
        )
    assert "already uploaded" in duplicate.value.message_dict["file"][0]
    overlapping = GOOD.replace("2026-03-01 08:00:00,4.1\n", "") + "2026-03-01 08:20:00,5.5\n"
    second = services.logger_upload(
        shipment=shipment, by=world.lab, content=overlapping.encode(), time_zone="Europe/Oslo"
    )
    assert (second.readings, second.added) == (4, 1)
    assert shipment.readings.count() == 5
    with pytest.raises(PermissionDenied):
        services.logger_upload(
            shipment=shipment, by=world.other_clinician, content=b"x", time_zone=""
        )


@pytest.mark.django_db
def test_excursions_report_start_length_and_extreme():
    world = make_world()
    shipment = bring_to(world, State.IN_TRANSIT).samples.get().shipment
    services.logger_upload(
        shipment=shipment,
        by=world.clinician,
        time_zone="Europe/Oslo",
        content=(
            GOOD + "2026-03-01 08:20:00,1.0\n2026-03-01 08:25:00,-0.5\n2026-03-01 08:30:00,4.0\n"
        ).encode(),
    )
    found = transport.excursions(list(shipment.readings.all()), Decimal(2), Decimal(8))
    assert [(e.start, e.readings, e.extreme, e.minutes) for e in found] == [
        (utc(2026, 3, 1, 7, 10), 1, Decimal("9.20"), 5.0),  # one spike is still an excursion
        (utc(2026, 3, 1, 7, 20), 2, Decimal("-0.50"), 10.0),
    ]


def _handover(giver, receiver, hour):
    return HandOver(giver=giver, receiver=receiver, place="somewhere", at=utc(2026, 5, 4, hour))


def test_the_chain_of_custody_is_continuous_or_its_gaps_are_named():
    good = [_handover("Nurse Berg", "Courier Lie", 8), _handover("Courier Lie", "Lab Hansen", 12)]
    assert transport.custody_gaps(good) == []
    no_receiver = [_handover("Nurse Berg", "", 8), _handover("Courier Lie", "Lab Hansen", 12)]
    gaps = transport.custody_gaps(no_receiver)
    assert len(gaps) == 1 and "hand-over 1" in gaps[0] and "no one recorded" in gaps[0]
    broken = [
        _handover("Nurse Berg", "Courier Lie", 8),
        _handover("Courier Dahl", "Lab Hansen", 12),
    ]
    assert (
        "Courier Dahl handed over, but Courier Lie had received"
        in transport.custody_gaps(broken)[0]
    )
    assert (
        transport.custody_gaps(
            [_handover("Nurse Berg", "courier  LIE", 8), _handover("Courier Lie", "Lab", 9)]
        )
        == []
    )


@pytest.mark.django_db
def test_a_gap_shows_as_an_error_on_the_requests_timeline():
    world = make_world()
    request = bring_to(world, State.IN_TRANSIT)
    shipment = request.samples.get().shipment
    services.handover_add(
        shipment=shipment,
        by=world.clinician,
        giver="Nurse Berg",
        receiver="",
        place="OUS",
        at=shipment.dispatched_at,
    )
    samples = selectors.request_samples(request)
    timeline = selectors.request_timeline(request, samples, list(request.transitions.all()))
    errors = [e.text for e in timeline if e.error]
    assert any("NO RECEIVER" in t for t in errors) and any("Gap in custody" in t for t in errors)


@pytest.mark.django_db
def test_window_and_temperature_alerts_with_a_fixed_clock_once_per_event(
    django_capture_on_commit_callbacks,
):
    world = make_world()
    request = bring_to(world, State.IN_TRANSIT, collected_hours_ago=2)
    sample = request.samples.get()
    shipment = sample.shipment
    start = sample.collected_at
    mail.outbox.clear()
    assert (
        _check(django_capture_on_commit_callbacks, start + timedelta(hours=10)) == []
    )  # 42 %: nothing yet
    near = _check(django_capture_on_commit_callbacks, start + timedelta(hours=18))  # 75 % of 24 h
    assert [a.kind for a in near] == [ShipmentAlert.Kind.WINDOW_NEAR]
    assert (
        _check(django_capture_on_commit_callbacks, start + timedelta(hours=19)) == []
    )  # once per event
    passed = _check(django_capture_on_commit_callbacks, start + timedelta(hours=24))
    assert [a.kind for a in passed] == [ShipmentAlert.Kind.WINDOW_PASSED]
    TemperatureReading.objects.create(
        shipment=shipment,
        at=start + timedelta(hours=3),
        celsius=Decimal("11.5"),
        entered_by=world.clinician,
    )
    hot = _check(django_capture_on_commit_callbacks, start + timedelta(hours=25))
    assert [a.kind for a in hot] == [ShipmentAlert.Kind.TEMPERATURE] and "11.50 °C" in hot[
        0
    ].message
    assert _check(django_capture_on_commit_callbacks, start + timedelta(hours=26)) == []
    # The sender and the lab, in the app and by e-mail, once per alert; never the name.
    recipients = {world.clinician.email, world.lab.email}
    for alert in ShipmentAlert.objects.all():
        assert (
            set(
                InboxItem.objects.filter(key=f"screening.alert:{alert.pk}").values_list(
                    "recipient__email", flat=True
                )
            )
            == recipients
        )
    alert_mails = [m for m in mail.outbox if "shipment alert" in m.subject]
    assert sorted(m.to[0] for m in alert_mails) == sorted(list(recipients) * 3)
    assert all(
        "Kari Nordmann" not in m.body and world.patient.national_id not in m.body
        for m in mail.outbox
    )
    assert world.patient.register_number in alert_mails[0].body


def _check(capture, now):
    with capture(execute=True):  # the mails go after commit
        return services.shipments_check(now=now)


@pytest.mark.django_db
def test_received_shipments_are_not_checked():
    world = make_world()
    sample = bring_to(world, State.RECEIVED, collected_hours_ago=2).samples.get()
    assert services.shipments_check(now=sample.collected_at + timedelta(hours=30)) == []


@pytest.mark.django_db
def test_receipt_needs_viability_to_accept_and_a_reason_to_reject():
    world = make_world()
    request = bring_to(world, State.IN_TRANSIT)
    sample = request.samples.get()
    with pytest.raises(ValidationError) as no_viability:
        services.receipt_record(
            sample=sample,
            by=world.lab,
            arrived_at=sample.shipment.dispatched_at + timedelta(hours=1),
            condition="intact",
            arrival_celsius=4,
            accepted=True,
        )
    assert "viability_percent" in no_viability.value.message_dict
    with pytest.raises(ValidationError) as no_reason:
        services.receipt_record(
            sample=sample,
            by=world.lab,
            arrived_at=sample.shipment.dispatched_at + timedelta(hours=1),
            condition="leaking",
            arrival_celsius=4,
            accepted=False,
        )
    assert "rejection_reason" in no_reason.value.message_dict
    with pytest.raises(ValidationError) as too_early:
        services.receipt_record(
            sample=sample,
            by=world.lab,
            arrived_at=sample.collected_at,
            condition="intact",
            arrival_celsius=4,
            accepted=True,
            viable_cell_count=1,
            viability_percent=50,
        )
    assert "before it was dispatched" in too_early.value.message_dict["arrived_at"][0]


@pytest.mark.django_db
def test_each_excursion_alerts_once_and_readings_outside_transport_do_not(
    django_capture_on_commit_callbacks,
):
    """Two separate excursions on the road are two events, each alerted once; the ward's
    and the lab's room temperature before dispatch and after arrival is no excursion; an
    inactive sender is not mailed."""
    from datetime import timedelta

    world = make_world()
    request = bring_to(world, State.IN_TRANSIT)
    shipment = request.samples.get().shipment
    start = shipment.dispatched_at
    for minutes, celsius in ((-30, 21.0), (10, 4.0), (20, 9.5), (30, 4.2), (40, 11.0), (50, 4.4)):
        services.reading_add(
            shipment=shipment,
            by=world.clinician,
            at=start + timedelta(minutes=minutes),
            celsius=celsius,
        )
    world.clinician.is_active = False  # the requester has left
    world.clinician.save()
    now = start + timedelta(hours=1)
    with django_capture_on_commit_callbacks(execute=True):
        raised = services.shipments_check(now=now)
    temperature = [a for a in raised if a.kind == ShipmentAlert.Kind.TEMPERATURE]
    assert (
        len(temperature) == 2
    )  # 9.5 °C at +20 min and 11.0 °C at +40 min; not the 21 °C before dispatch
    assert "extreme 9.5" in temperature[0].message + temperature[1].message
    assert all(world.clinician.email not in m.to for m in mail.outbox)
    assert len(mail.outbox) == 2 * len(selectors.lab_scientists(request.lab_id))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.shipments_check(now=now + timedelta(minutes=5)) == []
    # A third excursion later on is a new event.
    services.reading_add(
        shipment=shipment, by=world.lab, at=start + timedelta(minutes=70), celsius=12.0
    )
    with django_capture_on_commit_callbacks(execute=True):
        again = services.shipments_check(now=now + timedelta(minutes=15))
    assert [a.kind for a in again] == [ShipmentAlert.Kind.TEMPERATURE]


@pytest.mark.django_db
def test_a_received_shipment_with_no_hand_over_shows_a_custody_gap():
    world = make_world()
    request = bring_to(world, State.RECEIVED)
    sample = request.samples.get()
    assert not sample.shipment.handovers.exists()
    timeline = selectors.request_timeline(
        request, selectors.request_samples(request), list(request.transitions.all())
    )
    assert any(e.error and "no hand-over was recorded" in e.text for e in timeline)


@pytest.mark.django_db
def test_rejecting_after_receipt_marks_the_receipt_rejected():
    world = make_world()
    request = bring_to(world, State.RECEIVED)
    services.request_transition(
        screening_request=request, to=State.REJECTED, by=world.lab, note="Culture contaminated."
    )
    receipt = request.samples.get().receipt
    receipt.refresh_from_db()
    assert receipt.accepted is False and receipt.rejection_reason == "Culture contaminated."
