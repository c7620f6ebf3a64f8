"""In a real headless Chromium: a coordinator opens a match whose trial has two items to
check by hand, sees "eligible on the encoded criteria, 2 to check by hand", marks both
met and sees the match become eligible; the step form offers only the table's moves from
"new", and a forged skip to "enrolled" is refused naming the allowed moves. No console
error anywhere (a CSP violation would log one)."""

import pytest
from playwright.sync_api import expect

from consortium.models import Role
from tests.conftest import browser_sign_in, make_member, watch_console
from tests.trials.factories import GBM, episode, patient, tree, trial
from trials import engine
from trials.models import Match

ITEMS = ["Radionecrosis confirmed on perfusion MRI", "No progression on the latest MRI"]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_coordinator_checks_items_by_hand_and_cannot_skip_steps(live_server, page):
    base = live_server.url
    errors = []
    watch_console(page, errors)
    coordinator = make_member(
        Role.COORDINATOR, institutions=("OUS",), email="coord@ous.no", with_totp=True
    )
    t = trial(
        tree(
            {"type": "diagnosis", "codes": [GBM]},
            {"type": "marker", "marker": "mgmt", "result": "altered"},
            by_hand=ITEMS,
        ),
        norwegian=True,
        title="Chlorophyllin for radionecrosis",
    )
    p = patient(name="Kari Nordmann")
    episode(p, markers={"mgmt": "altered"})
    engine.match_trial(t.pk)
    match = Match.objects.get()

    browser_sign_in(page, base, coordinator)
    page.goto(f"{base}/trials/matches/")
    row = page.locator("tr.match").filter(has_text=p.register_number)
    expect(row).to_contain_text("Eligible on the encoded criteria, 2 to check by hand")
    row.get_by_role("link", name=p.register_number).click()
    outcome = page.locator("#match-outcome")
    expect(outcome).to_have_text("Eligible on the encoded criteria, 2 to check by hand")
    verdicts = page.locator("table.verdicts")
    # The encoded verdicts and the items to check by hand, together.
    expect(verdicts).to_contain_text("MGMT promoter methylation: methylated")
    for text in ITEMS:
        expect(verdicts.locator("tr", has_text=text)).to_contain_text("check by hand")

    for i, text in enumerate(ITEMS):
        form = page.get_by_role("form", name=f"Check: {text}")
        form.get_by_label("Met", exact=True).check()
        form.get_by_label("Note").fill("Seen on the 28.11. MRI")
        form.get_by_role("button", name="Record").click()
        expect(page.locator("ul.messages")).to_contain_text("Check recorded.")
        if i == 0:
            expect(outcome).to_have_text("Eligible on the encoded criteria, 1 to check by hand")
    expect(outcome).to_have_text("Eligible")
    expect(verdicts.locator("tr", has_text=ITEMS[1])).to_contain_text("met (checked by hand)")
    expect(verdicts.locator("tr", has_text=ITEMS[1])).to_contain_text(str(coordinator))

    # From "new" the form offers only the table's moves: no skip to enrolled.
    step = page.get_by_label("Step")
    expect(step.locator("option")).to_have_text(["Under review", "Closed"])
    # Forge the skip (as a stale page or a hand-made post would): refused, nothing moves.
    step.evaluate(
        "s => { const o = document.createElement('option'); o.value = 'enrolled';"
        " o.text = 'Enrolled'; s.add(o); s.value = 'enrolled'; }"
    )
    page.get_by_role("button", name="Move").click()
    expect(page.locator("#move-error")).to_have_text(
        "A match at new cannot move to enrolled. Allowed from new: under review, closed."
    )
    expect(page.locator("#match-step")).to_have_text("New")
    match.refresh_from_db()
    assert match.step == "new" and match.eligibility == "eligible"
    expect(page.locator("body")).not_to_contain_text("Kari Nordmann")
    # The refused move answers 400, which Chromium logs as a failed load; nothing else.
    assert [e for e in errors if "status of 400" not in e] == [], errors
