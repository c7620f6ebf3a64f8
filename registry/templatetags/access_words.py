from django import template

from registry.access_review import page_in_words

register = template.Library()


@register.filter
def page_words(name: str) -> str:
    """A page's or endpoint's logged name in words ("registry:patient" -> "Patient page")."""
    return page_in_words(name)
