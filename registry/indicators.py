"""The register's quality indicators: ONE catalogue, in code. Each indicator says who is in
its denominator, who counts in its numerator, who is left out and why, its target levels
and its public source, and carries the database query that counts it. Pages, the API,
the reports and the benchmark all read the counts this module makes, so anyone
recomputing from the register gets the same numbers.

Readings that make the counts reproducible:
- Indicators are per tumour episode, except postop_mri_72h, per resection (in the year of
  that resection, at its operating hospital).
- The survival indicators count in the year of the episode's first surgery (its earliest
  surgery, biopsy or resection) and at that surgery's operating hospital; the others in
  the year of diagnosis at the reporting hospital. An episode without a diagnosis date has
  no year of diagnosis: it is left out ("no diagnosis date") in the year it was registered.
- Alive at day N: no date of death, or a date of death at least N days after the surgery
  (a death on day 365 is alive at one year). A living patient operated fewer than N days
  before the snapshot's as-of date is left out until the follow-up is long enough.
- Every reason for leaving a unit out is counted, first matching reason only, and shown.

Counting is done by PostgreSQL: one GROUP BY query per indicator over (year, hospital,
WHO CNS5 diagnosis, reason left out), with a conditional COUNT for the numerator. Health
regions, the nation and the diagnosis groups are sums of those rows (each unit belongs to
exactly one hospital and one diagnosis), so they are exact."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import (
    BigIntegerField,
    BooleanField,
    Case,
    CharField,
    Count,
    DateField,
    DateTimeField,
    Exists,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, ExtractYear, Least

from . import vocabulary
from .models import (
    MarkerResult,
    MolecularMarker,
    NotifiedCase,
    Patient,
    RadiotherapyCourse,
    Surgery,
    SystemicTherapy,
    TumourEpisode,
)

# Bump when any definition below changes what it counts; each indicator also has its own
# version. A stored snapshot keeps the version it was computed with.
DEFINITIONS_VERSION = "2026.1"

# --- Sources (public) --------------------------------------------------------------------

DNOR_SPEC = (
    "Dansk Neuro-Onkologisk Register, indicator specification v.17-05-2013 and annual "
    "reports 2009/2014 (https://ugeskriftet.dk/videnskab/dansk-neuro-onkologisk-register; "
    "Hansen et al., Clin Epidemiol 2016;8:629)"
)
KREFTREGISTERET_COVERAGE = (
    "Cancer Registry of Norway: a clinical registry's coverage of 80 % is satisfactory, 60 % "
    "moderate (https://www.kreftregisteret.no/en/The-Registries/clinical-registries/"
    "Breast-Cancer-Registry-of-Norway/Quality-objectives/; brain-tumour coverage 46.7 % in 2023: "
    "https://www.kreftregisteret.no/en/The-Registries/clinical-registries/"
    "Quality-registry-for-brain-tumours/Degree-of-coverage-and-data-quality/)"
)
PAKKEFORLOP = (
    "Helsedirektoratet, Pakkeforløp for hjernekreft, forløpstider: referral to surgery 21, to "
    "radiotherapy or drug therapy 28 calendar days; national goal 70 % within the norm "
    "(https://www.helsedirektoratet.no/retningslinjer/diffuse-hoygradige-gliomer-hos-voksne-"
    "handlingsprogram/forlopstider/forlopstider-for-hjernekreft)"
)
MRI_GUIDELINE = (
    "DNOR indicator II (standard 90 %); Helsedirektoratet, Nasjonalt handlingsprogram for "
    "hjernesvulster hos voksne: postoperative MRI within 72 h (https://www.helsedirektoratet.no/"
    "retningslinjer/hjernesvulster-generelt-hos-voksne-handlingsprogram/sammendrag-av-anbefalingene)"
)
MOLECULAR_GUIDELINE = (
    "WHO CNS5 (Louis et al., Neuro Oncol 2021;23:1231) and Helsedirektoratet, Nasjonalt "
    "handlingsprogram for diffuse gliomer, patologi (https://www.helsedirektoratet.no/"
    "retningslinjer/diffuse-gliomer-hos-voksne-handlingsprogram/patologi/"
    "voksen-type-adult-type-diffuse-gliomer). Targets are the consortium's own."
)
FULL_TREATMENT_STUDY = (
    "Norwegian real-world glioblastoma study, J Neurooncol 2025 (PMID 40932639): full "
    "treatment = resection + radiotherapy (>= 55 Gy if aged <= 70, >= 30 Gy if older) + "
    "temozolomide (https://pubmed.ncbi.nlm.nih.gov/40932639/)"
)
TRIAL_SOURCE = (
    "Kvalitetsregister for hjerne- og ryggmargssvulster: the surgery report records whether "
    "trial inclusion was offered, a candidate indicator of the register council "
    "(https://www.kreftregisteret.no/Registrene/Kvalitetsregistrene/kvalitetsregister-for-"
    "hjernesvulster/kvalitetsmal/)"
)
MDT_GUIDELINE = (
    "Helsedirektoratet, Nasjonalt handlingsprogram for diffuse gliomer: treatment is planned "
    "in a multidisciplinary team meeting (https://www.helsedirektoratet.no/retningslinjer/"
    "diffuse-gliomer-hos-voksne-handlingsprogram/behandling-ved-primaerdiagnose/"
    "organisering-av-behandling)"
)


# --- Diagnosis groups --------------------------------------------------------------------

GLIOBLASTOMA = vocabulary.GLIOBLASTOMA_IDH_WILDTYPE
ASTROCYTOMA = vocabulary.ASTROCYTOMA_IDH_MUTANT
OLIGODENDROGLIOMA = vocabulary.OLIGODENDROGLIOMA
ADULT_DIFFUSE_GLIOMAS = [
    t.code for t in vocabulary.TUMOUR_TYPES.values() if t.family == vocabulary.ADULT_DIFFUSE
]
TEMOZOLOMIDE = [
    SystemicTherapy.Regimen.TEMOZOLOMIDE_CONCOMITANT,
    SystemicTherapy.Regimen.TEMOZOLOMIDE_ADJUVANT,
]


def _slug(text: str) -> str:
    return "_".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


def _diagnosis_groups() -> dict[str, tuple[str, list[str]]]:
    """slug -> (label, WHO CNS5 codes). A partition of the diagnoses (every code in exactly
    one group, "" in "not_given"), so the groups add up to the whole. The three adult-type
    diffuse gliomas are groups of their own; every other WHO CNS5 family is one group."""
    groups: dict[str, tuple[str, list[str]]] = {
        GLIOBLASTOMA: ("Glioblastoma, IDH-wildtype", [GLIOBLASTOMA]),
        ASTROCYTOMA: ("Astrocytoma, IDH-mutant", [ASTROCYTOMA]),
        OLIGODENDROGLIOMA: ("Oligodendroglioma, IDH-mutant, 1p/19q-codeleted", [OLIGODENDROGLIOMA]),
    }
    for t in vocabulary.TUMOUR_TYPES.values():
        if t.code in groups:
            continue
        slug = _slug(t.family)
        groups.setdefault(slug, (t.family, []))[1].append(t.code)
    groups["not_given"] = ("Diagnosis not given", [""])
    return groups


DIAGNOSIS_GROUPS = _diagnosis_groups()
GROUP_OF_DIAGNOSIS = {code: slug for slug, (_, codes) in DIAGNOSIS_GROUPS.items() for code in codes}


def diagnosis_group(code: str) -> str:
    return GROUP_OF_DIAGNOSIS.get(code or "", "not_given")


# --- SQL building blocks ------------------------------------------------------------------


class DaysBetween(Func):
    """later - earlier in whole days (PostgreSQL date - date is an integer)."""

    template = "(%(expressions)s)"
    arg_joiner = " - "
    output_field = IntegerField()


class AgeInYears(Func):
    """Completed years of age on a day: date_part('year', age(day, birth))."""

    template = "date_part('year', age(%(expressions)s))::integer"
    output_field = IntegerField()


class EarliestInArray(Func):
    template = "(SELECT min(d) FROM unnest(%(expressions)s) AS d)"
    output_field = DateField()


class EndOfSurgery(Func):
    """The end of surgery as a real instant: the date and end time are Oslo wall-clock time."""

    template = "((%(expressions)s) AT TIME ZONE 'Europe/Oslo')"
    arg_joiner = " + "
    output_field = DateTimeField()


class HoursLater(Func):
    """An instant plus real elapsed hours. An interval in hours, never in days: PostgreSQL
    adds days as calendar days, which are 23 or 25 hours across a daylight-saving change."""

    def __init__(self, expression, hours: int, **extra):
        super().__init__(expression, **extra)
        self.hours = int(hours)

    def as_sql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"({sql} + interval '{self.hours} hours')", params

    output_field = DateTimeField()


def flag(condition: Q) -> Case:
    """A condition as a column that is never NULL (NULL comparisons are false)."""
    return Case(
        When(condition, then=Value(True)), default=Value(False), output_field=BooleanField()
    )


def _first_surgery(field_name: str):
    return Subquery(
        Surgery.objects.filter(episode=OuterRef("pk"))
        .order_by("surgery_date", "id")
        .values(field_name)[:1]
    )


def _earliest(model, date_field: str, **filters):
    return Subquery(
        model.objects.filter(episode=OuterRef("pk"), **filters)
        .order_by(date_field)
        .values(date_field)[:1],
        output_field=DateField(),
    )


def _marker_known(marker: str) -> Exists:
    return Exists(
        MolecularMarker.objects.filter(
            episode=OuterRef("pk"),
            marker=marker,
            result__in=[MarkerResult.ALTERED, MarkerResult.WILDTYPE],
        )
    )


def _episodes_by_diagnosis_year() -> QuerySet[TumourEpisode]:
    """Episodes at their reporting hospital in their year of diagnosis (undated ones in the
    year they were registered, where they are counted as left out)."""
    return TumourEpisode.objects.annotate(
        unit_year=Coalesce(ExtractYear("diagnosis_date"), ExtractYear("created_at")),
        unit_institution=F("institution_id"),
        unit_diagnosis=F("diagnosis"),
    )


def _with_first_treatment(episodes: QuerySet) -> QuerySet:
    """The first treatment: the earliest resection, radiotherapy start or systemic therapy
    start (a biopsy is diagnostic, not treatment). LEAST ignores what is missing."""
    return episodes.annotate(
        first_resection=_earliest(Surgery, "surgery_date", procedure=Surgery.Procedure.RESECTION),
        first_radiotherapy=_earliest(RadiotherapyCourse, "start_date"),
        first_systemic=_earliest(SystemicTherapy, "start_date"),
    ).annotate(
        first_treatment=Least("first_resection", "first_radiotherapy", "first_systemic"),
    )


def _episodes_by_first_surgery() -> QuerySet[TumourEpisode]:
    """Operated episodes at the operating hospital of their first surgery (biopsy or
    resection), in that surgery's year. The operating hospital defaults to the reporting."""
    return (
        TumourEpisode.objects.annotate(
            first_surgery=_first_surgery("surgery_date"),
            first_operating=_first_surgery("operating_institution_id"),
        )
        .filter(first_surgery__isnull=False)
        .annotate(
            unit_year=ExtractYear("first_surgery"),
            unit_institution=Coalesce(
                "first_operating", "institution_id", output_field=BigIntegerField()
            ),
            unit_diagnosis=F("diagnosis"),
            death=F("patient__date_of_death"),
        )
    )


