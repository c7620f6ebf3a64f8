"""Reports of the quality indicators: a hospital's or the national report as PDF
(reportlab), CSV (the platform's one CSV writer, consortium.csv_safe) and XLSX (openpyxl,
every text cell stored as text, never as a formula), made by a Celery
task (tasks.generate_indicator_report) with its progress stored as it goes, so the page
shows it. The numbers are the page's: the same snapshot, the same suppression.

An admin releases a finished annual report: it is then frozen (the database refuses any
change to or deletion of a released row). A correction is a new report released as the
next edition with its reason; every edition stays listed and downloadable."""

import io

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from consortium.csv_safe import FORMULA_STARTS, safe_writer
from consortium.models import InboxItem, User
from consortium.services import inbox_deliver

from . import indicator_selectors as selectors
from .models import IndicatorReport


class _MemberOf:
    """Whom a hospital report is made for: a member of that hospital (its own figures
    exact, every other hospital's small cells suppressed)."""

    is_authenticated = True
    is_consortium_admin = False
    role = "clinician"

    def __init__(self, institution_id: int):
        self._institutions = {institution_id: ""}


def report_request(*, by, year: int, institution=None, month: int | None = None):
    return IndicatorReport.objects.create(
        requested_by=by, year=year, institution=institution, month=month
    )


def reports_visible_to(user):
    """National reports to every member; a hospital's to its members and the admins."""
    reports = IndicatorReport.objects.select_related("institution").defer("pdf", "csv", "xlsx")
    if user.is_consortium_admin:
        return reports
    return reports.filter(institution__isnull=True) | reports.filter(
        institution__in=selectors.user_institution_ids(user)
    )


def _progress(report_id: int, percent: int, text: str) -> None:
    # Its own short write, visible to the page at once (not held in a long transaction).
    IndicatorReport.objects.filter(pk=report_id).update(progress=percent, progress_text=text)


def report_generate(report_id: int) -> IndicatorReport:
    """Make the PDF and CSV. A finished report is left as it is (a redelivered task)."""
    with transaction.atomic():
        report = IndicatorReport.objects.select_for_update().get(pk=report_id)
        if report.status == IndicatorReport.Status.DONE:
            return report
        report.status, report.error = IndicatorReport.Status.RUNNING, ""
        report.save(update_fields=["status", "error"])
    try:
        snapshot = selectors.newest_snapshot()
        if snapshot is None:
            raise ValueError("No indicator snapshot has been computed yet.")
        viewer = _MemberOf(report.institution_id) if report.institution_id else AnonymousUser()
        views = []
        codes = list(selectors.CATALOGUE)
        for number, code in enumerate(codes, start=1):
            views += selectors.indicator_page(
                user=viewer,
                snapshot=snapshot,
                year=report.year,
                institution=report.institution.code if report.institution_id else "",
                codes=[code],
                with_trends=False,
            )
            _progress(
                report_id, round(80 * number / len(codes)), f"Indicator {number} of {len(codes)}"
            )
        _progress(report_id, 85, "Writing the CSV and XLSX tables")
        table = csv_table(views, snapshot)
        workbook = xlsx_table(views, snapshot, title=str(report))
        _progress(report_id, 90, "Writing the PDF")
        pdf = pdf_document(report, views, snapshot)
        IndicatorReport.objects.filter(pk=report_id).update(
            status=IndicatorReport.Status.DONE,
            progress=100,
            progress_text="Done",
            snapshot=snapshot,
            pdf=pdf,
            csv=table,
            xlsx=workbook,
            finished_at=timezone.now(),
        )
    except Exception as error:
        IndicatorReport.objects.filter(pk=report_id).update(
            status=IndicatorReport.Status.FAILED, error=f"{type(error).__name__}: {error}"[:2000]
        )
        raise
    return IndicatorReport.objects.get(pk=report_id)


COLUMNS = [
    "indicator",
    "title",
    "year",
    "place",
    "numerator",
    "denominator",
    "value",
    "ci_low",
    "ci_high",
    "target_moderate",
    "target_high",
    "attainment",
    "left_out",
    "suppressed",
    "snapshot_at",
    "definitions_version",
]


def _figures(view):
    return [f for f in (view.national, view.regional, *view.hospitals) if f is not None]


def table_rows(views, snapshot) -> list[list]:
    """The report's table, one row per indicator and place (CSV and XLSX alike)."""
    rows = []
    for view in views:
        indicator = view.indicator
        for f in _figures(view):
            rows.append(
                [
                    indicator.code,
                    indicator.title,
                    f.year,
                    f.place,
                    f.numerator,
                    f.denominator,
                    None if f.value is None else round(f.value, 4),
                    None if f.ci_low is None else round(f.ci_low, 4),
                    None if f.ci_high is None else round(f.ci_high, 4),
                    indicator.target_moderate,
                    indicator.target_high,
                    f.attainment or "",
                    "; ".join(f"{label}: {n}" for label, n in f.left_out_reasons),
                    "yes" if f.suppressed else "no",
                    snapshot.as_of.isoformat(),
                    snapshot.definitions_version,
                ]
            )
    return rows


def csv_table(views, snapshot) -> str:
    stream = io.StringIO()
    writer = safe_writer(stream)
    writer.writerow(COLUMNS)
    writer.writerows(table_rows(views, snapshot))
    return stream.getvalue()


