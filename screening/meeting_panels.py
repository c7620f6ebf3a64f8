"""The screening app's parts of the register's tumour-board pages (registry.panels): the
agenda episode's newest released screening report with its top-ranked drugs and their
curves, a note per patient on the agenda, and the screening request a decision opens
(prefilled). The register has decided who sees the item (and logged it): these show
the meeting's view, released reports only (never a lab's unsigned results)."""

from urllib.parse import urlencode

from django.db.models import Count
from django.template.loader import render_to_string
from django.urls import reverse

from . import selectors
from .models import Report


def _released(episode_ids):
    return Report.objects.filter(request__episode_id__in=episode_ids, status=Report.Status.RELEASED)


def meeting_panel(request, item) -> str:
    report = (
        _released([item.episode_id])
        .select_related("run", "request__lab", "signed_by")
        .order_by("-signed_at", "-number")
        .first()
    )
    if report is None:
        return render_to_string("screening/_meeting_panel.html", {"report": None})
    top = selectors.report_top_drugs(report)
    threshold = report.run.thresholds.get("dss_threshold", 10.0)
    return render_to_string(
        "screening/_meeting_panel.html",
        {"report": report, "curves": selectors.curves(top, threshold), "threshold": threshold},
        request=request,
    )


def meeting_summary(request, items) -> dict[int, str]:
    counts = dict(
        _released([i.episode_id for i in items])
        .values_list("request__episode_id")
        .annotate(n=Count("pk"))
        .values_list("request__episode_id", "n")
    )
    return {i.pk: "screening report released" for i in items if counts.get(i.episode_id)}


def request_url(decision) -> str:
    item = decision.item
    query = urlencode(
        {
            "episode": item.episode_id,
            "indication": f"Tumour board {item.meeting.day:%d.%m.%Y}: {decision.recommendation}",
        }
    )
    return reverse("screening:request_create", args=[item.patient.register_number]) + "?" + query