# --- The catalogue --------------------------------------------------------------------------


@dataclass(frozen=True)
class LeftOut:
    code: str
    label: str
    condition: Q


@dataclass(frozen=True)
class Indicator:
    code: str
    title: str
    unit: str  # what is counted: "tumour episode" or "resection"
    attribution: str  # which year and hospital a unit counts in
    denominator: str
    numerator: str
    exclusions: str
    source: str
    version: int
    # as_of date -> the units of the population, annotated unit_year, unit_institution,
    # unit_diagnosis and the columns the conditions below name.
    units: Callable[[date], QuerySet]
    met: Q
    left_out: tuple[LeftOut, ...] = ()
    target_moderate: float | None = None
    target_high: float | None = None
    targets_note: str = ""
    follow_up_days: int | None = None  # survival indicators: the day N
    notes: tuple[str, ...] = field(default=())

    @property
    def left_out_labels(self) -> dict[str, str]:
        return {reason.code: reason.label for reason in self.left_out}


NO_DIAGNOSIS_DATE = LeftOut(
    "no_diagnosis_date", "No diagnosis date", Q(diagnosis_date__isnull=True)
)
BY_DIAGNOSIS = "Year of diagnosis, reporting hospital"
BY_FIRST_SURGERY = "Year of the first surgery (biopsy or resection), its operating hospital"


