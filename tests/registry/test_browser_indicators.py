"""A clinician and the quality indicators in a real headless Chromium: filter a year and a
diagnosis group, see the funnel plot with their hospital marked, open the list of their own
patients who missed an indicator, and start a report whose progress is shown (a real Celery
worker makes it) until its PDF can be downloaded. No console error (a CSP violation logs
one) on the way."""

import pytest
from celery.contrib.testing.worker import start_worker
from playwright.sync_api import expect

from consortium.celery import app as celery_app
from consortium.models import AccessLog, Role
from tests.conftest import browser_sign_in, make_member, watch_console
from tests.registry.test_indicator_pages import YEAR, cohort, snapshot


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_clinician_reads_the_indicators_and_makes_a_report(live_server, browser):
    base = live_server.url
    errors: list[str] = []
    # Coverage of glioblastoma reports: HUS 6 of 9, OUS 8 of 10, SUS 5 of 11.
    cohort({"HUS": (6, 3), "OUS": (8, 2), "SUS": (5, 6)})
    cohort({"HUS": (4, 4)}, year=YEAR - 1)
    snapshot()
    clinician = make_member(Role.CLINICIAN, institutions=("HUS",), with_totp=True)
    context = browser.new_context(accept_downloads=True)
    page = watch_console(context.new_page(), errors)

    browser_sign_in(page, base, clinician)
    page.get_by_role("link", name="Indicators").click()
    form = page.locator("#indicator-filters")
    form.locator('select[name="year"]').select_option(str(YEAR))
    form.locator('select[name="group"]').select_option("glioblastoma_idh_wildtype")
    form.get_by_role("button", name="Show").click()
    coverage = page.locator("section#coverage")
    expect(coverage.locator("#coverage-table caption")).to_contain_text(str(YEAR))
    expect(coverage.locator("svg.funnel g.hospital")).to_have_count(3)
    expect(coverage.locator("svg.funnel g.hospital.own text")).to_have_text("HUS")
    own_row = coverage.locator("tr.hospital.own")
    expect(own_row).to_contain_text("66,7 %")  # Norwegian style (U+00A0 before %)

    own_row.get_by_role("link", name="Patients not met").click()
    expect(page.locator("h1")).to_contain_text("not met at HUS")
    expect(page.locator("#missed tbody tr")).to_have_count(3)  # the three drafts
    assert AccessLog.objects.filter(user=clinician, page="registry:indicator_missed").count() == 3

    page.goto(f"{base}/registry/indicators/")
    page.locator("#reports-link").click()
    report_form = page.locator("#report-form")
    report_form.locator('select[name="institution"]').select_option("HUS")
    with start_worker(celery_app, perform_ping_check=False, pool="solo", concurrency=1):
        report_form.get_by_role("button", name="Make the report").click()
        expect(page.locator("#report-status")).to_be_visible()
        expect(page.locator("#report-pdf")).to_be_visible(timeout=30_000)
    with page.expect_download() as download:
        page.locator("#report-pdf").click()
    path = download.value.path()
    with open(path, "rb") as pdf:
        assert pdf.read(5) == b"%PDF-"
    assert download.value.suggested_filename == f"nbtc-indicators-HUS-{YEAR}.pdf"
    assert errors == []
