"""Plain helper functions for register tests: members, synthetic national IDs, patients
and tumour episodes, all created through the service layer (never straight into the
tables), so every helper also exercises the rules it relies on.

National IDs are built here from the rules in docs/registry-rules.md §4, not with
registry.national_id, so a test that uses them checks the code against the reference:
DDMMYY iii k1 k2, k1 weights 3 7 6 1 8 9 4 5 2, k2 weights 5 4 3 2 7 6 5 4 3 2,
k = 11 - (sum mod 11), 11 -> 0, 10 -> invalid; Skatteetaten Tenor test numbers add 80
to the month; the health services' H-numbers add 40 to the month (so do NAV's Dolly test
numbers); D-numbers add 40 to the day."""

import itertools
from datetime import date, datetime, time, timedelta

import pytest
from django.utils import timezone

from consortium.models import Institution, Role
from registry import services, vocabulary
from registry.models import MarkerResult, Surgery, TumourEpisode
from tests.conftest import make_member

K1_WEIGHTS = (3, 7, 6, 1, 8, 9, 4, 5, 2)
K2_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)

# Individual-number ranges by birth year (docs/registry-rules.md §4).
INDIVIDUAL_RANGES = [
    ((1854, 1899), range(500, 750)),
    ((1900, 1999), range(0, 500)),
    ((2000, 2039), range(500, 1000)),
]

_individuals = itertools.count(1)
_emails = itertools.count(1)


# --- National IDs ----------------------------------------------------------------------


def _control(digits: list[int], weights) -> int | None:
    k = 11 - sum(w * d for w, d in zip(weights, digits, strict=True)) % 11
    if k == 11:
        return 0
    return None if k == 10 else k


def control_digits(first_nine: str) -> str | None:
    """k1 and k2 for nine digits under the pre-2032 rule, or None when k1 or k2 would be
    10 (that individual number is skipped)."""
    digits = [int(c) for c in first_nine]
    k1 = _control(digits, K1_WEIGHTS)
    if k1 is None:
        return None
    k2 = _control(digits + [k1], K2_WEIGHTS)
    return None if k2 is None else f"{k1}{k2}"


def with_control_digits(first_nine: str) -> str | None:
    digits = control_digits(first_nine)
    return first_nine + digits if digits else None


def k1_remainder(number: str) -> int:
    """(sum of the k1 weights times the first nine digits + k1) mod 11
    (docs/registry-rules.md §4)."""
    digits = [int(c) for c in number]
    return (sum(w * d for w, d in zip(K1_WEIGHTS, digits[:9], strict=True)) + digits[9]) % 11


def k2_remainder(number: str) -> int:
    digits = [int(c) for c in number]
    return (sum(w * d for w, d in zip(K2_WEIGHTS, digits[:10], strict=True)) + digits[10]) % 11


def national_id_for(
    birth: date, *, month_offset: int = 0, day_offset: int = 0, individual: int | None = None
) -> str:
    """A valid number (old rule) for `birth`. month_offset=80: Tenor synthetic; 40:
    H-number; day_offset=40: D-number. Each call gives a new individual number."""
    allowed = next(r for (lo, hi), r in INDIVIDUAL_RANGES if lo <= birth.year <= hi)
    candidates = (
        [individual]
        if individual is not None
        else (allowed[(next(_individuals) * 7) % len(allowed)] for _ in range(len(allowed)))
    )
    prefix = f"{birth.day + day_offset:02d}{birth.month + month_offset:02d}{birth.year % 100:02d}"
    for ind in candidates:
        number = with_control_digits(f"{prefix}{ind:03d}")
        if number:
            return number
    raise AssertionError(f"no valid individual number for {birth} / {individual}")


def new_rule_number(first_nine: str, remainder: int) -> str:
    """A number whose k1 sum leaves `remainder` mod 11 (1, 2 or 3: valid only under the
    2032 rule; 4-10: never valid) and whose k2 is valid, from the reference weights;
    "" when no k1 digit gives that remainder or k2 would be 10."""
    digits = [int(c) for c in first_nine]
    k1 = (remainder - sum(w * d for w, d in zip(K1_WEIGHTS, digits, strict=True))) % 11
    if k1 > 9:
        return ""
    k2 = _control(digits + [k1], K2_WEIGHTS)
    return "" if k2 is None else f"{first_nine}{k1}{k2}"


def find_new_rule_number(prefix: str, remainder: int) -> str:
    """new_rule_number for the date part `prefix` (DDMMYY), first individual number that works."""
    for individual in range(100, 1000):
        number = new_rule_number(f"{prefix}{individual:03d}", remainder)
        if number:
            assert k1_remainder(number) == remainder and k2_remainder(number) == 0
            return number
    raise AssertionError(prefix)


def h_number_for(birth: date, **kwargs) -> str:
    """A health-service H-number (hjelpenummer: month + 40) with the date part `birth`."""
    return national_id_for(birth, month_offset=40, **kwargs)


