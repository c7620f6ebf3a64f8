"""The Norwegian national identity number (registry/national_id.py) against the rules
and examples of docs/registry-rules.md §4. Expected values are worked out here
from the reference (weights, ranges, offsets), never read back from the code."""

from datetime import date

import pytest
from django.core.exceptions import ValidationError

from registry.national_id import parse
from tests.registry.factories import (
    control_digits,
    find_new_rule_number,
    k1_remainder,
    k2_remainder,
    national_id_for,
    with_control_digits,
)

WORKED_EXAMPLE = "31129956715"


def refused(value: str, *, allow_synthetic: bool = False) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        parse(value, allow_synthetic=allow_synthetic)
    return caught.value


# --- The worked example -------------------------------------------------------------------


def test_the_reference_worked_example_gives_k1_1_and_k2_5():
    # fnrinfo.no: 311299567 gives k1 = 1, k2 = 5 (docs/registry-rules.md §4). Checks the
    # test helper too.
    assert control_digits("311299567") == "15"
    assert k1_remainder(WORKED_EXAMPLE) == 0 and k2_remainder(WORKED_EXAMPLE) == 0


def test_the_worked_example_is_a_valid_real_number():
    parsed = parse(WORKED_EXAMPLE, allow_synthetic=False)
    assert parsed.number == WORKED_EXAMPLE
    assert parsed.synthetic == ""
    assert parsed.is_d_number is False
    # Individual number 567 with year 99: only the 1854-1899 range (500-749) fits.
    assert parsed.birth_date == date(1899, 12, 31)
    # 9th digit 7 is odd: male.
    assert parsed.sex == "male"


# --- Synthetic test numbers -------------------------------------------------------------------

# (number, kind, D-number, birth date, sex) from docs/registry-rules.md §4. Dates: Tenor
# subtracts 80 from the month (a month + 40 number is an H-number, test_h_numbers.py); a
# D-number subtracts 40 from the day; the century comes from the individual-number ranges;
# sex from the parity of the 9th digit.
SYNTHETIC_EXAMPLES = [
    (
        "17912099997",
        "Tenor",
        False,
        date(2020, 11, 17),
        "male",
    ),  # 17.11.2020; iii 999, year 20 -> 2000s
    (
        "57912075186",
        "Tenor",
        True,
        date(2020, 11, 17),
        "male",
    ),  # D-number for the same date; iii 751
    ("29822099635", "Tenor", False, date(2020, 2, 29), "female"),  # 29 Feb 2020; 9th digit 6
    (
        "12829499914",
        "Tenor",
        False,
        date(1994, 2, 12),
        "male",
    ),  # iii 999, year 94 -> 1940-1999 range
]


@pytest.mark.parametrize(("number", "kind", "is_d", "birth", "sex"), SYNTHETIC_EXAMPLES)
def test_synthetic_examples_are_accepted_and_flagged_when_allowed(number, kind, is_d, birth, sex):
    parsed = parse(number, allow_synthetic=True)
    assert kind in parsed.synthetic
    assert "+80" in parsed.synthetic
    assert parsed.is_d_number is is_d
    assert parsed.birth_date == birth
    assert parsed.sex == sex


@pytest.mark.parametrize(("number", "kind", "is_d", "birth", "sex"), SYNTHETIC_EXAMPLES)
def test_synthetic_examples_are_refused_naming_the_rule_when_not_allowed(
    number, kind, is_d, birth, sex
):
    error = refused(number, allow_synthetic=False)
    assert error.code == "synthetic"
    message = " ".join(error.messages)
    assert "synthetic" in message and kind in message


def test_a_real_number_is_accepted_when_synthetic_numbers_are_not():
    number = national_id_for(date(1985, 3, 14))
    parsed = parse(number, allow_synthetic=False)
    assert parsed.synthetic == "" and parsed.birth_date == date(1985, 3, 14)


# --- Control digits ------------------------------------------------------------------------


