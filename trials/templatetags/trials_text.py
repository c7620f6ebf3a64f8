from django import template
from django.utils.safestring import mark_safe

from trials import eligibility_text

register = template.Library()


@register.filter
def eligibility_markdown(text: str) -> str:
    """The registered eligibility text as sanitised HTML (trials.eligibility_text)."""
    return mark_safe(eligibility_text.to_html(text))  # noqa: S308 - sanitised by nh3