def _survival_units(days: int, *, glioblastoma: bool) -> Callable[[date], QuerySet]:
    def units(as_of: date) -> QuerySet:
        episodes = _episodes_by_first_surgery()
        if glioblastoma:
            episodes = episodes.filter(diagnosis=GLIOBLASTOMA)
        return episodes.annotate(
            survived_days=DaysBetween("death", "first_surgery"),
            dead_without_date=flag(
                Q(patient__vital_status=Patient.VitalStatus.DEAD, death__isnull=True)
            ),
            follow_up_short=flag(
                Q(death__isnull=True, first_surgery__gt=as_of - timedelta(days=days))
            ),
        )

    return units


def _survival_left_out(days: int) -> tuple[LeftOut, ...]:
    return (
        LeftOut(
            "death_before_surgery",
            "Date of death before the surgery (old data; cannot be entered now)",
            Q(survived_days__lt=0),
        ),
        LeftOut(
            "dead_without_date",
            "Recorded as dead without a date of death",
            Q(dead_without_date=True),
        ),
        LeftOut(
            "follow_up_short",
            f"Alive, operated fewer than {days} days before the data's date (not yet "
            "followed up long enough; counted once they are)",
            Q(follow_up_short=True),
        ),
    )


def _survival(code: str, title: str, days: int, *, glioblastoma: bool, **kwargs) -> Indicator:
    who = "Glioblastoma, IDH-wildtype episodes" if glioblastoma else "Tumour episodes"
    return Indicator(
        code=code,
        title=title,
        unit="tumour episode",
        attribution=BY_FIRST_SURGERY,
        denominator=f"{who} whose first surgery (biopsy or resection) was in the year.",
        numerator=(
            f"Alive {days} days after that surgery: no date of death, or a date of death at "
            f"least {days} days after it (a death on day {days} counts as alive)."
        ),
        exclusions=(
            "Episodes never operated are not in the population. Left out: a date of death "
            "before the surgery; dead without a date of death; alive with fewer than "
            f"{days} days of follow-up."
        ),
        version=1,
        units=_survival_units(days, glioblastoma=glioblastoma),
        met=Q(survived_days__isnull=True) | Q(survived_days__gte=days),
        left_out=_survival_left_out(days),
        follow_up_days=days,
        **kwargs,
    )


