"""Annual indicator reports released in editions: a released report never changes (the
database refuses it), a correction is a new edition with its reason, every edition stays
downloadable; the tables also as XLSX, with no cell ever a formula."""

import io
import zipfile

import pytest
from django.db import IntegrityError, InternalError, transaction
from openpyxl import load_workbook

from consortium.models import Institution, Role
from registry import indicator_reports
from registry.models import IndicatorReport
from registry.tasks import generate_indicator_report
from tests.conftest import make_member, sign_in
from tests.registry.test_indicator_pages import YEAR, cohort, snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def register():
    # Coverage: OUS 7 of 10, SUS 6 of 12; a hospital whose code starts like a formula
    # (old data: the code field refuses it today) with 5 of 5.
    Institution.objects.create(
        code="=1+2", name="Formula hospital", kind="hospital", health_region="north"
    )
    cohort({"OUS": (7, 3), "SUS": (6, 6), "=1+2": (5, 0)})
    return snapshot()


@pytest.fixture
def admin():
    return make_member(Role.ADMIN, institutions=(), with_totp=True)


def _made(**kwargs) -> IndicatorReport:
    report = indicator_reports.report_request(by=None, year=YEAR, **kwargs)
    generate_indicator_report.apply(args=[report.pk]).get()
    return IndicatorReport.objects.get(pk=report.pk)


def test_the_xlsx_table_has_the_csv_numbers_and_no_formula(register):
    report = _made()
    sheet = load_workbook(io.BytesIO(bytes(report.xlsx))).active
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    by_place = {(r[0], r[3]): dict(zip(header, r, strict=True)) for r in rows[1:]}
    # Worked by hand: 7 + 6 + 5 = 18 complete of 10 + 12 + 5 = 27.
    national = by_place[("coverage", "Norway")]
    assert (national["numerator"], national["denominator"]) == (18, 27)
    assert national["value"] == round(18 / 27, 4)
    assert by_place[("coverage", "OUS")]["numerator"] == 7
    # The formula-like code is a text cell, quote-prefixed, and the file holds no formula.
    evil = next(c for row in sheet.iter_rows() for c in row if c.value == "=1+2")
    assert evil.data_type == "s" and evil.quotePrefix
    with zipfile.ZipFile(io.BytesIO(bytes(report.xlsx))) as archive:
        xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in xml and "<f " not in xml
    # The CSV neutralises it its own way (a leading quote).
    assert '"\'=1+2"' in report.csv


def test_a_released_report_is_frozen_and_corrected_by_a_new_edition(register, admin):
    first = _made()
    released = indicator_reports.report_release(report_id=first.pk, by=admin)
    assert (released.edition, released.correction_reason, released.corrects) == (1, "", None)
    # The database refuses any change or deletion of the released row.
    for change in (
        lambda: IndicatorReport.objects.filter(pk=first.pk).update(csv="changed"),
        lambda: IndicatorReport.objects.filter(pk=first.pk).delete(),
    ):
        with pytest.raises(InternalError, match="Cannot"), transaction.atomic():
            change()
    # Released again: refused. A correction without its reason: refused, naming the field.
    with pytest.raises(Exception, match="Already released"):
        indicator_reports.report_release(report_id=first.pk, by=admin)
    second = _made()
    with pytest.raises(Exception) as refused:
        indicator_reports.report_release(report_id=second.pk, by=admin)
    assert "reason" in refused.value.message_dict
    corrected = indicator_reports.report_release(
        report_id=second.pk, by=admin, reason="Two OUS reports completed late."
    )
    assert (corrected.edition, corrected.corrects_id) == (2, first.pk)
    # A hospital's report has its own editions; a monthly report is not released.
    ous = _made(institution=Institution.objects.get(code="OUS"))
    assert indicator_reports.report_release(report_id=ous.pk, by=admin).edition == 1
    monthly = indicator_reports.report_request(by=None, year=YEAR, month=3)
    generate_indicator_report.apply(args=[monthly.pk]).get()
    with pytest.raises(Exception, match="Monthly"):
        indicator_reports.report_release(report_id=monthly.pk, by=admin)
    # Two first editions of one report cannot both exist.
    with pytest.raises(IntegrityError), transaction.atomic():
        IndicatorReport.objects.create(year=YEAR, edition=1, status="done")
    # Only admins release.
    clinician = make_member(Role.CLINICIAN, institutions=("OUS",), email="c@example.no")
    with pytest.raises(Exception, match="Admins"):
        indicator_reports.report_release(report_id=_made().pk, by=clinician)


def test_editions_in_the_browser_and_the_api(client, register, admin):
    first, second = _made(), _made()
    sign_in(client, admin)
    page = f"/registry/indicators/reports/{first.pk}/"
    assert 'id="release-form"' in client.get(page).content.decode()
    assert client.post(f"{page}release/", {"reason": ""}).status_code == 302
    body = client.get(page).content.decode()
    assert 'id="report-released"' in body and 'id="release-form"' not in body
    # The correction without a reason is refused on the page, naming the field.
    refused = client.post(f"/registry/indicators/reports/{second.pk}/release/", {"reason": " "})
    assert refused.status_code == 400 and "reason:" in refused.content.decode()
    # Through the API, with its reason.
    api = f"/api/v1/registry/indicator-reports/{second.pk}/"
    answer = client.post(f"{api}release/", {"reason": "Late OUS reports"}, "application/json")
    assert answer.status_code == 200, answer.content
    data = answer.json()
    assert (data["edition"], data["corrects"], data["correction_reason"]) == (
        2,
        first.pk,
        "Late OUS reports",
    )
    # Both editions listed and downloadable, as files of the page and the API.
    listing = client.get("/registry/indicators/reports/").content.decode()
    assert listing.count("Annual report, edition") == 2
    for kind, start in (("pdf", b"%PDF"), ("xlsx", b"PK"), ("csv", b'"indicator"')):
        for report in (first, second):
            got = client.get(f"/registry/indicators/reports/{report.pk}/{kind}/")
            assert got.status_code == 200 and got.content.startswith(start)
            assert f"edition{report.pk - first.pk + 1}.{kind}" in got["Content-Disposition"]
        assert client.get(data["downloads"][kind]).content.startswith(start)
    again = client.post(f"{api}release/", {"reason": "x"}, "application/json")
    assert again.status_code == 400 and "report" in again.json()["extra"]["fields"]


def test_reports_through_the_api(client, register, django_capture_on_commit_callbacks):
    member = make_member(Role.CLINICIAN, institutions=("SUS",), with_totp=True)
    sign_in(client, member)
    api = "/api/v1/registry/indicator-reports/"
    bad = client.post(api, {"year": "soon"}, "application/json")
    assert bad.status_code == 400 and "year" in bad.json()["extra"]["fields"]
    assert (
        client.post(api, {"year": YEAR, "institution": "OUS"}, "application/json").status_code
        == 403
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        made = client.post(api, {"year": YEAR, "institution": "SUS"}, "application/json")
    assert made.status_code == 202 and len(callbacks) == 1
    report_id = made.json()["id"]
    # The outbox hands the task to a worker after commit; run it here as the worker would.
    generate_indicator_report.apply(args=[report_id]).get()
    detail = client.get(f"{api}{report_id}/").json()
    assert (detail["status"], detail["progress"], detail["institution"]) == ("done", 100, "SUS")
    assert set(detail["downloads"]) == {"pdf", "csv", "xlsx"}
    assert [r["id"] for r in client.get(api).json()["results"]] == [report_id]
