from django import template

from consortium.selectors import COUNTRY_NAMES

register = template.Library()


@register.filter
def country_name(code: str) -> str:
    return COUNTRY_NAMES.get(code, code)
