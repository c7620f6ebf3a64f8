"""Every allowed and every refused move of a request (services.TRANSITIONS), through the
services: an allowed move changes the state and records an event; a refused one names
the current state, the wanted state and the allowed ones, and changes nothing."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from screening import services
from screening.models import RequestEvent, State
from tests.screening.factories import bring_to, fresh_tissue, hours_ago, make_world

ALLOWED = {
    State.REQUESTED: {State.ACCEPTED, State.DECLINED, State.CANCELLED},
    State.ACCEPTED: {State.SAMPLE_COLLECTED, State.CANCELLED},
    State.SAMPLE_COLLECTED: {State.IN_TRANSIT, State.CANCELLED},
    State.IN_TRANSIT: {State.RECEIVED, State.REJECTED},
    State.RECEIVED: {State.IN_CULTURE, State.REJECTED},
    State.REJECTED: {State.SAMPLE_COLLECTED, State.CANCELLED},
    State.IN_CULTURE: {State.SCREENING, State.CANCELLED},
    State.SCREENING: {State.REPORTED, State.CANCELLED},
    State.DECLINED: set(),
    State.REPORTED: set(),
    State.CANCELLED: set(),
}


def test_the_table_is_the_issues_states_and_moves():
    assert {k: set(v) for k, v in services.TRANSITIONS.items()} == ALLOWED
    assert set(State.values) == {
        "requested",
        "accepted",
        "declined",
        "sample_collected",
        "in_transit",
        "received",
        "rejected",
        "in_culture",
        "screening",
        "reported",
        "cancelled",
    }


def _do(world, request, to):
    """The move `to`, made by the party and service that make it."""
    if to == State.ACCEPTED:
        return services.request_transition(
            screening_request=request,
            to=to,
            by=world.lab,
            expected_sample_date=timezone.localdate() + timedelta(days=3),
        )
    if to == State.SAMPLE_COLLECTED:
        return services.sample_register(
            screening_request=request,
            by=world.clinician,
            sample_type=fresh_tissue(),
            amount=Decimal(50),
            amount_unit="mg",
            medium="Hibernate-A",
            collected_at=hours_ago(1),
        )
    if to == State.IN_TRANSIT:
        sample = request.samples.get()
        return services.shipment_dispatch(
            sample=sample,
            by=world.clinician,
            packaging="un3373_cold",
            courier="Bring",
            dispatched_at=sample.collected_at + timedelta(minutes=30),
            expected_arrival=sample.collected_at + timedelta(hours=6),
        )
    if to in (State.RECEIVED, State.REJECTED) and request.state == State.IN_TRANSIT:
        return services.receipt_record(
            sample=request.samples.get(),
            by=world.lab,
            arrived_at=hours_ago(0.1),
            condition="intact",
            arrival_celsius=Decimal(4),
            accepted=to == State.RECEIVED,
            viable_cell_count=10**6,
            viability_percent=Decimal(80),
            rejection_reason="Too few cells.",
        )
    clinician_moves = {
        (State.REQUESTED, State.CANCELLED),
        (State.ACCEPTED, State.CANCELLED),
        (State.SAMPLE_COLLECTED, State.CANCELLED),
        (State.REJECTED, State.CANCELLED),
    }
    by = world.clinician if (request.state, to) in clinician_moves else world.lab
    return services.request_transition(screening_request=request, to=to, by=by, note="Because.")


@pytest.mark.django_db
@pytest.mark.parametrize("start", list(State.values))
def test_every_move_from_a_state(start):
    world = make_world()
    for wanted in State.values:
        request = bring_to(world, start)
        events = RequestEvent.objects.filter(request=request).count()
        if wanted in ALLOWED[start]:
            _do(world, request, wanted)
            request.refresh_from_db()
            assert request.state == wanted, f"{start} -> {wanted}"
            last = request.transitions.order_by("-id").first()  # "at" is when it happened
            assert (last.from_state, last.to_state) == (start, wanted)
            assert request.transitions.count() == events + 1
        else:
            with pytest.raises(ValidationError) as refused:
                services.request_transition(
                    screening_request=request,
                    to=wanted,
                    by=world.lab,
                    note="x",
                    expected_sample_date=timezone.localdate(),
                )
            message = refused.value.message_dict["state"][0]
            assert (
                f"that is {State(start).label.lower()} cannot become {State(wanted).label.lower()}"
                in message
            )
            allowed = (
                ", ".join(State(s).label.lower() for s in services.TRANSITIONS[start])
                or "none (it is final)"
            )
            assert f"Allowed from {State(start).label.lower()}: {allowed}." in message
            request.refresh_from_db()
            assert request.state == start and request.transitions.count() == events


@pytest.mark.django_db
def test_a_rejected_sample_lets_the_request_take_a_new_one():
    world = make_world()
    request = bring_to(world, State.REJECTED)
    second = services.sample_register(
        screening_request=request,
        by=world.clinician,
        sample_type=fresh_tissue(),
        amount=Decimal(80),
        amount_unit="mg",
        medium="Hibernate-A",
        collected_at=hours_ago(0.5),
    )
    request.refresh_from_db()
    assert request.state == State.SAMPLE_COLLECTED and request.samples.count() == 2
    assert second.label_id != request.samples.first().label_id


@pytest.mark.django_db
def test_moves_that_carry_data_are_refused_without_it():
    world = make_world()
    request = bring_to(world, State.REQUESTED)
    with pytest.raises(ValidationError) as no_date:
        services.request_transition(screening_request=request, to=State.ACCEPTED, by=world.lab)
    assert "expected_sample_date" in no_date.value.message_dict
    with pytest.raises(ValidationError) as no_reason:
        services.request_transition(
            screening_request=request, to=State.DECLINED, by=world.lab, note=" "
        )
    assert "reason" in no_reason.value.message_dict["note"][0]
    accepted = bring_to(world, State.ACCEPTED)
    with pytest.raises(ValidationError) as elsewhere:
        services.request_transition(
            screening_request=accepted, to=State.SAMPLE_COLLECTED, by=world.clinician
        )
    assert "by registering the sample" in elsewhere.value.message_dict["state"][0]
    in_transit = bring_to(world, State.IN_TRANSIT)
    with pytest.raises(ValidationError) as receipt_needed:
        services.request_transition(
            screening_request=in_transit, to=State.REJECTED, by=world.lab, note="bad"
        )
    assert "recording the receipt" in receipt_needed.value.message_dict["state"][0]


@pytest.mark.django_db
def test_each_move_is_made_only_by_its_party():
    world = make_world()
    request = bring_to(world, State.REQUESTED)
    for outsider in (
        world.clinician,
        world.coordinator,
        world.other_lab,
        world.researcher,
        world.admin,
    ):
        with pytest.raises(PermissionDenied):
            services.request_transition(
                screening_request=request,
                to=State.ACCEPTED,
                by=outsider,
                expected_sample_date=timezone.localdate(),
            )
    for outsider in (world.lab, world.coordinator, world.other_clinician):
        with pytest.raises(PermissionDenied):
            services.request_transition(
                screening_request=request, to=State.CANCELLED, by=outsider, note="no"
            )
    accepted = bring_to(world, State.ACCEPTED)
    for outsider in (world.lab, world.coordinator, world.other_clinician):
        with pytest.raises(PermissionDenied):
            services.sample_register(
                screening_request=accepted,
                by=outsider,
                sample_type=fresh_tissue(),
                amount=1,
                amount_unit="mg",
                medium="m",
                collected_at=hours_ago(1),
            )
    in_transit = bring_to(world, State.IN_TRANSIT)
    for outsider in (world.clinician, world.other_lab):
        with pytest.raises(PermissionDenied):
            services.receipt_record(
                sample=in_transit.samples.get(),
                by=outsider,
                arrived_at=hours_ago(0.1),
                condition="intact",
                arrival_celsius=4,
                accepted=True,
                viable_cell_count=1,
                viability_percent=50,
            )
    assert State.IN_TRANSIT == type(in_transit).objects.get(pk=in_transit.pk).state


@pytest.mark.django_db
def test_a_move_against_an_older_version_is_refused():
    from consortium.services import EditConflict

    world = make_world()
    request = bring_to(world, State.REQUESTED)
    opened_at = request.version
    services.request_transition(
        screening_request=request,
        to=State.CANCELLED,
        by=world.clinician,
        note="Patient declined.",
        expected_version=opened_at,
    )
    with pytest.raises(EditConflict):
        services.request_transition(
            screening_request=request,
            to=State.ACCEPTED,
            by=world.lab,
            expected_version=opened_at,
            expected_sample_date=timezone.localdate(),
        )
