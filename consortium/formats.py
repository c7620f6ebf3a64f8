"""Words, numbers and dates as people read them: the one place that turns a stored value into
what a page, a PDF or a chart shows. The API keeps plain values (ISO 8601 times in UTC, plain
JSON numbers); only what people read goes through here.

- Numbers in Norwegian Bokmål style: decimal comma and a non-breaking space between groups of
  three digits (1 575,3; 929 283), as Django's own ``nb`` locale formats say (Unicode CLDR
  agrees: https://cldr.unicode.org/, locale "nb", symbols decimal "," and group U+00A0;
  Språkrådet, https://www.sprakradet.no/sprakhjelp/Skriveregler/Tall/). A number and its unit
  are kept together by a non-breaking space too, so "59,4 Gy" never wraps between them.
- One definition per quantity (QUANTITIES: unit and decimals), used by the template filters
  (consortium/templatetags/nbtc.py), the history pages, the PDF report and the charts, so
  a dose reads "59,4 Gy" on the card, the timeline and the history alike.
- Times in Europe/Oslo (settings.TIME_ZONE), Norwegian short style dd.mm.yyyy HH:MM (Django's
  ``nb`` SHORT_DATETIME_FORMAT), daylight saving time included (zoneinfo).
- A stored value in words by its model field: choice labels, Yes/No, a member's name for a
  member, a date or time in local style, a quantity in its unit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils import dateformat, numberformat, timezone
from django.utils.formats import get_format

# Django's own Bokmål formats (django/conf/locale/nb/formats.py), read once; the interface
# language stays English (LANGUAGE_CODE), the numbers and dates are Norwegian.
NB = "nb"
DECIMAL_SEPARATOR = get_format("DECIMAL_SEPARATOR", NB, use_l10n=True)  # ","
THOUSAND_SEPARATOR = get_format("THOUSAND_SEPARATOR", NB, use_l10n=True)  # U+00A0
NUMBER_GROUPING = get_format("NUMBER_GROUPING", NB, use_l10n=True)  # 3
DATE_FORMAT = get_format("SHORT_DATE_FORMAT", NB, use_l10n=True)  # "d.m.Y"
DATETIME_FORMAT = get_format("SHORT_DATETIME_FORMAT", NB, use_l10n=True)  # "d.m.Y H:i"
TIME_FORMAT = get_format("TIME_FORMAT", NB, use_l10n=True)  # "H:i"
UNIT_SPACE = "\u00a0"
EMPTY = "–"


@dataclass(frozen=True)
class Quantity:
    unit: str
    decimals: int
    # The model fields ("app_label.Model.field") that hold this quantity, so a history page
    # shows a changed dose the way the card does.
    fields: tuple[str, ...] = ()


# One line per quantity people read. Decimals follow the precision the value is recorded or
# measured with: radiotherapy doses in 0,1 Gy (59,4 Gy = 33 x 1,8 Gy; Stupp et al., NEJM
# 2005;352:987) and per fraction in 0,01 Gy (40 Gy / 15 = 2,67 Gy); concentrations in 0,1 nM
# (a 3-fold dilution series reaches 1,5 nM); drug sensitivity scores to one decimal as
# published (Yadav et al., Sci Rep 2014;4:5193); plate Z' to two (Zhang et al., J Biomol
# Screen 1999;4:67).
QUANTITIES: dict[str, Quantity] = {
    "total_dose": Quantity("Gy", 1, ("registry.RadiotherapyCourse.total_dose_gy",)),
    "dose_per_fraction": Quantity("Gy", 2),
    "concentration": Quantity("nM", 1, ("screening.Well.concentration_nm",)),
    "cell_count": Quantity("cells", 0, ("screening.Receipt.viable_cell_count",)),
    "viability": Quantity("%", 1, ("screening.Receipt.viability_percent",)),
    "temperature": Quantity("°C", 1, ("screening.Receipt.arrival_celsius",)),
    "inhibition": Quantity("%", 0),
    # A sample's amount is weighed or measured to 0,1 (mg, ml or million cells); its unit is
    # stored beside it (screening.Sample.amount_unit), so the quantity has none of its own.
    "sample_amount": Quantity("", 1, ("screening.Sample.amount",)),
    "dss": Quantity("", 1),
    "z_prime": Quantity("", 2),
    "ssmd": Quantity("", 1),
    "cv": Quantity("%", 1),
    "edge_effect": Quantity("%", 1),
    "curve_top": Quantity("%", 0),
    "hill_slope": Quantity("", 2),
    "r_squared": Quantity("", 3),
    "hours": Quantity("h", 1),
    "window_used": Quantity("%", 0),  # of a sample's viability window
    "days": Quantity("days", 1),
    "months": Quantity("months", 1),  # survival: days / (365.25 / 12)
    "minutes": Quantity("min", 0),
    "seconds": Quantity("s", 2),
    # Quality indicators: a share of patients to 0,1 %, the guideline's goals in whole percent.
    "share": Quantity("%", 1),
    "goal": Quantity("%", 0),
}
_FIELD_QUANTITY = {field: key for key, q in QUANTITIES.items() for field in q.fields}


def number(value, decimals: int | None = None) -> str:
    """A number in Norwegian style, rounded half up to `decimals` (None: as many as it has).
    Empty for None."""
    if value is None or value == "":
        return ""
    try:
        exact = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if not exact.is_finite():
        return str(value)
    if decimals is not None:
        exact = exact.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    if exact == 0:
        exact = abs(exact)  # never "-0,0"
    return numberformat.format(
        exact,
        DECIMAL_SEPARATOR,
        decimal_pos=decimals,
        grouping=NUMBER_GROUPING,
        thousand_sep=THOUSAND_SEPARATOR,
        force_grouping=True,
    )


def amount(value, quantity: str) -> str:
    """The number of a quantity without its unit (for a table whose header names the unit)."""
    return number(value, QUANTITIES[quantity].decimals)


def quantity(value, quantity: str, *, empty: str = "") -> str:
    """A quantity with its unit: quantity(59.4, "total_dose") == "59,4 Gy" (U+00A0 inside)."""
    if value is None or value == "":
        return empty
    q = QUANTITIES[quantity]
    text = number(value, q.decimals)
    return f"{text}{UNIT_SPACE}{q.unit}" if q.unit else text


def local_datetime(value: dt.datetime | str | None) -> str:
    """An instant in Norwegian time and style (dd.mm.yyyy HH:MM, Europe/Oslo, summer time
    included). Accepts an ISO 8601 string as stored in history snapshots."""
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if timezone.is_naive(value):
        value = timezone.make_aware(value, dt.UTC)
    value = timezone.localtime(value)
    return f"{_day(value)} {value.hour:02}:{value.minute:02}"  # DATETIME_FORMAT, "d.m.Y H:i"


def _day(value: dt.date) -> str:
    # DATE_FORMAT ("d.m.Y") written out: Django's date formatter parses its format on each
    # call, and the patient page shows some thirty dates (tests/consortium/test_formats.py
    # checks the two agree).
    return f"{value.day:02}.{value.month:02}.{value.year:04}"


def local_day(value: dt.date | dt.datetime | None) -> str:
    """The day of a date, or of an instant in Oslo, as dd.mm.yyyy."""
    if value in (None, ""):
        return ""
    if isinstance(value, dt.datetime) and timezone.is_aware(value):
        value = timezone.localtime(value)
    return _day(value)


def local_date(value: dt.date | str | None) -> str:
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    if isinstance(value, dt.datetime):
        return local_datetime(value)
    return _day(value)


def local_time(value: dt.time | str | None) -> str:
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        value = dt.time.fromisoformat(value)
    return dateformat.time_format(value, TIME_FORMAT)


def yes_no(value) -> str:
    return "Yes" if value else "No"


def member_name(user) -> str:
    """A member as people know them: their name, else their e-mail address."""
    return (getattr(user, "full_name", "") or getattr(user, "email", "")) if user else ""


def field_quantity(model, field_name: str) -> str | None:
    return _FIELD_QUANTITY.get(f"{model._meta.label}.{field_name}")


class StoredValues:
    """Stored values of model fields (a history snapshot's JSON: ids, choice keys, booleans,
    ISO times) in words. Foreign keys are looked up in one query per related model for a whole
    page: `want()` every value first, then `words()` each of them.

        values = StoredValues()
        for model, field, value in changes: values.want(model, field, value)
        texts = [values.words(model, field, value) for model, field, value in changes]
    """

    def __init__(self) -> None:
        self._wanted: dict[type[models.Model], set] = {}
        self._found: dict[type[models.Model], dict] = {}

    @staticmethod
    def field(model, field_name: str) -> models.Field | None:
        try:  # get_field knows attnames too ("completed_by_id" -> completed_by)
            return model._meta.get_field(field_name)
        except FieldDoesNotExist:  # a field since removed keeps its raw value
            return None

    def want(self, model, field_name: str, value) -> None:
        field = self.field(model, field_name)
        if field is not None and field.many_to_one and value not in (None, ""):
            self._wanted.setdefault(field.related_model, set()).add(value)

    def _related(self, related_model, pk):
        if related_model not in self._found:
            self._found[related_model] = related_model._default_manager.in_bulk(
                self._wanted.get(related_model, set())
            )
        found = self._found[related_model]
        if pk not in found:  # not asked for with want(): look it up alone
            found.update(related_model._default_manager.in_bulk([pk]))
        return found.get(pk)

    def words(self, model, field_name: str, value) -> str:
        field = self.field(model, field_name)
        if value is None or value == "" or value == []:
            return EMPTY
        if field is None:
            return str(value)
        return self._field_words(model, field, value)

    def _field_words(self, model, field, value) -> str:
        if isinstance(field, ArrayField):
            items = value if isinstance(value, list) else [value]
            return ", ".join(self._field_words(model, field.base_field, v) for v in items) or EMPTY
        if field.many_to_one:
            related = self._related(field.related_model, value)
            if related is None:
                return f"{field.related_model._meta.verbose_name} {value} (since removed)"
            # A member by their name; anything else (a patient too) by its __str__, which
            # never holds a patient's name or national ID.
            is_member = related._meta.label == settings.AUTH_USER_MODEL
            return member_name(related) if is_member else str(related)
        if field.choices:
            labels = {str(k): v for k, v in field.flatchoices}
            return str(labels.get(str(value), value))
        if isinstance(field, models.BooleanField):
            return yes_no(value)
        if isinstance(field, models.DateTimeField):
            return local_datetime(value)
        if isinstance(field, models.DateField):
            return local_date(value)
        if isinstance(field, models.TimeField):
            return local_time(value)
        key = field_quantity(model, field.name)
        if key:
            return quantity(value, key)
        if isinstance(field, models.DecimalField):
            return number(value, field.decimal_places)
        if isinstance(field, (models.IntegerField, models.FloatField)):
            return number(value)
        return str(value)
