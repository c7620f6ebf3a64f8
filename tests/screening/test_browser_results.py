"""Plate results in a real headless Chromium with a real Celery worker: a lab scientist
uploads a layout and a two-plate grid readout, watches the progress turn into QC, heat
maps and the ranked drugs with their curves, writes and signs the report with the
password, and the clinician opens it from the patient page. Any console error (a CSP
violation logs one) fails the test."""

from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from playwright.sync_api import expect

from consortium.celery import app as celery_app
from screening.models import Report
from tests.conftest import PASSWORD, browser_sign_in, watch_console
from tests.screening.factories import bring_to, make_world

DATA = Path(__file__).parent / "data"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_lab_uploads_plates_signs_the_report_and_the_clinician_reads_it(live_server, browser):
    base = live_server.url
    errors: list[str] = []
    world = make_world(with_totp=True)
    request = bring_to(world, "in_culture")
    lab = watch_console(browser.new_context().new_page(), errors)
    clinician = watch_console(browser.new_context().new_page(), errors)

    with start_worker(celery_app, perform_ping_check=False, pool="solo", concurrency=1):
        browser_sign_in(lab, base, world.lab)
        lab.goto(f"{base}/screening/requests/{request.pk}/")
        lab.locator("#results-link").click()
        lab.get_by_role("link", name="Upload plates").click()
        lab.locator('input[name="layout"]').set_input_files(str(DATA / "layout_two_plates.csv"))
        lab.locator('input[name="readouts"]').set_input_files(
            str(DATA / "readout_two_plates_grid.csv")
        )
        lab.locator('input[name="save_template_as"]').fill("FIMM 384, two plates")
        lab.get_by_role("button", name="Upload and analyse").click()
        # Progress first (the page refreshes itself), then the results.
        expect(lab.locator("#run-facts")).to_be_visible(timeout=30_000)
    expect(lab.locator("table.qc tbody tr")).to_have_count(2)
    expect(lab.locator("table.qc")).to_contain_text("Passed")
    expect(lab.locator("svg.heatmap")).to_have_count(2)
    expect(lab.locator("li.drug-card")).to_have_count(30)
    expect(lab.locator("li.drug-card svg.curve polyline.fit")).to_have_count(30)
    expect(lab.locator("li.drug-card").first.locator("h3")).to_contain_text("Palbociclib")
    lab.locator('select[name="class"]').select_option("CDK4/6 inhibitor")
    lab.get_by_role("button", name="Filter").click()
    expect(lab.locator("li.drug-card")).to_have_count(2)

    lab.get_by_role("link", name="Report for the tumour board").click()
    lab.locator('textarea[name="interpretation"]').fill(
        "The culture is most sensitive to CDK4/6 inhibitors."
    )
    lab.get_by_role("button", name="Save draft").click()
    # The saved draft is read first, as the board will read it; the signature is below it.
    preview = lab.locator("#report-preview")
    expect(preview.locator("p.interpretation")).to_contain_text("CDK4/6 inhibitors")
    expect(preview.locator("li.drug-card")).to_have_count(10)
    read, sign = preview.bounding_box(), lab.locator('input[name="password"]').bounding_box()
    assert read["y"] + read["height"] <= sign["y"]
    lab.locator('input[name="password"]').fill("not my password")
    lab.get_by_role("button", name="Sign and release").click()
    expect(lab.locator("form.sign")).to_contain_text("The password is not right")
    lab.locator('input[name="password"]').fill(PASSWORD)
    lab.get_by_role("button", name="Sign and release").click()
    expect(lab.locator("h1")).to_have_text("Drug screening report for the tumour board")
    report = Report.objects.get()
    assert report.status == "released"

    browser_sign_in(clinician, base, world.clinician)
    clinician.goto(f"{base}{world.patient.get_absolute_url()}")
    clinician.get_by_role("link", name="Report v1").click()
    expect(clinician.locator("p.interpretation")).to_contain_text("CDK4/6 inhibitors")
    expect(clinician.locator("li.drug-card svg.curve")).to_have_count(10)
    expect(clinician.locator("body")).not_to_contain_text("Kari Nordmann")
    assert errors == []
