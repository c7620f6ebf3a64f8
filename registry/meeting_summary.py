"""A tumour-board meeting's summary: the web page's body and a PDF (reportlab, as the
indicator reports and the screening report make theirs), made by a Celery task
(tasks.generate_mdt_summary) after the meeting and attached to it. It leaves the room, so
it names patients by register number only: never a name or a national ID."""

import io
from xml.sax.saxutils import escape

from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from .models import MdtAgendaItem, MdtDecision, MdtMeeting, MdtSummary


def _name(member) -> str:
    return member.full_name or member.email


def summary_context(meeting: MdtMeeting) -> dict:
    items = list(
        MdtAgendaItem.objects.filter(meeting=meeting)
        .select_related("patient", "episode", "decision__responsible")
        .order_by("position", "id")
    )
    rows = []
    for item in items:
        try:
            decision = item.decision
        except MdtDecision.DoesNotExist:
            decision = None
        episode = item.episode
        rows.append(
            {
                "register_number": item.patient.register_number,
                "diagnosis": (episode.get_diagnosis_display() or "Diagnosis not yet recorded")
                + (f", CNS WHO grade {episode.who_grade}" if episode.who_grade else ""),
                "question": item.question,
                "decision": decision,
                "plan": ", ".join(decision.plan_labels()) if decision else "",
            }
        )
    participants = list(meeting.participants.select_related("member").order_by("discipline"))
    return {
        "meeting": meeting,
        "rows": rows,
        "participants": participants,
        "made_at": timezone.now(),
    }


def pdf_document(context: dict) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    meeting = context["meeting"]
    styles = getSampleStyleSheet()
    buffer = io.BytesIO()
    start = timezone.localtime(meeting.starts_at)
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=f"Tumour board {meeting.institution.code} {start:%d.%m.%Y}",
        leftMargin=15 * mm,
        rightMargin=15 * mm,
    )
    members = "; ".join(
        f"{p.get_discipline_display()}: {p.member.full_name or p.member.email}"
        for p in context["participants"]
    )
    story = [
        Paragraph(escape(f"Tumour board summary: {meeting.institution.name}"), styles["Title"]),
        Paragraph(
            escape(
                f"{meeting.get_kind_display()} meeting {start:%d.%m.%Y %H:%M}–"
                f"{timezone.localtime(meeting.ends_at):%H:%M}"
                + (f", {meeting.title}" if meeting.title else "")
            ),
            styles["Normal"],
        ),
        Paragraph(escape(f"Members: {members or 'none recorded'}"), styles["Normal"]),
        Paragraph("Patients are named by register number only.", styles["Italic"]),
        Spacer(1, 4 * mm),
    ]
    cell = styles["BodyText"]
    rows = [["Register number", "Diagnosis", "Question", "Decision"]]
    for row in context["rows"]:
        decision = row["decision"]
        text = (
            f"<b>{escape(row['plan'])}</b><br/>{escape(decision.recommendation)}"
            f"<br/>Responsible: {escape(_name(decision.responsible))}"
            + (
                f"<br/>Follow-up: {escape(decision.follow_up_actions)}"
                if decision.follow_up_actions
                else ""
            )
            if decision
            else "No decision recorded."
        )
        rows.append(
            [
                row["register_number"],
                Paragraph(escape(row["diagnosis"]), cell),
                Paragraph(escape(row["question"]), cell),
                Paragraph(text, cell),
            ]
        )
    table = Table(rows, colWidths=[28 * mm, 40 * mm, 45 * mm, 67 * mm], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONTSIZE", (0, 0), (-1, -1), 8),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e3e3ea")),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
            ]
        )
    )
    story += [
        table,
        Spacer(1, 4 * mm),
        Paragraph(
            escape(f"Made {timezone.localtime(context['made_at']):%d.%m.%Y %H:%M}."),
            styles["Normal"],
        ),
    ]
    doc.build(story)
    return buffer.getvalue()


def summary_generate(summary_id: int) -> MdtSummary:
    """Make the summary's page body and PDF. A finished one is left as it is (a
    redelivered task)."""
    with transaction.atomic():
        summary = MdtSummary.objects.select_for_update().get(pk=summary_id)
        if summary.status == MdtSummary.Status.DONE:
            return summary
        summary.status, summary.error = MdtSummary.Status.RUNNING, ""
        summary.save(update_fields=["status", "error"])
    try:
        meeting = MdtMeeting.objects.select_related("institution").get(pk=summary.meeting_id)
        context = summary_context(meeting)
        body = render_to_string("registry/_meeting_summary_body.html", context)
        pdf = pdf_document(context)
        MdtSummary.objects.filter(pk=summary_id).update(
            status=MdtSummary.Status.DONE, body_html=body, pdf=pdf, finished_at=timezone.now()
        )
    except Exception as error:
        MdtSummary.objects.filter(pk=summary_id).update(
            status=MdtSummary.Status.FAILED, error=f"{type(error).__name__}: {error}"[:2000]
        )
        raise
    return MdtSummary.objects.get(pk=summary_id)
