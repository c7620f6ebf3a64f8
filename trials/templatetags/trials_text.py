from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

from trials import eligibility_text

register = template.Library()


@register.filter
def eligibility_markdown(text: str) -> str:
    """The registered eligibility text as sanitised HTML (trials.eligibility_text)."""
    return mark_safe(eligibility_text.to_html(text))  # noqa: S308 - sanitised by nh3


@register.simple_tag
def highlighted(text: str, suggestions) -> str:
    """The eligibility text as stored, escaped, with each suggestion's span marked (an id
    to link to, its status as a class). Overlapping spans are cut at every boundary, so a
    word read by two suggestions carries both."""
    text = text or ""
    spans = [s for s in suggestions if 0 <= s.start < s.end <= len(text)]
    cuts = sorted({0, len(text), *(s.start for s in spans), *(s.end for s in spans)})
    parts = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        parts += [
            f'<span class="span-anchor" id="span-{s.pk}"></span>' for s in spans if s.start == a
        ]
        inside = [s for s in spans if s.start <= a and b <= s.end]
        piece = escape(text[a:b])
        if not inside:
            parts.append(piece)
            continue
        ids = " ".join(str(s.pk) for s in inside)
        statuses = " ".join(sorted({f"status-{s.status}" for s in inside}))
        parts.append(
            f'<mark class="suggestion-span {statuses}" data-suggestions="{ids}">{piece}</mark>'
        )
    return mark_safe("".join(parts))  # noqa: S308 - every piece of text escaped above
