"""The Norwegian national identity number: fødselsnummer, D-number and the health services'
temporary H-number.

Rules from docs/registry-rules.md §4 (Forskrift om folkeregistrering; Skatteetaten's
2032 change; navikt/fnrvalidator, https://github.com/navikt/fnrvalidator):
- DDMMYY iii k1 k2. D-numbers add 4 to the first digit (day + 40).
- H-numbers ("hjelpenummer", HITR 1001:2010, https://www.ehelse.no/standarder/identifikatorer-for-personer)
  add 4 to the third digit (month + 40), control digits as usual. A hospital gives one to a
  patient without a national ID or D-number; it is temporary, to be replaced by the person's
  national ID. Its date part is not a reliable birth date (the hospital's system may not know
  it), so the birth date and sex are entered, never derived.
- k1 = weights 3 7 6 1 8 9 4 5 2 over the first nine digits, k2 = weights 5 4 3 2 7 6 5 4 3 2
  over the first ten. From 2032 the sum for k1 (including k1) may leave remainder 0, 1, 2
  or 3 mod 11; k2's remainder must be 0. Both rules are accepted, as Skatteetaten requires.
- Synthetic test numbers: month + 80 (Skatteetaten's Tenor test population,
  https://www.skatteetaten.no/en/forms/tenor-test-data/). NAV's Dolly test numbers use
  month + 40 too, the H-number rule; nothing in the number tells the two apart, so in every
  mode (demo included) a month + 40 number is an H-number, as it is in a hospital.
- Sex (9th digit even = female) and the century (from the individual number) can be read
  only from numbers issued under the old rule; the register then suggests them, editable.
"""

from dataclasses import dataclass
from datetime import date

from django.core.exceptions import ValidationError
from django.db import models
from django.views.decorators.debug import sensitive_variables

K1_WEIGHTS = (3, 7, 6, 1, 8, 9, 4, 5, 2)
K2_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


class IdentifierKind(models.TextChoices):
    """What the identifier is, with HL7 Norway's identifier system (FHIR `Identifier.system`)
    of each: the no-basis-Patient profile, https://github.com/HL7Norway/basisprofiler-r4."""

    NATIONAL_ID = "national_id", "National ID (fødselsnummer)"
    D_NUMBER = "d_number", "D-number"
    H_NUMBER = "h_number", "H-number (temporary)"


IDENTIFIER_SYSTEMS = {
    IdentifierKind.NATIONAL_ID: "urn:oid:2.16.578.1.12.4.1.4.1",
    IdentifierKind.D_NUMBER: "urn:oid:2.16.578.1.12.4.1.4.2",
    IdentifierKind.H_NUMBER: "urn:oid:2.16.578.1.12.4.1.4.3",
}


@dataclass(frozen=True)
class NationalId:
    number: str
    kind: str  # an IdentifierKind
    synthetic: str  # "" for a real number, else "Tenor (month +80)"
    birth_date: date | None  # None when the number does not tell (2032 rule)
    sex: str  # "female", "male" or "" when the number does not tell

    @property
    def is_d_number(self) -> bool:
        return self.kind == IdentifierKind.D_NUMBER

    @property
    def is_h_number(self) -> bool:
        return self.kind == IdentifierKind.H_NUMBER

    @property
    def masked(self) -> str:
        return mask(self.number)


def mask(number: str) -> str:
    """What non-clinical roles and other institutions see: the birth date part only."""
    return f"{number[:6]}*****" if number else ""


def _century(year2: int, individual: int) -> int | None:
    """Century from the individual number ranges (old rule; docs/registry-rules.md §4)."""
    if individual <= 499:
        return 1900
    if individual <= 749 and year2 >= 54:
        return 1800
    if individual >= 500 and year2 <= 39:
        return 2000
    if individual >= 900 and year2 >= 40:
        return 1900
    return None


@sensitive_variables()  # error reports never show the number
def parse(value: str, *, allow_synthetic: bool) -> NationalId:
    """Validate a fødselsnummer, D-number or H-number; raise ValidationError naming the rule."""
    number = "".join(value.split())
    if len(number) != 11 or not (number.isascii() and number.isdigit()):
        raise ValidationError(
            "A national ID has exactly 11 digits (DDMMYY and five more).", code="format"
        )
    digits = [int(c) for c in number]
    k1_remainder = sum(w * d for w, d in zip(K1_WEIGHTS + (1,), digits[:10], strict=True)) % 11
    if k1_remainder not in (0, 1, 2, 3):
        raise ValidationError(
            "The first control digit (10th digit) does not match the mod-11 check.",
            code="control_digit",
        )
    if sum(w * d for w, d in zip(K2_WEIGHTS + (1,), digits, strict=True)) % 11 != 0:
        raise ValidationError(
            "The second control digit (11th digit) does not match the mod-11 check.",
            code="control_digit",
        )

    day, month, year2 = int(number[0:2]), int(number[2:4]), int(number[4:6])
    kind = IdentifierKind.NATIONAL_ID
    if day > 40:
        day, kind = day - 40, IdentifierKind.D_NUMBER
    synthetic = ""
    if month > 80:
        month, synthetic = month - 80, "Tenor (month +80)"
    elif month > 40:
        # A D-number with month + 40 too (fnrvalidator's "dnr-and-hnr") is an H-number as well:
        # the month rule is the H-number's, and the record is flagged temporary all the same.
        month, kind = month - 40, IdentifierKind.H_NUMBER
    if synthetic and not allow_synthetic:
        raise ValidationError(
            f"This is a synthetic test number ({synthetic}); this installation accepts only real "
            "national IDs.",
            code="synthetic",
        )

    old_rule = k1_remainder == 0 and kind != IdentifierKind.H_NUMBER  # an H-number tells neither
    individual = int(number[6:9])
    century = _century(year2, individual) if old_rule else None
    try:
        # A 2032-rule number does not tell its century: 2000 is used only to check that
        # day and month form a date (29 February included).
        birth_date = date((century or 2000) + year2, month, day)
    except ValueError:
        raise ValidationError(
            "The first six digits are not a valid date (DDMMYY).", code="date"
        ) from None
    return NationalId(
        number=number,
        kind=kind,
        synthetic=synthetic,
        birth_date=birth_date if century else None,
        sex=("female" if digits[8] % 2 == 0 else "male") if old_rule else "",
    )