def xlsx_table(views, snapshot, *, title: str = "Quality indicators") -> bytes:
    """The same table as XLSX. openpyxl stores a text starting with "=" as a formula, so
    every text cell is forced to the string type (no formula element is written) and gets
    Excel's quote prefix, so that editing the cell does not turn it into one either (OWASP
    "CSV Injection", https://owasp.org/www-community/attacks/CSV_Injection; ECMA-376
    Part 1, 18.8.45 xf quotePrefix)."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Indicators"
    book.properties.title = title[:200]
    for row in [COLUMNS, *table_rows(views, snapshot)]:
        sheet.append(row)
    for cells in sheet.iter_rows():
        for cell in cells:
            if isinstance(cell.value, str):
                cell.data_type = "s"
                if cell.value.startswith(FORMULA_STARTS):
                    cell.quotePrefix = True
    sheet.freeze_panes = "A2"
    stream = io.BytesIO()
    book.save(stream)
    return stream.getvalue()


# --- Released annual reports ---------------------------------------------------------------


def report_release(*, report_id: int, by, reason: str = "") -> IndicatorReport:
    """Release a finished annual report as the next edition of its year and place. The
    first edition needs no reason; a later one is a correction and must give one."""
    if not by.is_consortium_admin:
        raise PermissionDenied("Admins release the annual reports.")
    reason = reason.strip()
    with transaction.atomic():
        report = IndicatorReport.objects.select_for_update().get(pk=report_id)
        if report.released_at is not None:
            raise ValidationError({"report": f"Already released as edition {report.edition}."})
        if report.status != IndicatorReport.Status.DONE:
            raise ValidationError({"report": "Only a finished report can be released."})
        if report.month is not None:
            raise ValidationError({"report": "Monthly reports are not released; annual ones are."})
        editions = IndicatorReport.objects.select_for_update().filter(
            year=report.year, institution=report.institution_id, edition__isnull=False
        )
        latest = editions.order_by("-edition").first()
        if latest is not None and not reason:
            raise ValidationError(
                {
                    "reason": f"Edition {latest.edition} of this report is released; a new "
                    "edition is a correction: say what it corrects."
                }
            )
        number = latest.edition + 1 if latest else 1
        try:
            with transaction.atomic():
                IndicatorReport.objects.filter(pk=report_id).update(
                    edition=number,
                    released_at=timezone.now(),
                    released_by=by,
                    correction_reason=reason[:2000],
                    corrects=latest,
                )
        except IntegrityError:  # another edition released at the same moment
            raise ValidationError(
                {"report": f"Edition {number} was released meanwhile; reload and try again."}
            ) from None
        if report.institution_id:
            # The hospital's members hear of it in their inbox, with the release.
            inbox_deliver(
                recipients=User.objects.filter(
                    is_active=True, institutions=report.institution_id
                ).values_list("pk", flat=True),
                kind=InboxItem.Kind.REPORT_READY,
                text=f"The {report.year} quality-indicator report of "
                f"{report.institution.name} is released"
                + (f" (edition {number}, a correction: {reason[:200]})." if latest else "."),
                url=reverse("registry:indicator_report", args=[report.pk]),
                key=f"registry.indicator_edition:{report.pk}",
            )
    return IndicatorReport.objects.get(pk=report_id)


def released_editions(user):
    """Every released edition the member may see, newest year, place and edition first."""
    return (
        reports_visible_to(user)
        .filter(edition__isnull=False)
        .order_by("-year", "institution__code", "-edition")
    )


def pdf_document(report, views, snapshot) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    place = report.institution.name if report.institution_id else "Norway (national report)"
    period = f"{report.year}" + (f", month {report.month}" if report.month else "")
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=f"Quality indicators {place} {period}",
        leftMargin=15 * mm,
        rightMargin=15 * mm,
    )
    story = [
        Paragraph(f"Quality indicators: {place}, {period}", styles["Title"]),
        Paragraph(
            f"Data as of {timezone.localtime(snapshot.as_of):%d.%m.%Y %H:%M}, definitions "
            f"version {snapshot.definitions_version}. Hospitals' cells under 5 are shown as "
            "&lt;5. Values with their 95 % Wilson interval.",
            styles["Normal"],
        ),
    ]
    for view in views:
        indicator = view.indicator
        story += [
            Spacer(1, 5 * mm),
            Paragraph(f"{indicator.title} ({indicator.code})", styles["Heading3"]),
            Paragraph(
                f"Denominator: {indicator.denominator} Numerator: {indicator.numerator} "
                f"{indicator.exclusions} Targets: {view.targets_text or 'none'} "
                f"{indicator.targets_note} Source: {indicator.source}",
                styles["BodyText"],
            ),
        ]
        rows = [["Place", "Met", "Of", "Value", "95 % interval", "Goal", "Left out"]]
        for f in _figures(view):
            if f.suppressed:
                rows.append([f.place, "", "<5", "", "", "", ""])
            else:
                rows.append(
                    [
                        f.place,
                        f.numerator,
                        f.denominator,
                        f.percent or "-",
                        f.interval or "-",
                        f.attainment or "-",
                        f.left_out_total,
                    ]
                )
        table = Table(rows, repeatRows=1)
        table.setStyle(
            TableStyle(
                [
                    ("FONTSIZE", (0, 0), (-1, -1), 8),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e3e3ea")),
                    ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ]
            )
        )
        story.append(table)
    doc.build(story)
    return buffer.getvalue()
