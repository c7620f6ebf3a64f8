"""The trials app's parts of the register's tumour-board pages (registry.panels): the
agenda item's candidate trials with their verdicts on the prepared patient page, a count
per patient on the agenda, and the trial referral a decision opens. The register has
decided who sees the item (and logged it): these show the meeting's view."""

from django.template.loader import render_to_string
from django.urls import reverse

from . import selectors
from .models import Eligibility, Outcome


def meeting_panel(request, item) -> str:
    matches = selectors.episode_candidates([item.episode_id]).get(item.episode_id, [])
    return render_to_string(
        "trials/_meeting_panel.html", {"matches": matches, "outcomes": Outcome}, request=request
    )


def meeting_summary(request, items) -> dict[int, str]:
    counts = selectors.candidate_counts([i.episode_id for i in items])
    texts = {}
    for item in items:
        found = counts.get(item.episode_id)
        if not found:
            continue
        total = sum(found.values())
        eligible = found.get(Eligibility.ELIGIBLE, 0)
        texts[item.pk] = f"{total} candidate trial{'s' if total != 1 else ''}" + (
            f" ({eligible} eligible)" if eligible else ""
        )
    return texts


def referral_url(decision) -> str:
    return reverse("trials:referral_create") + f"?decision={decision.pk}"
