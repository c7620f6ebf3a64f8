"""Form widgets every app shares. Kept apart from consortium.forms, whose forms call the
services: the register's section forms (read by its selectors) use these too."""

import functools

from django import forms
from django.forms.utils import flatatt
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

# What people put between digit groups or type for a minus sign: spaces (U+0020, U+00A0,
# U+202F) and U+2212 (the minus the Norwegian number style prints, consortium/formats.py).
DIGIT_GROUP_SPACES = str.maketrans({" ": None, "\u00a0": None, "\u202f": None, "\u2212": "-"})


class DecimalInput(forms.TextInput):
    """A decimal number as people in Norway write it: "59,4", "1 575,3" (a point is read as
    well), shown back with a decimal comma. A browser's <input type="number"> refuses or
    empties "59,4" unless its own language uses the comma, so this is a text box with the
    decimal keypad (inputmode). The field still checks the number and its limits; the API
    keeps plain numbers. Language Council of Norway (Språkrådet), "Tal": decimal comma and
    a space between groups of three digits."""

    def __init__(self, attrs=None):
        super().__init__({"inputmode": "decimal", **(attrs or {})})

    def format_value(self, value):
        text = super().format_value(value)
        return text.replace(".", ",") if text else text

    def value_from_datadict(self, data, files, name):
        value = super().value_from_datadict(data, files, name)
        if isinstance(value, str):
            value = value.strip().translate(DIGIT_GROUP_SPACES).replace(",", ".")
        return value


class PlainSelect(forms.Select):
    """A select written out in Python: the same element as forms.Select (name, id,
    attributes, option groups, options, the chosen ones selected; tests/consortium/
    test_plain_select.py compares the two) without rendering a template per option. A
    list's filters sit above its rows on every page: the match queue's trial filter lists
    every encoded trial (a few hundred), the patient list's every diagnosis, and their
    option templates cost more than the rows (benchmark_matching, make bench-registry)."""

    def render(self, name, value, attrs=None, renderer=None):
        final_attrs = self.build_attrs(self.attrs, attrs)
        if self.allow_multiple_selected:
            final_attrs["multiple"] = True
        chosen = frozenset(self.format_value(value))
        choices = self.choices
        if isinstance(choices, (list, tuple)):  # fixed choices (not a queryset's): kept
            try:
                options = _fixed_options(_frozen(choices), chosen, self.allow_multiple_selected)
            except TypeError:  # a label that cannot be a key
                options = _options(choices, chosen, self.allow_multiple_selected)
        else:
            options = _options(choices, chosen, self.allow_multiple_selected)
        return format_html(
            '<select name="{}"{}>{}</select>',
            name,
            flatatt(final_attrs),
            mark_safe(options),  # noqa: S308 - escaped by _options
        )


def _frozen(choices) -> tuple:
    return tuple(
        (value, tuple(label) if isinstance(label, list) else label) for value, label in choices
    )


def _options(choices, chosen: frozenset, multiple: bool) -> str:
    """The options (and option groups) of a select: as ChoiceWidget.optgroups and Select's
    templates, the first option whose value is chosen is selected (every one in a multiple
    select). Every value, label and group escaped."""
    selected_one = False

    def option(option_value, label) -> str:
        nonlocal selected_one
        option_value = "" if option_value is None else str(option_value)
        selected = option_value in chosen and (not selected_one or multiple)
        selected_one = selected_one or selected
        return (
            f'<option value="{escape(option_value)}"{" selected" if selected else ""}>'
            f"{escape(label)}</option>"
        )

    parts = []
    for option_value, label in choices:
        if isinstance(label, (list, tuple)):
            options = "".join(option(v, text) for v, text in label)
            parts.append(f'<optgroup label="{escape(option_value)}">{options}</optgroup>')
        else:
            parts.append(option(option_value, label))
    return "".join(parts)


# A list's fixed selects (every diagnosis, say) are the same on each view of it: written once
# per choices and chosen value.
_fixed_options = functools.lru_cache(maxsize=256)(_options)