def _coverage_units(as_of: date) -> QuerySet:
    return _episodes_by_diagnosis_year()


def _trial_units(as_of: date) -> QuerySet:
    return _episodes_by_diagnosis_year()


def _lead_time_units(as_of: date) -> QuerySet:
    return _with_first_treatment(_episodes_by_diagnosis_year()).annotate(
        lead_days=DaysBetween("first_treatment", "referral_date"),
        lead_norm=Case(
            When(Q(first_resection=F("first_treatment")), then=Value(21)),
            default=Value(28),
            output_field=IntegerField(),
        ),
    )


def _mdt_units(as_of: date) -> QuerySet:
    return _with_first_treatment(_episodes_by_diagnosis_year()).annotate(
        first_mdt=EarliestInArray("mdt_dates"),
    )


def _marker_units(marker: str, **population) -> Callable[[date], QuerySet]:
    def units(as_of: date) -> QuerySet:
        return (
            _episodes_by_diagnosis_year()
            .filter(**population)
            .annotate(marker_known=_marker_known(marker))
        )

    return units


def _full_treatment_units(*, over_70: bool, dose_gy: int) -> Callable[[date], QuerySet]:
    def units(as_of: date) -> QuerySet:
        episodes = _episodes_by_diagnosis_year().annotate(
            age_at_diagnosis=AgeInYears("diagnosis_date", "patient__birth_date"),
        )
        age = Q(age_at_diagnosis__gt=70) if over_70 else Q(age_at_diagnosis__lte=70)
        return (
            episodes.filter(diagnosis=GLIOBLASTOMA)
            .filter(age | Q(diagnosis_date__isnull=True))
            .annotate(
                resected=Exists(
                    Surgery.objects.filter(
                        episode=OuterRef("pk"), procedure=Surgery.Procedure.RESECTION
                    )
                ),
                radiotherapy_dose=Exists(
                    RadiotherapyCourse.objects.filter(
                        episode=OuterRef("pk"), total_dose_gy__gte=dose_gy
                    )
                ),
                temozolomide=Exists(
                    SystemicTherapy.objects.filter(episode=OuterRef("pk"), regimen__in=TEMOZOLOMIDE)
                ),
            )
        )

    return units


