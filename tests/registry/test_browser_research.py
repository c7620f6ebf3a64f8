"""Research access in a real headless Chromium: a researcher explores the aggregates,
applies for a project choosing variables from the data dictionary, a consortium admin
approves it, the researcher starts an extract, a real Celery worker builds it while the
page shows its progress, and the researcher downloads the episodes CSV and the data
dictionary. No console error (a CSP violation logs one) on the way."""

import csv
import io
from datetime import date, timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone
from playwright.sync_api import expect

from consortium.celery import app as celery_app
from consortium.models import Role
from registry.models import ExtractDownload, ResearchProject
from tests.conftest import browser_sign_in, make_member, watch_console
from tests.registry.factories import clinician, make_episode, make_patient


@pytest.fixture(autouse=True)
def extract_root(settings, tmp_path):
    settings.NBTC_EXTRACT_ROOT = tmp_path


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_researcher_applies_gets_approved_and_downloads_an_extract(live_server, browser):
    base = live_server.url
    errors: list[str] = []
    by = clinician("OUS")
    names = []
    for i in range(7):
        patient = make_patient(
            by, birth_date=date(1950 + i, 1, 10), full_name=f"Pasient Nummer{i}", sex="female"
        )
        names.append(patient.full_name)
        make_episode(
            patient,
            by,
            diagnosis_date=date(2024, 3, 1) + timedelta(days=i),
            diagnosis="glioblastoma_idh_wildtype",
            who_grade=4,
            referral_date=date(2024, 2, 20),
        )
    researcher = make_member(
        Role.RESEARCHER, institutions=("UIO-ICR",), with_totp=True, email="forsker@uio.no"
    )
    admin = make_member(Role.ADMIN, institutions=("OUS",), with_totp=True, email="adm@nbtc.no")

    context = browser.new_context(accept_downloads=True)
    page = watch_console(context.new_page(), errors)
    browser_sign_in(page, base, researcher)
    page.get_by_role("link", name="Research", exact=True).click()
    expect(page.locator("#aggregate-table")).to_contain_text("Glioblastoma, IDH-wildtype")
    expect(page.locator("#grand-total")).to_have_text("7")
    page.locator('#aggregate-form select[name="columns"]').select_option("sex")
    page.locator("#aggregate-form").get_by_role("button", name="Show").click()
    expect(page.locator("#aggregate-table thead")).to_contain_text("Female")

    page.get_by_role("link", name="Research projects").click()
    page.locator("#apply-link").click()
    form = page.locator("#apply-form")
    form.locator('input[name="title"]').fill("Referral to diagnosis in glioblastoma")
    form.locator('textarea[name="purpose"]').fill("Time from referral to diagnosis.")
    form.locator('select[name="institution"]').select_option(index=1)
    form.locator('input[name="rek_number"]').fill("REK 2026/4711")
    form.locator('input[name="rek_date"]').fill("2026-01-20")
    form.locator('select[name="legal_basis"]').select_option("exemption")
    form.locator('input[name="end_date"]').fill(
        (timezone.localdate() + timedelta(days=180)).isoformat()
    )
    form.locator('select[name="cohort_diagnoses"]').select_option("glioblastoma_idh_wildtype")
    form.get_by_role("button", name="Send the application").click()
    expect(page.locator("#project-status")).to_contain_text("Waiting for a decision")
    project = ResearchProject.objects.get()
    expect(page.locator("#extract-form")).to_have_count(0)  # nothing before the approval

    # The admin, in a browser of their own, approves (the researcher stays signed in).
    office = watch_console(browser.new_context().new_page(), errors)
    browser_sign_in(office, base, admin)
    office.goto(f"{base}/research/projects/")
    office.get_by_role("link", name="Referral to diagnosis in glioblastoma").click()
    decision = office.locator("#decision-form")
    decision.get_by_label("Approve").check()
    decision.locator('textarea[name="reason"]').fill("REK 2026/4711 approval seen")
    decision.get_by_role("button", name="Record the decision").click()
    expect(office.locator("#project-status")).to_contain_text("Approved by adm@nbtc.no")

    project.refresh_from_db()
    assert project.status == "approved" and project.decided_by == admin
    page.reload()
    expect(page.locator("#project-history")).to_contain_text("REK 2026/4711 approval seen")
    with start_worker(celery_app, perform_ping_check=False, pool="solo", concurrency=1):
        page.locator("#extract-form").get_by_role("button", name="Start an extract").click()
        status = page.locator("#extract-status")
        expect(status).to_be_visible()
        expect(page.locator("#extract-files")).to_be_visible(timeout=30_000)
    expect(status).to_contain_text("7 episodes")
    with page.expect_download() as download:
        page.locator('#extract-files a[data-table="episodes"][data-format="csv"]').click()
    rows = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    assert len(rows) == 7
    assert {r["referral_days"] for r in rows} == {str(-(10 + i)) for i in range(7)}
    with page.expect_download() as dictionary:
        page.locator('#extract-files a[data-table="data-dictionary"]').click()
    text = open(dictionary.value.path(), encoding="utf-8").read()
    assert text.startswith('"Variable / Field Name","Form Name"')
    assert "referral_days" in text
    for name in names:
        assert name not in text
    assert ExtractDownload.objects.filter(by=researcher).count() == 2
    assert errors == []
