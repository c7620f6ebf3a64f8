from django import template
from django.utils.safestring import mark_safe

from trials import eligibility_text

register = template.Library()


@register.filter
def eligibility_markdown(text: str) -> str:
    """The registered eligibility text as sanitised HTML (trials.eligibility_text)."""
    return mark_safe(eligibility_text.to_html(text))  # noqa: S308 - sanitised by nh3


@register.simple_tag
def highlighted(text: str, suggestions) -> str:
    """The registered text as sanitised HTML with each suggestion's span marked."""
    spans = [(s.pk, s.start, s.end, s.status) for s in suggestions]
    return mark_safe(eligibility_text.to_html_marked(text, spans))  # noqa: S308 - nh3, then tags