def _full_treatment(code: str, *, over_70: bool) -> Indicator:
    dose = 30 if over_70 else 55
    ages = "older than 70" if over_70 else "aged 70 or younger"
    return Indicator(
        code=code,
        title=f"Glioblastoma {ages}: full treatment (resection, radiotherapy >= {dose} Gy, "
        "temozolomide)",
        unit="tumour episode",
        attribution=BY_DIAGNOSIS,
        denominator=f"Glioblastoma, IDH-wildtype episodes diagnosed in the year, {ages} on the "
        "day of diagnosis (completed years; 70 years and 364 days is 70).",
        numerator=f"A resection, a radiotherapy course of at least {dose} Gy total dose and "
        "temozolomide (concomitant or adjuvant).",
        exclusions="Left out: no diagnosis date (the age at diagnosis is then unknown too).",
        source=FULL_TREATMENT_STUDY,
        version=1,
        units=_full_treatment_units(over_70=over_70, dose_gy=dose),
        met=Q(resected=True, radiotherapy_dose=True, temozolomide=True),
        left_out=(NO_DIAGNOSIS_DATE,),
        targets_note="No target: monitored (the study reports regional variation).",
    )


OURS = "Targets are the consortium's own (no national target exists)."

# A notified case and a register episode are the same tumour when the person is the same and
# the diagnosis dates lie within 90 days (the Cancer Registry's date comes from the first
# notification, pathology or hospital, which may precede or follow the clinical one).
MATCH_DAYS = 90


def matching_episodes() -> QuerySet[TumourEpisode]:
    return TumourEpisode.objects.filter(
        patient__national_id=OuterRef("national_id"),
        diagnosis_date__gte=OuterRef("diagnosis_date") - timedelta(days=MATCH_DAYS),
        diagnosis_date__lte=OuterRef("diagnosis_date") + timedelta(days=MATCH_DAYS),
    )


def _notified_units(as_of: date) -> QuerySet:
    """The Cancer Registry's notified cases, at the notified hospital in the notified year;
    the diagnosis is the matched episode's, when there is one."""
    return NotifiedCase.objects.annotate(
        unit_year=F("year"),
        unit_institution=F("institution_id"),
        unit_diagnosis=Coalesce(
            Subquery(matching_episodes().order_by("diagnosis_date").values("diagnosis")[:1]),
            Value(""),
        ),
        reported_complete=Exists(matching_episodes().filter(status=TumourEpisode.Status.COMPLETE)),
    )


