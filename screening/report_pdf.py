"""The tumour board's report as a PDF (reportlab, pure Python): the same content as the
web page (selectors.report_context), register number only, never the name or national ID.
Curves are drawn from the same coordinates as the page's SVG (charts.curve_chart)."""

import io

from reportlab.graphics.shapes import Circle, Drawing, Group, Line, PolyLine, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from consortium import formats


def _curve(result, chart) -> Drawing:
    """The SVG's coordinates flipped (PDF y grows upwards)."""
    h = chart["height"]
    drawing = Drawing(chart["width"], h)
    for y in (chart["zero_y"], chart["hundred_y"]):
        drawing.add(Line(chart["left"], h - y, chart["right"], h - y, strokeColor=colors.lightgrey))
    drawing.add(
        Line(
            chart["left"],
            h - chart["threshold_y"],
            chart["right"],
            h - chart["threshold_y"],
            strokeColor=colors.red,
            strokeDashArray=[3, 2],
        )
    )
    if chart["line"]:
        points = [tuple(float(v) for v in pair.split(",")) for pair in chart["line"].split()]
        drawing.add(
            PolyLine(
                [c for x, y in points for c in (x, h - y)],
                strokeColor=colors.HexColor("#1f4e79"),
                strokeWidth=1.5,
            )
        )
    for x, y in chart["points"]:
        drawing.add(Circle(x, h - y, 1.8, fillColor=colors.black, strokeColor=None))
    for x, label in chart["ticks"]:
        drawing.add(String(x, h - chart["tick_y"], label, fontSize=6, textAnchor="middle"))
    for y, label in chart["y_ticks"]:
        drawing.add(String(chart["y_tick_x"], h - y - 2, label, fontSize=6, textAnchor="end"))
    drawing.add(
        String(
            chart["x_title_x"],
            h - chart["x_title_y"],
            chart["x_title"],
            fontSize=6,
            textAnchor="middle",
        )
    )
    y_title = Group(
        String(0, 0, chart["y_title"], fontSize=6, textAnchor="middle"),
        transform=(0, 1, -1, 0, chart["y_title_x"] + 2, h - chart["y_title_y"]),
    )
    drawing.add(y_title)
    drawing.add(String(chart["left"], h - 8, result.drug_name, fontSize=8))
    return drawing


def _text(value) -> str:
    from xml.sax.saxutils import escape

    return escape(str(value))


def render_pdf(context: dict) -> bytes:
    report, req, episode = context["report"], context["req"], context["episode"]
    styles = getSampleStyleSheet()
    story = [Paragraph("Drug screening report for the tumour board", styles["Title"])]
    signed = (
        f"signed by {report.signed_by} {formats.local_datetime(report.signed_at)}"
        if report.signed_at
        else "DRAFT, not signed"
    )
    facts = [
        ("Patient (register number)", req.patient.register_number),
        ("Diagnosis", episode.diagnosis_with_grade or "Not yet reported"),
        (
            "Markers",
            "; ".join(f"{m.get_marker_display()}: {m.result_text}" for m in context["markers"])
            or "None",
        ),
        ("Lab", req.lab.name),
        ("Report", f"Version {report.number}, {signed}"),
    ]
    story.append(
        Table(
            [
                [
                    Paragraph(f"<b>{_text(k)}</b>", styles["Normal"]),
                    Paragraph(_text(v), styles["Normal"]),
                ]
                for k, v in facts
            ],
            colWidths=[45 * mm, 125 * mm],
        )
    )
    story += [Spacer(1, 4 * mm), Paragraph("Sample history", styles["Heading2"])]
    for entry in context["timeline"]:
        story.append(
            Paragraph(
                f"{formats.local_datetime(entry.at)}: {_text(entry.text)}",
                styles["Normal"],
            )
        )
    story += [Spacer(1, 4 * mm), Paragraph("Plate QC", styles["Heading2"])]
    rows = [["Plate", "QC", "Z'", "|SSMD|", "DMSO CV %", "Flags"]]
    for plate in context["plates"]:
        rows.append(
            [
                plate.name,
                plate.get_qc_status_display(),
                formats.quantity(plate.z_prime, "z_prime"),
                formats.quantity(plate.ssmd, "ssmd"),
                formats.amount(plate.cv_negative, "cv"),
                Paragraph(
                    _text(
                        "; ".join(plate.qc_flags)
                        + (f" Overridden: {plate.override_reason}" if plate.override_reason else "")
                    ),
                    styles["Normal"],
                ),
            ]
        )
    table = Table(rows, colWidths=[18 * mm, 20 * mm, 15 * mm, 18 * mm, 22 * mm, 77 * mm])
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef4")),
            ]
        )
    )
    story += [table, Spacer(1, 4 * mm), Paragraph("Top-ranked drugs", styles["Heading2"])]
    rows = [["#", "Drug", "Class", "sDSS", "DSS2", "IC50 (nM)", "Flags"]]
    for rank, (result, _) in enumerate(context["curves"], start=1):
        rows.append(
            [
                rank,
                result.drug_name,
                Paragraph(_text(result.drug_class), styles["Normal"]),
                formats.quantity(result.selective_dss, "dss", empty="–"),
                formats.quantity(result.dss2, "dss", empty="–"),
                formats.amount(result.ic50_nm, "concentration") or "–",
                Paragraph(_text("; ".join(result.fit_flags + result.qc_flags)), styles["Normal"]),
            ]
        )
    table = Table(rows, colWidths=[8 * mm, 28 * mm, 40 * mm, 14 * mm, 14 * mm, 20 * mm, 46 * mm])
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef4")),
            ]
        )
    )
    story.append(table)
    drawings = [_curve(result, chart) for result, chart in context["curves"]]
    grid = [
        drawings[i : i + 3] + [""] * (3 - len(drawings[i : i + 3]))
        for i in range(0, len(drawings), 3)
    ]
    if grid:
        story += [Spacer(1, 3 * mm), Table(grid)]
    story += [
        Paragraph("The lab's interpretation", styles["Heading2"]),
        Paragraph(_text(report.interpretation).replace("\n", "<br/>"), styles["Normal"]),
    ]
    buffer = io.BytesIO()
    # invariant=1: no creation timestamp or random id, so the same report gives the same bytes.
    SimpleDocTemplate(
        buffer, pagesize=A4, title=f"Screening report {req.patient.register_number}", invariant=1
    ).build(story)
    return buffer.getvalue()