@pytest.mark.parametrize("wrong_k1", [d for d in range(10) if d != 1])
def test_every_wrong_first_control_digit_is_refused(wrong_k1):
    number = WORKED_EXAMPLE[:9] + str(wrong_k1) + WORKED_EXAMPLE[10]
    assert refused(number).code == "control_digit"
    assert "control digit" in " ".join(refused(number).messages)


@pytest.mark.parametrize("wrong_k2", [d for d in range(10) if d != 5])
def test_every_wrong_second_control_digit_is_refused(wrong_k2):
    number = WORKED_EXAMPLE[:10] + str(wrong_k2)
    error = refused(number)
    assert error.code == "control_digit"
    assert "second control digit" in " ".join(error.messages)


def test_any_single_wrong_digit_is_caught_by_the_control_digits():
    # k2's weights (2-7, and 1 for k2 itself) are all prime to 11, so changing one digit
    # always breaks the k2 sum: every single-digit error is refused.
    for position in range(11):
        for digit in "0123456789":
            if digit == WORKED_EXAMPLE[position]:
                continue
            number = WORKED_EXAMPLE[:position] + digit + WORKED_EXAMPLE[position + 1 :]
            assert refused(number, allow_synthetic=True).code == "control_digit", number


# --- Format and date ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "3112995671",
        "311299567150",
        "3112995671X",
        "",
        "ABCDEFGHIJK",
        "31.12.99 56715",
        "-3112995671",
    ],
)
def test_wrong_length_or_non_digits_are_refused(value):
    error = refused(value)
    assert error.code == "format"
    assert "11 digits" in " ".join(error.messages)


@pytest.mark.parametrize(
    "value",
    [
        "3112995671\u00b2",  # superscript two
        # full-width 31129956715
        "\uff13\uff11\uff11\uff12\uff19\uff19\uff15\uff16\uff17\uff11\uff15",
    ],
)
def test_non_ascii_digits_are_refused_as_a_format_error(value):
    try:
        parsed = parse(value, allow_synthetic=False)
    except ValidationError as error:
        assert error.code == "format"
    else:  # accepting them is only safe if they become the plain ASCII number
        assert parsed.number.isascii()


def test_whitespace_is_ignored():
    assert parse(" 311299 56715 ", allow_synthetic=False).number == WORKED_EXAMPLE


@pytest.mark.parametrize(
    "first_nine", ["310290123", "300290123", "310490123", "310690123", "000190123"]
)
def test_an_impossible_day_of_the_month_is_refused(first_nine):
    # 31 and 30 February, 31 April, 31 June, day 0.
    error = refused(_valid(first_nine))
    assert error.code == "date"
    assert "date" in " ".join(error.messages)


def test_month_13_is_refused():
    assert refused(_valid("011390123")).code == "date"


def test_29_february_follows_the_century_from_the_individual_number():
    # Individual 000-499 with year 00 is 1900, not a leap year; 500-999 with year 00 is 2000, one.
    assert refused(_valid("290200123")).code == "date"
    leap = _valid("290200623")
    assert parse(leap, allow_synthetic=False).birth_date == date(2000, 2, 29)


def _valid(first_nine: str) -> str:
    """first_nine with valid control digits, trying the next individual numbers if k is 10."""
    for step in range(0, 40, 2):  # keep the 9th digit's parity
        candidate = f"{first_nine[:6]}{int(first_nine[6:9]) + step:03d}"
        number = with_control_digits(candidate)
        if number:
            return number
    raise AssertionError(first_nine)


# --- D-numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize("birth", [date(1990, 1, 31), date(1965, 7, 1), date(2003, 12, 9)])
def test_a_d_number_has_40_added_to_the_day(birth):
    number = national_id_for(birth, day_offset=40)
    assert int(number[0]) in range(4, 8)  # "the first digit is 4-7"
    parsed = parse(number, allow_synthetic=False)
    assert parsed.is_d_number is True
    assert parsed.synthetic == ""
    assert parsed.birth_date == birth


