"""Indicator reports: the page's numbers in a PDF and a CSV, made by a Celery task whose
progress is stored as it goes; a hospital's report seen only by its members and admins."""

import csv
import io

import pytest

from consortium.models import Institution, Role
from registry import indicator_reports
from registry.models import IndicatorReport
from registry.tasks import generate_indicator_report
from tests.conftest import make_member, sign_in
from tests.registry.test_indicator_pages import YEAR, cohort, snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def register():
    # Coverage: OUS 7 of 10, HUS 2 of 3 (a small cell), SUS 6 of 12.
    cohort({"OUS": (7, 3), "HUS": (2, 1), "SUS": (6, 6)})
    return snapshot()


def _rows(report) -> dict:
    rows = csv.DictReader(io.StringIO(report.csv))
    return {(r["indicator"], r["place"]): r for r in rows}


def test_a_hospital_report_has_its_own_figures_exact_and_others_suppressed(register):
    hus = Institution.objects.get(code="HUS")
    report = indicator_reports.report_request(by=None, year=YEAR, institution=hus)
    assert generate_indicator_report.apply(args=[report.pk]).get() == report.pk
    report.refresh_from_db()
    assert (report.status, report.progress, report.snapshot_id) == ("done", 100, register.pk)
    assert bytes(report.pdf).startswith(b"%PDF")
    rows = _rows(report)
    assert (rows[("coverage", "HUS")]["numerator"], rows[("coverage", "HUS")]["denominator"]) == (
        "2",
        "3",
    )
    assert rows[("coverage", "Norway")]["numerator"] == "15"
    assert rows[("coverage", "Norway")]["denominator"] == "25"
    assert rows[("coverage", "Norway")]["value"] == "0.6"
    # Only HUS's hospital row is in a HUS report.
    assert {place for code, place in rows if code == "coverage"} == {"Norway", "HUS"}
    # A second run of the task (redelivered) leaves it as it is.
    finished = report.finished_at
    generate_indicator_report.apply(args=[report.pk]).get()
    report.refresh_from_db()
    assert report.finished_at == finished


def test_the_national_report_suppresses_small_cells(register):
    report = indicator_reports.report_request(by=None, year=YEAR)
    generate_indicator_report.apply(args=[report.pk]).get()
    rows = _rows(IndicatorReport.objects.get(pk=report.pk))
    # HUS (3) is hidden, and with it the only other hospital of Helse Vest, SUS.
    assert rows[("coverage", "HUS")]["suppressed"] == "yes"
    assert rows[("coverage", "HUS")]["numerator"] == ""
    assert rows[("coverage", "SUS")]["suppressed"] == "yes"
    assert rows[("coverage", "OUS")]["numerator"] == "7"


def test_reports_are_listed_to_whom_they_belong(client, register):
    hus = Institution.objects.get(code="HUS")
    hospital = indicator_reports.report_request(by=None, year=YEAR, institution=hus)
    national = indicator_reports.report_request(by=None, year=YEAR)
    for report in (hospital, national):
        generate_indicator_report.apply(args=[report.pk]).get()
    sign_in(client, make_member(Role.CLINICIAN, institutions=("OUS",), with_totp=True))
    assert client.get(f"/registry/indicators/reports/{hospital.pk}/").status_code == 404
    assert client.get(f"/registry/indicators/reports/{hospital.pk}/pdf/").status_code == 404
    assert client.get(f"/registry/indicators/reports/{national.pk}/").status_code == 200
    download = client.get(f"/registry/indicators/reports/{national.pk}/csv/")
    assert download.status_code == 200 and download["Content-Type"].startswith("text/csv")
    # Asking for another hospital's report is refused.
    assert client.post("/registry/indicators/reports/", {"institution": "HUS"}).status_code == 403


def test_starting_a_report_queues_the_task_and_shows_its_progress(
    client, register, django_capture_on_commit_callbacks
):
    sign_in(client, make_member(Role.CLINICIAN, institutions=("HUS",), with_totp=True))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            "/registry/indicators/reports/", {"year": YEAR, "institution": "HUS"}
        )
    assert response.status_code == 302 and len(callbacks) == 1
    report = IndicatorReport.objects.get()
    IndicatorReport.objects.filter(pk=report.pk).update(status="running", progress=40)
    fragment = client.get(response["Location"], headers={"HX-Request": "true"}).content.decode()
    assert 'hx-trigger="every 1s"' in fragment and "40 %" in fragment
