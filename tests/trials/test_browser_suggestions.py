"""A coordinator confirms an imported trial's suggested criteria in a real headless
Chromium, with a real Celery worker on the real Redis broker: the trial (a real
ClinicalTrials.gov record, no criteria encoded) shows its suggestions highlighted in its
eligibility text; the coordinator accepts three, rejects one and edits one; the trial's
match list fills once the background re-match has run. The patient matches only because
of the edit (Karnofsky 60, the text asks 70) and the rejection (she had radiotherapy, the
text's "no prior therapy" was read as no prior radiotherapy). No console error."""

import json
import time
from datetime import date

import pytest
from celery.contrib.testing.worker import start_worker
from dateutil.relativedelta import relativedelta
from playwright.sync_api import expect

from consortium.celery import app as celery_app
from consortium.models import Role
from tests.conftest import CTGOV, browser_sign_in, make_member
from tests.trials.factories import episode, patient
from trials import services
from trials.models import Suggestion, Trial


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_coordinator_confirms_suggested_criteria_and_the_matches_come(live_server, page):
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
    # CHARM (NCT06720727): H3-altered diffuse midline glioma, age 3 to 18, imported as the
    # weekly sync and import_trials do.
    record = json.loads((CTGOV / "NCT06720727.json").read_text())
    services._import_document("NCT06720727.json", record, services.ImportReport(), None)
    t = Trial.objects.get(nct_id="NCT06720727")
    assert t.criteria_encoded_at is None
    child = patient(birth_date=date.today() - relativedelta(years=10), name="Ingrid Berg")
    episode(
        child,
        diagnosis="diffuse_midline_glioma_h3k27",
        grade=4,
        markers={"h3k27": "altered"},
        karnofsky=60,
        follow_ups=[False],
        radiotherapy_end=date(2025, 3, 14),
    )
    messages = page.locator("ul.messages")

    def row(kind):
        return page.locator(f'tr.suggestion[data-kind="{kind}"]')

    with start_worker(celery_app, perform_ping_check=False, pool="solo", concurrency=1):
        browser_sign_in(page, base, coordinator)
        page.goto(f"{base}/trials/{t.pk}/")
        expect(page.get_by_text("Not encoded yet")).to_be_visible()
        # The suggestions, each highlighted where it was read.
        expect(page.locator("tr.suggestion")).to_have_count(5)
        source = page.locator("#eligibility-source")
        expect(source.locator("mark.suggestion-span")).not_to_have_count(0)
        kps = Suggestion.objects.get(trial=t, kind="performance")
        expect(source.locator(f'mark[data-suggestions="{kps.pk}"]')).to_have_text(
            "Karnofsky/Lansky Performance Score more than or equal to 70"
        )
        expect(row("diagnosis")).to_contain_text("Diffuse midline glioma, H3 K27-altered")
        expect(row("diagnosis")).to_contain_text("“histone altered diffuse midline glioma”")
        expect(page.locator("#reading-message")).to_contain_text("5 to confirm")

        # Accept three.
        for kind in ("diagnosis", "marker", "setting"):
            row(kind).get_by_role("button", name="Accept").click()
            expect(messages).to_contain_text("Accepted:")
            expect(row(kind)).to_contain_text("Accepted by")
        # Reject one: "no prior therapy" read as no prior radiotherapy.
        row("prior_treatment").get_by_role("button", name="Reject").click()
        expect(messages).to_contain_text("Rejected")
        expect(row("prior_treatment")).to_contain_text("Rejected by")
        # Edit one: Karnofsky 70 -> 60.
        row("performance").get_by_role("link", name="Edit").click()
        page.get_by_label("Lowest score").fill("60")
        page.get_by_role("button", name="Accept as edited").click()
        expect(messages).to_contain_text("Accepted as edited")
        expect(row("performance")).to_contain_text("Accepted after an edit by")
        expect(page.locator("#plain-criteria")).to_contain_text("Karnofsky ≥ 60")
        expect(page.locator("#plain-criteria")).to_contain_text(
            "Diffuse midline glioma, H3 K27-altered"
        )
        expect(page.locator("#confirmed-suggestions li")).to_have_count(4)

        # The worker re-matches after each commit; the match list fills.
        matches = page.locator("tr.match").filter(has_text=child.register_number)
        deadline = time.monotonic() + 45
        while matches.count() == 0:
            assert time.monotonic() < deadline, "the match never appeared"
            page.wait_for_timeout(300)
            page.reload()
        expect(matches).to_contain_text("Eligible")
    assert errors == []
