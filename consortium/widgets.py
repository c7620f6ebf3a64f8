"""Form widgets every app shares. Kept apart from consortium.forms, whose forms call the
services: the register's section forms (read by its selectors) use these too."""

from django import forms

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
