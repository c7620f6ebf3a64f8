import functools

from django import template
from django.templatetags.static import static
from django.urls import get_script_prefix, reverse

from consortium import formats
from consortium.selectors import COUNTRY_NAMES

register = template.Library()


# Numbers and times as people read them (consortium/formats.py holds the one definition of
# each quantity's unit and decimals): {{ course.total_dose_gy|quantity:"total_dose" }}.
@register.filter
def quantity(value, name: str) -> str:
    return formats.quantity(value, name)


@register.filter
def amount(value, name: str) -> str:
    """The number only, for a column whose header names the unit."""
    return formats.amount(value, name)


@register.filter
def number(value, decimals=None) -> str:
    return formats.number(value, None if decimals in (None, "") else int(decimals))


@register.filter
def local_datetime(value) -> str:
    return formats.local_datetime(value)


@register.filter
def local_date(value) -> str:
    return formats.local_date(value)


@register.filter
def day(value) -> str:
    """{{ surgery.surgery_date|day }}: dd.mm.yyyy, an instant's day in Oslo."""
    return formats.local_day(value)


@register.filter
def member_name(user) -> str:
    return formats.member_name(user)


@register.filter
def country_name(code: str) -> str:
    return COUNTRY_NAMES.get(code, code)


def _query_without(context, *names: str, **values) -> str:
    """The page's query string (the view's `keep`, else the request's) with these
    parameters dropped and those set."""
    keep = context.get("keep")
    query = (keep if keep is not None else context["request"].GET).copy()
    for name in names:
        query.pop(name, None)
    for name, value in values.items():
        query[name] = value
    return query.urlencode()


@register.inclusion_tag("consortium/_sort_header.html", takes_context=True)
def sort_header(context, column: str, label: str, current: str = ""):
    """A sortable column's header: a link that sorts by it (again: the other way round),
    with aria-sort saying the order now (WAI-ARIA sortable table,
    https://www.w3.org/WAI/ARIA/apg/patterns/table/examples/sortable-table/)."""
    direction = (
        "ascending" if current == column else "descending" if current == f"-{column}" else ""
    )
    target = f"-{column}" if current == column else column
    return {
        "label": label,
        "direction": direction,
        "href": "?" + _query_without(context, "after", "before", "page", sort=target),
    }


@register.simple_tag(takes_context=True)
def page_link(context, name: str, cursor: str) -> str:
    """The URL of the next (name='after') or previous ('before') keyset page, keeping the
    list's filters and sort."""
    return "?" + _query_without(context, "after", "before", "page", **{name: cursor})


@register.simple_tag(takes_context=True)
def page_number_link(context, number: int) -> str:
    """The query string of page `number` of a list paged by number, keeping its filters and
    sort."""
    return _query_without(context, "page", "after", "before", page=str(number))


@functools.cache
def _fixed_url(name: str, prefix: str) -> str:
    return reverse(name)


@register.simple_tag
def fixed_url(name: str) -> str:
    """{% fixed_url 'registry:patient_list' %}: {% url %} for a URL without parameters,
    reversed once per process (and script prefix) instead of on every page: the menu on
    every page has seventeen (make bench-registry)."""
    return _fixed_url(name, get_script_prefix())


@register.simple_tag
@functools.cache
def fixed_static(path: str) -> str:
    """{% fixed_static 'css/nbtc.css' %}: {% static %} looked up once per process (the
    manifest's hashed name of a file does not change while the process runs)."""
    return static(path)