CATALOGUE: dict[str, Indicator] = {
    i.code: i
    for i in [
        Indicator(
            code="coverage",
            title="Reports submitted as complete",
            unit="tumour episode",
            attribution=BY_DIAGNOSIS,
            denominator="Tumour episodes diagnosed in the year.",
            numerator="The report is submitted as complete.",
            exclusions="Left out: no diagnosis date.",
            source=KREFTREGISTERET_COVERAGE,
            version=1,
            units=_coverage_units,
            met=Q(status=TumourEpisode.Status.COMPLETE),
            left_out=(NO_DIAGNOSIS_DATE,),
            target_moderate=0.60,
            target_high=0.80,
        ),
        Indicator(
            code="coverage_notified",
            title="Cases known to the Cancer Registry with a complete report",
            unit="notified case",
            attribution="Year of the notified diagnosis, the notified hospital",
            denominator="The Cancer Registry's notified cases of the year (pathology and "
            "hospital notifications), as imported.",
            numerator=f"A register episode of the same person diagnosed within {MATCH_DAYS} days "
            "of the notified date, submitted as complete.",
            exclusions="None: every notified case counts (those never reported are on the "
            "hospital's worklist as not yet reported).",
            source=KREFTREGISTERET_COVERAGE,
            version=1,
            units=_notified_units,
            met=Q(reported_complete=True),
            target_moderate=0.60,
            target_high=0.80,
        ),
        _survival(
            "gbm_survival_1y",
            "Glioblastoma: alive one year after the first surgery",
            365,
            glioblastoma=True,
            source=f"DNOR indicator Ia (standard 50 %). {DNOR_SPEC}",
            target_high=0.50,
            targets_note="DNOR's standard is one level; it is drawn as the high level.",
        ),
        _survival(
            "gbm_survival_2y",
            "Glioblastoma: alive two years after the first surgery",
            730,
            glioblastoma=True,
            source=f"DNOR indicator Ib (standard 15 %). {DNOR_SPEC}",
            target_high=0.15,
            targets_note="DNOR's standard is one level; it is drawn as the high level.",
        ),
        _survival(
            "survival_30d",
            "Alive 30 days after the first surgery",
            30,
            glioblastoma=False,
            source=f"DNOR indicator V. {DNOR_SPEC}",
            targets_note="No target: monitored.",
        ),
        Indicator(
            code="postop_mri_72h",
            title="Postoperative MRI within 72 hours of a resection",
            unit="resection",
            attribution="Year of the resection, its operating hospital",
            denominator="Resections (not biopsies) in the year, reoperations included.",
            numerator="A postoperative MRI at most 72 real elapsed hours after the end of "
            "surgery (date and end time, Oslo time). A resection without an MRI is not met.",
            exclusions="Left out: an MRI recorded but no end time of surgery; an MRI before "
            "the end of surgery (old data).",
            source=MRI_GUIDELINE,
            version=1,
            units=lambda as_of: (
                Surgery.objects.filter(procedure=Surgery.Procedure.RESECTION)
                .annotate(
                    unit_year=ExtractYear("surgery_date"),
                    unit_institution=Coalesce(
                        "operating_institution_id",
                        "episode__institution_id",
                        output_field=BigIntegerField(),
                    ),
                    unit_diagnosis=F("episode__diagnosis"),
                    ended=EndOfSurgery("surgery_date", "surgery_end_time"),
                )
                .annotate(mri_deadline=HoursLater("ended", 72))
            ),
            met=Q(postoperative_mri_at__lte=F("mri_deadline")),
            left_out=(
                LeftOut(
                    "no_end_time",
                    "MRI recorded, but no end time of surgery",
                    Q(postoperative_mri_at__isnull=False, surgery_end_time__isnull=True),
                ),
                LeftOut(
                    "mri_before_surgery",
                    "MRI before the end of surgery (old data; cannot be entered now)",
                    Q(postoperative_mri_at__lt=F("ended")),
                ),
            ),
            target_high=0.90,
            targets_note="DNOR's standard is one level; it is drawn as the high level.",
        ),
        Indicator(
            code="lead_time_treatment",
            title="First treatment within the cancer pathway's norm from referral",
            unit="tumour episode",
            attribution=BY_DIAGNOSIS,
            denominator="Tumour episodes diagnosed in the year with a referral date and a first "
            "treatment (the earliest resection, radiotherapy start or systemic therapy start; a "
            "biopsy is diagnostic, not treatment).",
            numerator="First treatment at most 21 days after referral when it is a resection, "
            "at most 28 days otherwise. A resection on the same day as another first "
            "treatment makes it a resection (21 days).",
            exclusions="Left out: no diagnosis date; no referral date; no treatment recorded "
            "yet; first treatment before the referral (old data).",
            source=PAKKEFORLOP,
            version=1,
            units=_lead_time_units,
            met=Q(lead_days__lte=F("lead_norm")),
            left_out=(
                NO_DIAGNOSIS_DATE,
                LeftOut("no_referral_date", "No referral date", Q(referral_date__isnull=True)),
                LeftOut(
                    "no_treatment", "No treatment recorded yet", Q(first_treatment__isnull=True)
                ),
                LeftOut(
                    "treatment_before_referral",
                    "First treatment before the referral (old data)",
                    Q(lead_days__lt=0),
                ),
            ),
            target_high=0.70,
            targets_note="The national goal for cancer pathways is one level; drawn as high.",
        ),
        Indicator(
            code="molecular_idh",
            title="Adult-type diffuse glioma: IDH status known",
            unit="tumour episode",
            attribution=BY_DIAGNOSIS,
            denominator="Adult-type diffuse gliomas (astrocytoma IDH-mutant, oligodendroglioma, "
            "glioblastoma IDH-wildtype) diagnosed in the year.",
            numerator="An IDH1/2 result (mutant or wildtype; inconclusive or not tested does not "
            "count).",
            exclusions="Left out: no diagnosis date.",
            source=MOLECULAR_GUIDELINE,
            version=1,
            units=_marker_units("idh", diagnosis__in=ADULT_DIFFUSE_GLIOMAS),
            met=Q(marker_known=True),
            left_out=(NO_DIAGNOSIS_DATE,),
            target_moderate=0.90,
            target_high=0.98,
            targets_note=OURS,
        ),
        Indicator(
            code="molecular_mgmt",
            title="Glioblastoma: MGMT promoter status known",
            unit="tumour episode",
            attribution=BY_DIAGNOSIS,
            denominator="Glioblastoma, IDH-wildtype episodes diagnosed in the year.",
            numerator="An MGMT promoter methylation result (methylated or unmethylated).",
            exclusions="Left out: no diagnosis date.",
            source=MOLECULAR_GUIDELINE,
            version=1,
            units=_marker_units("mgmt", diagnosis=GLIOBLASTOMA),
            met=Q(marker_known=True),
            left_out=(NO_DIAGNOSIS_DATE,),
            target_moderate=0.80,
            target_high=0.95,
            targets_note=OURS,
        ),
        Indicator(
            code="molecular_1p19q",
            title="IDH-mutant glioma: 1p/19q status known",
            unit="tumour episode",
            attribution=BY_DIAGNOSIS,
            denominator="Astrocytomas IDH-mutant and oligodendrogliomas diagnosed in the year.",
            numerator="A 1p/19q codeletion result (codeleted or not).",
            exclusions="Left out: no diagnosis date.",
            source=MOLECULAR_GUIDELINE,
            version=1,
            units=_marker_units("codeletion_1p19q", diagnosis__in=[ASTROCYTOMA, OLIGODENDROGLIOMA]),
            met=Q(marker_known=True),
            left_out=(NO_DIAGNOSIS_DATE,),
            target_moderate=0.80,
            target_high=0.95,
            targets_note=OURS,
        ),
        Indicator(
            code="molecular_cdkn2ab",
            title="IDH-mutant astrocytoma, grade 2-3: CDKN2A/B tested",
            unit="tumour episode",
            attribution=BY_DIAGNOSIS,
            denominator="Astrocytomas IDH-mutant of CNS WHO grade 2 or 3 diagnosed in the year "
            "(a homozygous CDKN2A/B deletion makes one grade 4, whatever the histology).",
            numerator="A CDKN2A/B homozygous deletion result (deleted or not).",
            exclusions="Left out: no diagnosis date. Grade 4 and ungraded ones are not in the "
            "population.",
            source=MOLECULAR_GUIDELINE,
            version=1,
            units=_marker_units("cdkn2ab", diagnosis=ASTROCYTOMA, who_grade__in=[2, 3]),
            met=Q(marker_known=True),
            left_out=(NO_DIAGNOSIS_DATE,),
            target_moderate=0.80,
            target_high=0.95,
            targets_note=OURS,
        ),
        Indicator(
            code="mdt_before_treatment",
            title="MDT meeting on or before the first treatment",
            unit="tumour episode",
            attribution=BY_DIAGNOSIS,
            denominator="Tumour episodes diagnosed in the year with a first treatment (the "
            "earliest resection, radiotherapy start or systemic therapy start).",
            numerator="An MDT meeting date on or before the first treatment's date.",
            exclusions="Left out: no diagnosis date; no treatment recorded yet.",
            source=MDT_GUIDELINE,
            version=1,
            units=_mdt_units,
            met=Q(first_mdt__lte=F("first_treatment")),
            left_out=(
                NO_DIAGNOSIS_DATE,
                LeftOut(
                    "no_treatment", "No treatment recorded yet", Q(first_treatment__isnull=True)
                ),
            ),
            targets_note="No target: monitored.",
        ),
        Indicator(
            code="trial_offered",
            title="Trial inclusion offered",
            unit="tumour episode",
            attribution=BY_DIAGNOSIS,
            denominator="Tumour episodes diagnosed in the year whose report answers whether "
            "trial inclusion was offered.",
            numerator="Trial inclusion was offered (yes).",
            exclusions="Left out: no diagnosis date; the question not answered; answered "
            "'unknown'.",
            source=TRIAL_SOURCE,
            version=1,
            units=_trial_units,
            met=Q(trial_offered="yes"),
            left_out=(
                NO_DIAGNOSIS_DATE,
                LeftOut("not_answered", "The question is not answered", Q(trial_offered="")),
                LeftOut("answered_unknown", "Answered 'unknown'", Q(trial_offered="unknown")),
            ),
            targets_note="No target: a candidate indicator, monitored.",
        ),
        _full_treatment("gbm_full_treatment", over_70=False),
        _full_treatment("gbm_full_treatment_over70", over_70=True),
    ]
}


