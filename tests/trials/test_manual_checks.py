"""Criteria checked by hand: a match whose encoded criteria are all met is "eligible on
the encoded criteria, N to check by hand" until a coordinator marks every item met; one
marked not met makes it not eligible. The API gives the four outcomes and the items."""

import pytest

from consortium.models import Role
from consortium.services import EditConflict
from tests.conftest import make_member, sign_in
from tests.trials.factories import GBM, episode, patient, tree, trial
from trials import engine, services
from trials.models import Eligibility, ManualCheck, Match

pytestmark = pytest.mark.django_db

ITEMS = ["Radionecrosis confirmed on perfusion MRI", "No progression on the latest MRI"]


@pytest.fixture
def coordinator():
    return make_member(Role.COORDINATOR, institutions=("OUS",), with_totp=True, email="c@x.no")


def _matched(items=ITEMS, *, mgmt="altered"):
    t = trial(
        tree(
            {"type": "diagnosis", "codes": [GBM]},
            {"type": "marker", "marker": "mgmt", "result": "altered"},
            by_hand=items,
        ),
        norwegian=True,
    )
    p = patient()
    episode(p, markers={"mgmt": mgmt} if mgmt else {})
    engine.match_trial(t.pk)
    return t, Match.objects.get(trial=t)


def test_eligible_only_after_every_item_is_marked_met(client, coordinator):
    t, match = _matched()
    assert (match.outcome, match.eligibility, match.checks_pending) == (
        "eligible",
        Eligibility.PENDING_CHECKS,
        2,
    )
    sign_in(client, coordinator)
    page = client.get(f"/trials/matches/{match.pk}/").content.decode()
    assert "Eligible on the encoded criteria, 2 to check by hand" in page
    # The verdicts and the items to check by hand in one table.
    table = page[page.index('<table class="list verdicts">') : page.index("</table>")]
    assert "MGMT promoter methylation" in table and ITEMS[0] in table and ITEMS[1] in table
    api = client.get(f"/api/v1/trials/matches/{match.pk}/").json()
    assert api["outcome"] == "eligible_pending_checks" and api["encoded_outcome"] == "eligible"
    assert [(c["text"], c["status"], c["by"]) for c in api["manual_checks"]] == [
        (ITEMS[0], "unchecked", None),
        (ITEMS[1], "unchecked", None),
    ]
    first = client.post(
        f"/trials/matches/{match.pk}/",
        {"text": ITEMS[0], "status": "met", "note": "Perfusion low", "version": match.version},
    )
    assert first.status_code == 302
    match.refresh_from_db()
    assert (match.eligibility, match.checks_pending) == (Eligibility.PENDING_CHECKS, 1)
    assert "1 to check by hand" in client.get(f"/trials/matches/{match.pk}/").content.decode()
    second = client.post(
        f"/api/v1/trials/matches/{match.pk}/checks/",
        {"text": ITEMS[1], "status": "met", "version": match.version},
        content_type="application/json",
    )
    assert second.status_code == 200 and second.json()["outcome"] == "eligible"
    checks = second.json()["manual_checks"]
    assert [c["status"] for c in checks] == ["met", "met"]
    assert checks[0]["by"] == str(coordinator) and checks[0]["note"] == "Perfusion low"
    assert checks[0]["at"]
    assert client.get("/api/v1/trials/matches/?outcome=eligible").json()["count"] == 1


def test_an_item_not_met_makes_the_match_not_eligible(client, coordinator):
    _, match = _matched()
    with pytest.raises(Exception, match="Say what was found"):
        services.match_check_mark(match=match, by=coordinator, text=ITEMS[1], status="not_met")
    match = services.match_check_mark(
        match=match, by=coordinator, text=ITEMS[1], status="not_met", note="Progression 03.11."
    )
    assert match.eligibility == Eligibility.NOT_ELIGIBLE
    # Marking the other one met does not make it eligible.
    match = services.match_check_mark(match=match, by=coordinator, text=ITEMS[0], status="met")
    assert match.eligibility == Eligibility.NOT_ELIGIBLE
    # Back to unchecked: pending again, not eligible no more.
    match = services.match_check_mark(
        match=match, by=coordinator, text=ITEMS[1], status="unchecked"
    )
    assert (match.eligibility, match.checks_pending) == (Eligibility.PENDING_CHECKS, 1)


def test_a_possibly_eligible_match_stays_possibly_after_checks(coordinator):
    _, match = _matched(mgmt=None)  # MGMT not tested: unknown
    assert match.eligibility == Eligibility.POSSIBLY
    for text in ITEMS:
        match = services.match_check_mark(match=match, by=coordinator, text=text, status="met")
    assert match.eligibility == Eligibility.POSSIBLY


def test_no_items_means_eligible_at_once():
    _, match = _matched(items=[])
    assert match.eligibility == Eligibility.ELIGIBLE


def test_unknown_item_and_stale_mark_are_refused(client, coordinator):
    _, match = _matched()
    sign_in(client, coordinator)
    unknown = client.post(
        f"/api/v1/trials/matches/{match.pk}/checks/",
        {"text": "Something else", "status": "met", "version": match.version},
        content_type="application/json",
    )
    assert unknown.status_code == 400 and "text" in unknown.json()["extra"]["fields"]
    services.match_check_mark(match=match, by=coordinator, text=ITEMS[0], status="met")
    with pytest.raises(EditConflict):
        services.match_check_mark(
            match=match, by=coordinator, text=ITEMS[1], status="met", expected_version=match.version
        )
    assert ManualCheck.objects.count() == 1


def test_changing_the_trials_items_recounts_its_matches(coordinator):
    t, match = _matched()
    for text in ITEMS:
        services.match_check_mark(match=match, by=coordinator, text=text, status="met")
    t.refresh_from_db()
    new_tree = dict(t.criteria, check_by_hand=[ITEMS[0], "Adequate bone marrow function"])
    services.trial_criteria_save(trial=t, by=coordinator, tree=new_tree, expected_version=t.version)
    match.refresh_from_db()
    # The first item stays met; the new one is open.
    assert (match.eligibility, match.checks_pending) == (Eligibility.PENDING_CHECKS, 1)
