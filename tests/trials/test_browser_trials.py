"""A coordinator's trial work in a real headless Chromium, with a real Celery worker on
the real Redis broker: encode a trial's criteria in the form (no JSON), see the matching
patient appear in the queue once the background re-match has run, move the match to
"treating physician contacted"; the treating clinician then sees the request on the
patient page. No console error anywhere (a CSP violation would log one)."""

import time

import pytest
from celery.contrib.testing.worker import start_worker
from playwright.sync_api import expect

from consortium.celery import app as celery_app
from consortium.models import Role
from tests.conftest import browser_sign_in, make_member
from tests.trials.factories import episode, patient, trial


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_coordinator_encodes_criteria_and_contacts_the_treating_physician(live_server, page):
    base = live_server.url
    errors = []
    page.on(
        "console",
        lambda msg: (
            errors.append(f"{msg.text} ({msg.location.get('url')})")
            if msg.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    celery_app.control.purge()
    coordinator = make_member(
        Role.COORDINATOR, institutions=("OUS",), email="coord@ous.no", with_totp=True
    )
    clinician = make_member(
        Role.CLINICIAN, institutions=("OUS",), email="doc@ous.no", with_totp=True
    )
    t = trial(None, encoded=False, title="Regorafenib in recurrent glioblastoma", norwegian=True)
    p = patient(name="Kari Nordmann")
    episode(p, markers={"idh": "wildtype", "mgmt": "altered"}, ecog=1, follow_ups=[True])
    messages = page.locator("ul.messages")

    with start_worker(celery_app, perform_ping_check=False, pool="solo", concurrency=1):
        # 1. The coordinator encodes the criteria: IDH-wildtype glioblastoma, MGMT methylated,
        # ECOG 0-1.
        browser_sign_in(page, base, coordinator)
        page.goto(f"{base}/trials/{t.pk}/")
        expect(page.get_by_text("Not encoded yet")).to_be_visible()
        page.get_by_role("link", name="Encode criteria").click()
        rows = page.locator("fieldset.criterion-row")
        expect(rows).to_have_count(1)
        for count in (2, 3):  # the editor adds rows on the server: no script
            page.get_by_role("button", name="Add a criterion row").click()
            expect(rows).to_have_count(count)
        first, second, third = rows.nth(0), rows.nth(1), rows.nth(2)
        first.locator('select[name$="-kind"]').select_option("diagnosis")
        first.get_by_label("Glioblastoma, IDH-wildtype", exact=True).check()
        second.locator('select[name$="-kind"]').select_option("marker")
        second.locator('select[name$="-marker"]').select_option("mgmt")
        second.locator('select[name$="-marker_result"]').select_option("altered")
        third.locator('select[name$="-kind"]').select_option("performance")
        third.locator('select[name$="-scale"]').select_option("ecog")
        third.locator('input[name$="-high"]').fill("1")
        page.locator('textarea[name="check_by_hand"]').fill("Adequate organ function")
        page.get_by_role("button", name="Save criteria").click()
        expect(messages).to_contain_text("Criteria saved")
        expect(page.locator("#plain-criteria")).to_have_text(
            "Glioblastoma, IDH-wildtype, MGMT promoter methylation: methylated, ECOG ≤ 1"
        )

        # 2. The worker re-matches the trial after commit; the patient appears in the queue.
        page.goto(f"{base}/trials/matches/")
        row = page.locator("tr.match").filter(has_text=p.register_number)
        deadline = time.monotonic() + 30
        while row.count() == 0:
            assert time.monotonic() < deadline, "the match never appeared"
            page.wait_for_timeout(300)
            page.reload()
        expect(row).to_contain_text("Eligible on the encoded criteria, 1 to check by hand")
        expect(row).to_contain_text("OUS")
        expect(page.locator("body")).not_to_contain_text("Kari Nordmann")

        # 3. Open it: the facts it used; move it to "treating physician contacted".
        row.get_by_role("link", name=p.register_number).click()
        expect(page.locator("table.verdicts")).to_contain_text(
            "MGMT promoter methylation: methylated"
        )
        expect(page.locator("table.verdicts")).to_contain_text("ECOG 1")
        page.get_by_label("Step").select_option("under_review")
        page.get_by_role("button", name="Move").click()
        expect(page.locator("#match-step")).to_have_text("Under review")
        page.get_by_label("Step").select_option("contacted")
        move = page.get_by_role("form", name="Move the match")
        move.get_by_label("Note").fill("Could we discuss her at Tuesday's MDT?")
        page.get_by_role("button", name="Move").click()
        expect(messages).to_contain_text("Match moved.")
        expect(page.locator("#match-step")).to_have_text("Treating physician contacted")
        expect(page.locator("ol.events")).to_contain_text("Could we discuss her at Tuesday's MDT?")

    # 4. The treating clinician sees the request on the patient page and answers it.
    page.get_by_role("button", name="Sign out").click()
    browser_sign_in(page, base, clinician)
    page.goto(f"{base}/registry/patients/{p.register_number}/")
    panel = page.locator("section#trials")
    expect(panel.get_by_role("heading", name="Candidate trials")).to_be_visible()
    expect(panel.locator(".contact-request")).to_contain_text(
        "Could we discuss her at Tuesday's MDT?"
    )
    panel.get_by_label("Patient may be approached").check()
    panel.get_by_role("button", name="Send answer").click()
    expect(messages).to_contain_text("Your answer was sent")
    expect(page.locator("section#trials")).to_contain_text("Patient may be approached")
    assert errors == []
