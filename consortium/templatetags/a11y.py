"""Accessibility helpers shared by every form and page.

The error summary follows the GOV.UK Design System's pattern
(https://design-system.service.gov.uk/components/error-summary/): after a failed submit one box
at the top of the form lists every problem, each linking to its field, and takes the focus
(static/js/nbtc.js), so a screen-reader or keyboard user learns at once that the form was not
saved and why (WCAG 2.2 3.3.1 Error Identification, https://www.w3.org/TR/WCAG22/#error-identification)."""

from django import template

register = template.Library()


def _problems(form, links: bool = True) -> list[tuple[str, str]]:
    """(link to the field or "", text) of each error of a form or formset, in field order;
    without links where the page writes its own inputs (no element has the field's id)."""
    if form is None or not getattr(form, "is_bound", False):
        return []
    if hasattr(form, "forms"):  # a formset: its own errors, then each form's
        problems = [("", str(error)) for error in form.non_form_errors()]
        for member in form.forms:
            problems.extend(_problems(member, links))
        return problems
    problems = [("", str(error)) for error in form.non_field_errors()]
    for field in form:
        if field.is_hidden:
            problems.extend(("", f"{field.label}: {error}") for error in field.errors)
            continue
        anchor = f"#{field.id_for_label}" if links and field.id_for_label else ""
        problems.extend((anchor, f"{field.label}: {error}") for error in field.errors)
    return problems


@register.inclusion_tag("_error_summary.html")
def error_summary(*forms, links=True):
    """The error summary of one or more forms (nothing while they have no errors)."""
    problems = []
    for form in forms:
        problems.extend(_problems(form, links))
    return {"problems": problems}
