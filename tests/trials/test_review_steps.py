"""The match's review steps follow one explicit table (models.STEP_TRANSITIONS): every
move from every step is tried in the service, the API and the bulk move, and is allowed
exactly when the table written out by hand here allows it; a refused move names the
allowed ones and changes nothing; a stale move is 409."""

import itertools

import pytest

from consortium.models import Role
from consortium.services import EditConflict
from tests.conftest import make_member, sign_in
from tests.trials.factories import RECURRENT_GBM, episode, patient, trial
from trials import engine, services
from trials.models import STEP_TRANSITIONS, Match, ReviewEvent, Step

pytestmark = pytest.mark.django_db

# The review as the coordinators run it, written out by hand (not read from the code).
ALLOWED = {
    ("new", "under_review"),
    ("under_review", "contacted"),
    ("contacted", "screening"),
    ("screening", "enrolled"),
    ("new", "closed"),
    ("under_review", "closed"),
    ("contacted", "closed"),
    ("screening", "closed"),
    ("closed", "under_review"),
}
STEPS = ["new", "under_review", "contacted", "screening", "enrolled", "closed"]
ALL_MOVES = list(itertools.product(STEPS, STEPS))


def _arguments(current, wanted) -> dict:
    return {
        "close_reason": "declined" if wanted == "closed" else "",
        "note": "Reopened: the patient changed her mind" if current == "closed" else "",
    }


@pytest.fixture
def coordinator():
    return make_member(Role.COORDINATOR, institutions=("OUS",), with_totp=True, email="c@x.no")


def _match_at(step: str) -> Match:
    t = trial(RECURRENT_GBM, norwegian=True)
    p = patient()
    episode(p, markers={"mgmt": "altered"}, ecog=1, follow_ups=[True])
    engine.match_trial(t.pk)
    match = Match.objects.get(trial=t, patient=p)
    Match.objects.filter(pk=match.pk).update(
        step=step, close_reason="not_pursued" if step == "closed" else ""
    )
    return Match.objects.get(pk=match.pk)


def test_the_code_table_is_the_hand_written_one():
    in_code = {(a, b) for a, targets in STEP_TRANSITIONS.items() for b in targets}
    assert in_code == ALLOWED


@pytest.mark.parametrize("current,wanted", ALL_MOVES)
def test_every_move_in_the_service(coordinator, current, wanted):
    match = _match_at(current)
    args = _arguments(current, wanted)
    if (current, wanted) in ALLOWED:
        moved = services.match_move(
            match=match, by=coordinator, step=wanted, expected_version=match.version, **args
        )
        assert moved.step == wanted and moved.version == match.version + 1
        assert ReviewEvent.objects.get(match=match).step == wanted
    else:
        with pytest.raises(Exception) as refused:
            services.match_move(
                match=match, by=coordinator, step=wanted, expected_version=match.version, **args
            )
        message = " ".join(refused.value.messages)
        assert f"cannot move to {Step(wanted).label.lower()}" in message
        allowed = [Step(s).label.lower() for s in STEP_TRANSITIONS[current]]
        assert (", ".join(allowed) if allowed else "none (final)") in message
        match.refresh_from_db()
        assert match.step == current and not ReviewEvent.objects.filter(match=match).exists()


@pytest.mark.parametrize("current,wanted", ALL_MOVES)
def test_every_move_in_the_api_and_the_bulk_move(client, coordinator, current, wanted):
    sign_in(client, coordinator)
    match = _match_at(current)
    args = _arguments(current, wanted)
    one = client.post(
        f"/api/v1/trials/matches/{match.pk}/steps/",
        {"step": wanted, "version": match.version, **args},
        content_type="application/json",
    )
    match.refresh_from_db()
    if (current, wanted) in ALLOWED:
        assert one.status_code == 201 and match.step == wanted
        assert one.json()["allowed_steps"] == list(STEP_TRANSITIONS[wanted])
        Match.objects.filter(pk=match.pk).update(step=current)  # back, for the bulk move
    else:
        assert one.status_code == 400 and match.step == current
        assert "Allowed from" in one.json()["extra"]["fields"]["step"][0]
    bulk = client.post(
        "/api/v1/trials/matches/steps/",
        {"matches": [match.pk], "step": wanted, **args},
        content_type="application/json",
    )
    match.refresh_from_db()
    if (current, wanted) in ALLOWED:
        assert bulk.json() == {"moved": 1} and match.step == wanted
    else:
        assert bulk.status_code == 400 and match.step == current
        assert "Nothing moved" in bulk.json()["extra"]["fields"]["step"][0]


def test_the_browser_form_offers_only_the_allowed_moves_and_refuses_a_skip(client, coordinator):
    sign_in(client, coordinator)
    match = _match_at("new")
    page = client.get(f"/trials/matches/{match.pk}/").content.decode()
    assert 'value="under_review"' in page and 'value="closed"' in page
    assert 'value="enrolled"' not in page and 'value="contacted"' not in page
    # A hand-made post of the skip is refused by the service, naming the allowed moves.
    refused = client.post(
        f"/trials/matches/{match.pk}/", {"step": "enrolled", "version": match.version}
    )
    assert refused.status_code == 400
    assert (
        "A match at new cannot move to enrolled. Allowed from new: under review, closed."
        in refused.content.decode()
    )
    match.refresh_from_db()
    assert match.step == "new"


def test_a_stale_move_is_refused_everywhere(client, coordinator):
    sign_in(client, coordinator)
    match = _match_at("new")
    old = match.version
    services.match_move(match=match, by=coordinator, step="under_review")
    with pytest.raises(EditConflict):
        services.match_move(match=match, by=coordinator, step="contacted", expected_version=old)
    api = client.post(
        f"/api/v1/trials/matches/{match.pk}/steps/",
        {"step": "contacted", "version": old},
        content_type="application/json",
    )
    assert api.status_code == 409 and "moved by someone else" in api.json()["message"]
    page = client.post(f"/trials/matches/{match.pk}/", {"step": "contacted", "version": old})
    assert page.status_code == 409
    bulk = client.post(
        "/api/v1/trials/matches/steps/",
        {"matches": [match.pk], "step": "contacted", "versions": {str(match.pk): old}},
        content_type="application/json",
    )
    assert bulk.status_code == 409
    match.refresh_from_db()
    assert match.step == "under_review"


def test_a_bulk_move_with_one_illegal_match_moves_none(client, coordinator):
    sign_in(client, coordinator)
    first, second = _match_at("new"), _match_at("under_review")
    page = client.post(
        "/trials/matches/", {"match_ids": [first.pk, second.pk], "step": "contacted"}
    )
    assert page.status_code == 302
    follow = client.get(page["Location"]).content.decode()
    assert (
        "Nothing moved: 1 of the selected matches cannot move to treating physician contacted"
        in follow
    )
    assert f"{first.patient.register_number} at new (allowed: under review, closed)" in follow
    moved = Match.objects.filter(pk__in=[first.pk, second.pk]).order_by("pk")
    assert list(moved.values_list("step", flat=True)) == ["new", "under_review"]


def test_reopening_needs_a_reason(coordinator):
    match = _match_at("closed")
    with pytest.raises(Exception, match="Say why the match is reopened"):
        services.match_move(match=match, by=coordinator, step="under_review")
    reopened = services.match_move(
        match=match, by=coordinator, step="under_review", note="New MRI: progression confirmed"
    )
    assert reopened.step == "under_review" and reopened.close_reason == ""