# --- Counting ---------------------------------------------------------------------------------


def reason_column(indicator: Indicator) -> Case | Value:
    """The first reason a unit is left out, or "" (in the denominator)."""
    if not indicator.left_out:
        return Value("", output_field=CharField())
    return Case(
        *[When(reason.condition, then=Value(reason.code)) for reason in indicator.left_out],
        default=Value(""),
        output_field=CharField(),
    )


def counting_query(indicator: Indicator, as_of: date) -> QuerySet:
    """ONE aggregate query: per year, hospital, diagnosis and reason left out, how many
    units and how many of them met the indicator."""
    return (
        indicator.units(as_of)
        .annotate(left_out_reason=reason_column(indicator), met_flag=flag(indicator.met))
        .order_by()
        .values("unit_year", "unit_institution", "unit_diagnosis", "left_out_reason")
        .annotate(units=Count("pk"), met=Count("pk", filter=Q(met_flag=True)))
    )


def units_not_met(indicator: Indicator, as_of: date) -> QuerySet:
    """The units in the denominator that did not meet the indicator (for the clinicians'
    list of their own patients); the same query as the counts, unaggregated."""
    return (
        indicator.units(as_of)
        .annotate(left_out_reason=reason_column(indicator), met_flag=flag(indicator.met))
        .filter(left_out_reason="", met_flag=False)
    )


