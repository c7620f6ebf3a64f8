"""Numbers, dates and times as people read them (consortium/formats.py): Norwegian Bokmål
style (decimal comma, U+00A0 between groups of three digits and before the unit), one number
of decimals per quantity, Oslo time on both sides of each daylight-saving change. Every
expected string is written out by hand."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django import forms
from django.template import Context, Template
from django.utils import dateformat, timezone

from consortium import formats
from consortium.widgets import DecimalInput

S = "\u00a0"  # the Norwegian group separator and the space before a unit


@pytest.mark.parametrize(
    ("value", "name", "expected"),
    [
        (1575.3, "concentration", f"1{S}575,3{S}nM"),
        (Decimal("1575.25"), "concentration", f"1{S}575,3{S}nM"),  # half up, not half even
        (929283, "cell_count", f"929{S}283{S}cells"),
        (1234567, "cell_count", f"1{S}234{S}567{S}cells"),
        (Decimal("59.40"), "total_dose", f"59,4{S}Gy"),
        (60, "total_dose", f"60,0{S}Gy"),
        (Decimal("40") / 15, "dose_per_fraction", f"2,67{S}Gy"),
        (0.7312, "z_prime", "0,73"),
        (12.25, "dss", "12,3"),
        (-0.04, "dss", "0,0"),  # never "-0,0"
        (-3.5, "temperature", f"-3,5{S}°C"),
        (0.98765, "r_squared", "0,988"),
        (87.6, "inhibition", f"88{S}%"),
        (200 / 3, "share", f"66,7{S}%"),  # an indicator: 2 of 3 patients
        (80, "goal", f"80{S}%"),
        (83.4, "window_used", f"83{S}%"),
    ],
)
def test_each_quantity_has_its_unit_and_decimals(value, name, expected):
    assert formats.quantity(value, name) == expected


def test_a_number_without_a_unit_for_a_table_whose_header_names_it():
    assert formats.amount(10000, "concentration") == f"10{S}000,0"
    assert formats.quantity(None, "concentration") == ""
    assert formats.quantity(None, "concentration", empty="–") == "–"


def test_the_template_filters_use_the_same_definitions():
    rendered = Template(
        '{% load nbtc %}{{ dose|quantity:"total_dose" }} | {{ ic50|amount:"concentration" }}'
        " | {{ cells|number:0 }}"
    ).render(Context({"dose": Decimal("59.4"), "ic50": 1575.3, "cells": 929283}))
    assert rendered == f"59,4{S}Gy | 1{S}575,3 | 929{S}283"


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        # Summer time begins on the last Sunday of March at 01:00 UTC (EU Directive 2000/84/EC):
        # 29 March 2026. Before it Oslo is UTC+1, after it UTC+2.
        (datetime(2026, 3, 29, 0, 59, tzinfo=UTC), "29.03.2026 01:59"),
        (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), "29.03.2026 03:00"),
        # It ends on the last Sunday of October at 01:00 UTC: 25 October 2026. The wall
        # clock shows 02:30 twice, an hour apart.
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "25.10.2026 02:30"),
        (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), "25.10.2026 02:30"),
        (datetime(2026, 10, 25, 2, 30, tzinfo=UTC), "25.10.2026 03:30"),
        # Midnight UTC on New Year's Eve is already the next year in Oslo.
        (datetime(2026, 12, 31, 23, 30, tzinfo=UTC), "01.01.2027 00:30"),
    ],
)
def test_instants_are_shown_in_oslo_time(instant, expected):
    assert formats.local_datetime(instant) == expected
    # ... and so are the ISO strings a history snapshot stores.
    assert formats.local_datetime(instant.isoformat()) == expected


def test_dates_in_norwegian_style():
    assert formats.local_date(date(2026, 10, 21)) == "21.10.2026"
    assert formats.local_date("2026-10-21") == "21.10.2026"
    assert formats.local_date(None) == ""


def test_the_day_filter_shows_a_date_or_an_instants_day_in_oslo():
    page = Template('{% load nbtc %}{{ a|day }}|{{ b|day }}|{{ c|day|default:"–" }}|{{ d|day }}')
    context = Context(
        {
            "a": date(2026, 3, 9),
            # 23:30 UTC on 31 December is already 1 January in Oslo.
            "b": datetime(2026, 12, 31, 23, 30, tzinfo=UTC),
            "c": None,
            "d": date(987, 1, 2),
        }
    )
    assert page.render(context) == "09.03.2026|01.01.2027|–|02.01.0987"


@pytest.mark.parametrize("day", [date(2026, 1, 1), date(2026, 3, 29), date(2031, 12, 31)])
def test_the_written_out_formats_are_djangos_norwegian_ones(day):
    """The day and the instant are written out for speed; Django's Bokmål formats agree."""
    instant = timezone.make_aware(datetime(day.year, day.month, day.day, 7, 5), UTC)
    local = timezone.localtime(instant)
    assert formats.local_day(day) == dateformat.format(day, formats.DATE_FORMAT)
    assert formats.local_datetime(instant) == dateformat.format(local, formats.DATETIME_FORMAT)


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        ("59,4", "59.4"),
        ("59.4", "59.4"),
        (f"1{S}575,3", "1575.3"),
        ("1 575,3", "1575.3"),
        ("\u2212 80", "-80"),
        (" 3,5 ", "3.5"),
        ("59,4,1", "59.4.1"),  # left for the field to refuse, naming it
    ],
)
def test_a_decimal_box_reads_numbers_as_typed_in_norway(typed, read):
    assert DecimalInput().value_from_datadict({"dose": typed}, {}, "dose") == read


def test_a_decimal_box_shows_numbers_with_a_decimal_comma():
    field = forms.DecimalField(widget=DecimalInput)
    assert field.clean(DecimalInput().value_from_datadict({"d": "59,4"}, {}, "d")) == Decimal(
        "59.4"
    )
    html = DecimalInput().render("dose", Decimal("59.40"))
    assert 'value="59,40"' in html and 'inputmode="decimal"' in html and 'type="text"' in html