def test_the_norsk_helsenett_test_patient_d_number_is_accepted():
    # 70019950032, "Testpasient 6" (docs/registry-rules.md §4): a D-number for day 30, January.
    parsed = parse("70019950032", allow_synthetic=False)
    assert parsed.is_d_number is True
    assert (parsed.birth_date.day, parsed.birth_date.month) == (30, 1)


def test_a_d_number_day_beyond_71_is_refused():
    assert refused(_valid("720190123")).code == "date"  # day 72 - 40 = 32


# --- The 2032 rule ----------------------------------------------------------------------------


@pytest.mark.parametrize("remainder", [1, 2, 3])
def test_a_2032_rule_number_is_accepted_without_sex_or_birth_date(remainder):
    number = find_new_rule_number("150688", remainder)
    parsed = parse(number, allow_synthetic=False)
    assert parsed.number == number
    assert parsed.birth_date is None  # the century can no longer be derived
    assert parsed.sex == ""  # sex is no longer encoded


@pytest.mark.parametrize("remainder", [4, 5, 6, 7, 8, 9, 10])
def test_a_k1_remainder_above_3_is_refused(remainder):
    number = find_new_rule_number("150688", remainder)
    error = refused(number)
    assert error.code == "control_digit"
    assert "first control digit" in " ".join(error.messages)


def test_a_2032_rule_number_must_still_be_a_calendar_date():
    assert refused(find_new_rule_number("310288", 2)).code == "date"
    # 29 February: valid in 2024 (century 20xx assumed for the check only).
    parsed = parse(find_new_rule_number("290224", 1), allow_synthetic=False)
    assert parsed.birth_date is None


def test_a_2032_rule_synthetic_number_is_still_flagged():
    number = find_new_rule_number("159288", 3)  # month 92 = Tenor November
    assert refused(number).code == "synthetic"
    assert "Tenor" in parse(number, allow_synthetic=True).synthetic


# --- Century and sex (old rule) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("year2", "individual", "year"),
    [
        (55, 600, 1855),  # 500-749 with year >= 54: 1854-1899
        (99, 749, 1899),
        (54, 500, 1854),
        (45, 950, 1945),  # 900-999 with year >= 40: 1940-1999
        (99, 900, 1999),
        (10, 800, 2010),  # 500-999 with year <= 39: 2000-2039
        (39, 500, 2039),
        (5, 999, 2005),
        (10, 100, 1910),  # 000-499: 1900-1999
        (0, 0, 1900),
        (99, 499, 1999),
    ],
)
def test_the_century_comes_from_the_individual_number(year2, individual, year):
    number = _dated(year2, individual)
    parsed = parse(number, allow_synthetic=False)
    assert parsed.birth_date.year == year
    assert parsed.birth_date.month == 6


@pytest.mark.parametrize(
    ("year2", "individual"),
    [
        (45, 600),  # 500-749 is 1854-1899 or 2000-2039: neither fits year 45
        (53, 749),
        (60, 800),  # 750-899 is only 2000-2039
        (40, 750),
    ],
)
def test_no_birth_date_when_no_range_fits(year2, individual):
    parsed = parse(_dated(year2, individual), allow_synthetic=False)
    assert parsed.birth_date is None


def _dated(year2: int, individual: int) -> str:
    """A valid number for some day in June of `year2` with exactly this individual number."""
    for day in range(1, 29):
        number = with_control_digits(f"{day:02d}06{year2:02d}{individual:03d}")
        if number:
            return number
    raise AssertionError((year2, individual))


@pytest.mark.parametrize("ninth", range(10))
def test_sex_from_the_ninth_digit(ninth):
    number = _dated(80, 120 + ninth)
    assert number[8] == str(ninth)
    parsed = parse(number, allow_synthetic=False)
    assert parsed.sex == ("female" if ninth % 2 == 0 else "male")