def tenor_id(birth: date, **kwargs) -> str:
    """A Skatteetaten Tenor synthetic test number (month + 80) for `birth`."""
    return national_id_for(birth, month_offset=80, **kwargs)


# --- Dates --------------------------------------------------------------------------------


def today() -> date:
    return timezone.localdate()


def days_ago(days: int) -> date:
    return today() - timedelta(days=days)


def born_aged(years: int, on: date) -> date:
    """A birth date that makes a person exactly `years` old on `on` (birthday 100 days
    before `on`)."""
    day = on - timedelta(days=100)
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return (day - timedelta(days=1)).replace(year=day.year - years)


def aware(day: date, at: time) -> datetime:
    return timezone.make_aware(datetime.combine(day, at))


# --- Members and institutions -----------------------------------------------------------


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Members get a password; the production hasher's 1M rounds would dominate the run.
    Import this fixture into a test module to use it there (it is autouse)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def registration_form(number: str, institution: str = "OUS", **overrides) -> dict:
    """The register-a-patient form's fields as a browser posts them (Ola Vestland, of the
    western region, at `institution`), with `overrides` on top."""
    return {
        "national_id": number,
        "full_name": "Ola Vestland",
        "sex": "",
        "birth_date": "",
        "health_region": "west",
        "vital_status": "alive",
        "date_of_death": "",
        "institutions": [Institution.objects.get(code=institution).pk],
        "reason": "",
        **overrides,
    }


def institutions(*codes: str) -> list[Institution]:
    found = {i.code: i for i in Institution.objects.filter(code__in=codes)}
    return [found[c] for c in codes]


def member(role: str, *institution_codes: str, email: str | None = None):
    codes = institution_codes or ("OUS",)
    email = email or f"{role}-{'-'.join(codes).lower()}-{next(_emails)}@example.no"
    return make_member(role, institutions=codes, email=email)


def clinician(*institution_codes: str, email: str | None = None):
    return member(Role.CLINICIAN, *institution_codes, email=email)


# --- Patients and episodes ----------------------------------------------------------------


DEFAULT_BIRTH = date(1970, 5, 17)


def make_patient(
    by,
    *,
    birth_date: date = DEFAULT_BIRTH,
    institution_codes=("OUS",),
    full_name: str = "Kari Nordmann",
    national_id: str | None = None,
    **fields,
):
    """Register a patient with a synthetic Tenor number for `birth_date`; the birth date
    and sex are left to be derived from the number unless given in `fields`."""
    return services.patient_register(
        by=by,
        national_id_value=national_id or tenor_id(birth_date),
        institutions=institutions(*institution_codes),
        allow_synthetic=True,
        full_name=full_name,
        **fields,
    )


def make_episode(patient, by, **fields) -> TumourEpisode:
    return services.episode_save(patient=patient, by=by, **fields)


def gbm_episode(patient, by, *, diagnosis_date: date | None = None, **fields) -> TumourEpisode:
    """A glioblastoma, IDH-wildtype, CNS WHO grade 4, with the diagnosis section filled."""
    values = dict(
        diagnosis_date=diagnosis_date or days_ago(60),
        basis=TumourEpisode.Basis.HISTOLOGY,
        diagnosis=vocabulary.GLIOBLASTOMA_IDH_WILDTYPE,
        who_grade=4,
        topography="C71.1",
        laterality=TumourEpisode.Laterality.LEFT,
    )
    values.update(fields)
    return make_episode(patient, by, **values)


def complete_episode(patient, by, *, diagnosis_date: date | None = None) -> TumourEpisode:
    """A GBM episode with everything a complete report needs (rules.missing_items):
    diagnosis section, MDT date, trial question, the IDH and MGMT results, a resection
    with MRI at 12 h and a performance status. Returns the refreshed draft."""
    diagnosed = diagnosis_date or days_ago(60)
    episode = gbm_episode(
        patient, by, diagnosis_date=diagnosed, mdt_dates=[diagnosed], trial_offered="no"
    )
    episode = services.markers_save(
        episode=episode,
        by=by,
        expected_version=episode.markers_version,
        results={"idh": (MarkerResult.WILDTYPE, "ihc"), "mgmt": (MarkerResult.ALTERED, "pcr")},
    )
    # Operated on the day of diagnosis (so a report diagnosed today is possible), MRI 12 h later.
    services.section_save(
        section="surgeries",
        episode=episode,
        by=by,
        surgery_date=diagnosed,
        surgery_end_time=time(8, 0),
        procedure=Surgery.Procedure.RESECTION,
        extent_of_resection=Surgery.ExtentOfResection.GROSS_TOTAL,
        postoperative_mri_at=aware(diagnosed, time(20, 0)),
    )
    services.section_save(
        section="performance", episode=episode, by=by, assessed_on=diagnosed, ecog=1
    )
    episode.refresh_from_db()
    return episode