@dataclass
class Counts:
    numerator: int = 0
    denominator: int = 0
    left_out: dict = field(default_factory=dict)

    def add(self, *, units: int, met: int, reason: str) -> None:
        if reason:
            self.left_out[reason] = self.left_out.get(reason, 0) + units
        else:
            self.denominator += units
            self.numerator += met


# (indicator, year, institution id or None, region or "", diagnosis group or "") -> Counts
CellKey = tuple[str, int, int | None, str, str]


def compute_all(
    as_of: date, regions: dict[int, str], progress: Callable[[int, int, str], None] | None = None
) -> dict[CellKey, Counts]:
    """Every indicator for every year, hospital, health region and the nation, for every
    diagnosis group and all together. `regions` maps hospital id -> health region;
    `progress(done, of, title)` is told before each indicator is counted."""
    cells: dict[CellKey, Counts] = defaultdict(Counts)
    for number, (code, indicator) in enumerate(CATALOGUE.items()):
        if progress is not None:
            progress(number, len(CATALOGUE), indicator.title)
        for row in counting_query(indicator, as_of):
            year, institution = row["unit_year"], row["unit_institution"]
            group = diagnosis_group(row["unit_diagnosis"])
            region = regions.get(institution, "")
            places = [(institution, ""), (None, "")]
            if region:
                places.append((None, region))
            for place in places:
                for g in (group, ""):
                    cells[(code, year, *place, g)].add(
                        units=row["units"], met=row["met"], reason=row["left_out_reason"]
                    )
    return cells


# --- Reading a cell ----------------------------------------------------------------------------

Z_95 = 1.959963984540054


def wilson_interval(numerator: int, denominator: int) -> tuple[float, float] | tuple[None, None]:
    """The 95 % Wilson score interval (Wilson, JASA 1927;22:209; recommended over the Wald
    interval by Brown, Cai & DasGupta, Stat Sci 2001;16:101):
    (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n).
    Closed form rather than scipy.stats.binomtest(...).proportion_ci(method="wilson"), which
    gives the same numbers (tested) but costs a millisecond a cell on a page of hundreds."""
    if not denominator:
        return None, None
    n, p, z2 = denominator, numerator / denominator, Z_95 * Z_95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z_95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def attainment(indicator: Indicator, value: float | None) -> str | None:
    """'high', 'moderate' or 'low' goal attainment; None without a target or a value."""
    if value is None or indicator.target_high is None:
        return None
    if value >= indicator.target_high:
        return "high"
    if indicator.target_moderate is not None and value >= indicator.target_moderate:
        return "moderate"
    return "low"


def funnel_limits(national: float, denominator: int, z: float) -> tuple[float, float]:
    """Control limits of a funnel plot around the national proportion for a hospital of
    `denominator` units: p ± z·sqrt(p(1-p)/n), clipped to [0, 1] (Spiegelhalter, Funnel
    plots for comparing institutional performance, Stat Med 2005;24:1185)."""
    half = z * math.sqrt(national * (1 - national) / denominator)
    return max(0.0, national - half), min(1.0, national + half)
