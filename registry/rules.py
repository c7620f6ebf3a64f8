"""The register's entry rules: errors block a save and name the field and the rule;
warnings are shown and saved once acknowledged; `missing_items` says what a complete
report still lacks. Each rule cites its source in docs/registry-rules.md.

Rules take the values being saved plus what is already stored, so the same checks
serve the browser forms, the API and the submit-as-complete check."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.text import capfirst

from consortium import formats

from . import vocabulary
from .models import MarkerResult, Patient, Surgery, TumourEpisode


@dataclass(frozen=True)
class EntryWarning:
    """A warning at data entry: shown, and saved once the member acknowledges its code."""

    code: str
    message: str


class Errors:
    """Collects field errors; raise() throws one ValidationError with all of them."""

    def __init__(self):
        self.by_field: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.by_field.setdefault(field, []).append(message)

    def raise_any(self) -> None:
        if self.by_field:
            raise ValidationError(self.by_field)


# What a member may change on a patient and on a diagnosis (the forms, the API and the
# services read these lists, so a field is added in one place).
PATIENT_FIELDS = [
    "full_name",
    "sex",
    "birth_date",
    "health_region",
    "vital_status",
    "date_of_death",
]
EPISODE_FIELDS = [
    "referral_date",
    "diagnosis_date",
    "basis",
    "diagnosis",
    "who_grade",
    "topography",
    "laterality",
    "mdt_dates",
    "trial_offered",
    "trial_accepted",
]

CARE_DECLARATION_REQUIRED = (
    "Declare that you treat this patient and say why (for example: referred to our "
    "hospital for surgery). The declaration is kept and shown to the patient's other "
    "institutions."
)


def _fmt(day) -> str:
    return day.strftime("%d.%m.%Y")


def check_dates(errors: Errors, patient: Patient, dates: dict, *, not_before=None) -> None:
    """Dates in order: nothing before birth or after death, nothing in the
    future, and nothing before `not_before` (e.g. the date of diagnosis) when given."""
    today = timezone.localdate()
    for field, (label, day) in dates.items():
        if day is None:
            continue
        if day > today:
            errors.add(field, f"{label} ({_fmt(day)}) is in the future.")
        if patient.birth_date and day < patient.birth_date:
            errors.add(
                field,
                f"{label} ({_fmt(day)}) is before the birth date ({_fmt(patient.birth_date)}).",
            )
        if patient.date_of_death and day > patient.date_of_death:
            errors.add(
                field,
                f"{label} ({_fmt(day)}) is after the date of death "
                f"({_fmt(patient.date_of_death)}).",
            )
        if not_before and not_before[1] and day < not_before[1]:
            errors.add(
                field,
                f"{label} ({_fmt(day)}) is before the {not_before[0]} ({_fmt(not_before[1])}).",
            )


# --- Patient ----------------------------------------------------------------------


def check_patient(patient: Patient, *, recorded_dates: list[tuple[str, date]]) -> None:
    errors = Errors()
    today = timezone.localdate()
    if patient.birth_date and patient.birth_date > today:
        errors.add("birth_date", "The birth date is in the future.")
    if patient.vital_status == Patient.VitalStatus.DEAD and not patient.date_of_death:
        errors.add("date_of_death", "A patient recorded as dead needs a date of death.")
    if patient.vital_status == Patient.VitalStatus.ALIVE and patient.date_of_death:
        errors.add("vital_status", "A date of death is given: set the vital status to dead.")
    if patient.date_of_death:
        if patient.date_of_death > today:
            errors.add("date_of_death", "The date of death is in the future.")
        if patient.birth_date and patient.date_of_death < patient.birth_date:
            errors.add("date_of_death", "The date of death is before the birth date.")
        # Nothing after death: a death date before a recorded event is a contradiction.
        later = [
            (label, day) for label, day in recorded_dates if day and day > patient.date_of_death
        ]
        if later:
            label, day = max(later, key=lambda item: item[1])
            errors.add(
                "date_of_death", f"The date of death is before the recorded {label} ({_fmt(day)})."
            )
    if patient.birth_date:
        early = [(label, day) for label, day in recorded_dates if day and day < patient.birth_date]
        if early:
            label, day = min(early, key=lambda item: item[1])
            errors.add("birth_date", f"The birth date is after the recorded {label} ({_fmt(day)}).")
    errors.raise_any()


# --- Episode: diagnosis and markers ----------------------------------------------


def _marker_contradictions(diagnosis: str, markers: dict[str, str]) -> list[str]:
    """Integrated diagnoses that contradict recorded marker results (WHO CNS5,
    docs/registry-rules.md §1: the adult-type diffuse gliomas are defined by IDH and 1p/19q)."""
    problems = []
    idh, codel = markers.get("idh"), markers.get("codeletion_1p19q")
    if diagnosis == vocabulary.OLIGODENDROGLIOMA:
        if idh == MarkerResult.WILDTYPE:
            problems.append(
                "Oligodendroglioma requires an IDH mutation; IDH is recorded as wildtype."
            )
        if codel == MarkerResult.WILDTYPE:
            problems.append(
                "Oligodendroglioma requires 1p/19q codeletion; it is recorded as not codeleted."
            )
    if diagnosis == vocabulary.GLIOBLASTOMA_IDH_WILDTYPE and idh == MarkerResult.ALTERED:
        problems.append(
            "Glioblastoma, IDH-wildtype cannot have an IDH mutation: with IDH mutated "
            "it is an astrocytoma, IDH-mutant."
        )
    if diagnosis == vocabulary.ASTROCYTOMA_IDH_MUTANT and idh == MarkerResult.WILDTYPE:
        problems.append(
            "Astrocytoma, IDH-mutant requires an IDH mutation; IDH is recorded as wildtype."
        )
    return problems


def check_episode(
    episode: TumourEpisode,
    patient: Patient,
    markers: dict[str, str],
    *,
    first_treatment_date: date | None,
    first_treatment_kind: str | None = None,
) -> list[EntryWarning]:
    errors = Errors()
    check_dates(
        errors,
        patient,
        {
            "referral_date": ("Referral date", episode.referral_date),
            "diagnosis_date": ("Date of diagnosis", episode.diagnosis_date),
        },
    )
    if (
        first_treatment_date
        and episode.diagnosis_date
        and episode.diagnosis_date > first_treatment_date
    ):
        errors.add(
            "diagnosis_date",
            f"The date of diagnosis is after the first surgery or treatment "
            f"({_fmt(first_treatment_date)}).",
        )
    for day in episode.mdt_dates:
        check_dates(errors, patient, {"mdt_dates": ("MDT meeting date", day)})
    tumour_type = episode.tumour_type
    if (
        tumour_type
        and episode.who_grade is not None
        and episode.who_grade not in tumour_type.grades
    ):
        allowed = ", ".join(map(str, tumour_type.grades)) or "none (this type is not graded)"
        errors.add(
            "who_grade",
            f"CNS WHO grade {episode.who_grade} is not allowed for "
            f"{tumour_type.label}; allowed: {allowed}.",
        )
    if episode.who_grade is not None and not 1 <= episode.who_grade <= 4:
        errors.add("who_grade", "CNS WHO grades are 1 to 4.")
    for problem in _marker_contradictions(episode.diagnosis, markers):
        errors.add("diagnosis", problem)
    if episode.trial_accepted == "yes" and episode.trial_offered != "yes":
        errors.add("trial_accepted", "Trial inclusion can be accepted only when it was offered.")
    errors.raise_any()
    return diagnosis_warnings(episode, markers) + lead_time_warnings(
        episode, first_treatment_date, first_treatment_kind
    )


def check_markers(episode: TumourEpisode, markers: dict[str, str]) -> list[EntryWarning]:
    errors = Errors()
    for problem in _marker_contradictions(episode.diagnosis, markers):
        field = "codeletion_1p19q" if "1p/19q" in problem else "idh"
        errors.add(field, problem)
    errors.raise_any()
    return diagnosis_warnings(episode, markers)


def diagnosis_warnings(episode: TumourEpisode, markers: dict[str, str]) -> list[EntryWarning]:
    # An IDH-mutant astrocytoma with homozygous CDKN2A/B deletion is CNS WHO grade 4
    # regardless of histology (docs/registry-rules.md §2, molecular workup; §1 table).
    if (
        episode.diagnosis == vocabulary.ASTROCYTOMA_IDH_MUTANT
        and episode.who_grade in (2, 3)
        and markers.get("cdkn2ab") == MarkerResult.ALTERED
    ):
        return [
            EntryWarning(
                "cdkn2ab_grade",
                f"Astrocytoma, IDH-mutant graded {episode.who_grade} with "
                "homozygous CDKN2A/B deletion: WHO CNS5 makes it CNS WHO grade 4.",
            )
        ]
    return []


# Pakkeforløp for hjernekreft: referral received -> start of surgery 21 days, of drug
# therapy or radiotherapy 28 calendar days (docs/registry-rules.md §2, forløpstider).
LEAD_TIME_NORM_DAYS = {"surgery": 21, "radiotherapy": 28, "systemic": 28}


def lead_time_warnings(
    episode: TumourEpisode, first_treatment: date | None, kind: str | None = None
) -> list[EntryWarning]:
    if not (episode.referral_date and first_treatment):
        return []
    norm = LEAD_TIME_NORM_DAYS.get(kind or "surgery")
    days = (first_treatment - episode.referral_date).days
    if days > norm:
        return [
            EntryWarning(
                "lead_time",
                f"{days} days from referral to the first treatment: the cancer "
                f"pathway's norm is {norm} days (pakkeforløp for hjernekreft).",
            )
        ]
    return []


# --- Treatment sections ------------------------------------------------------------

# Norwegian guideline dose and fractionation for diffuse gliomas (docs/registry-rules.md §2,
# Helsedirektoratet appendix 2): (min Gy, max Gy, min fractions, max fractions).
STANDARD_SCHEDULES = {
    4: [(60, 60, 30, 30)],
    3: [(59.4, 59.4, 33, 33)],
    2: [(50.4, 54, 28, 30)],
}
# Age over 70 and/or ECOG 3-4: 40 Gy/15, 30-39 Gy/10-13, 34 Gy/10, 25 Gy/5.
HYPOFRACTIONATED_SCHEDULES = [(40, 40, 15, 15), (30, 39, 10, 13), (34, 34, 10, 10), (25, 25, 5, 5)]
GUIDELINE_DIAGNOSES = {
    vocabulary.ASTROCYTOMA_IDH_MUTANT,
    vocabulary.OLIGODENDROGLIOMA,
    vocabulary.GLIOBLASTOMA_IDH_WILDTYPE,
}


def _fits(schedules, dose: Decimal, fractions: int) -> bool:
    return any(
        lo - 0.05 <= float(dose) <= hi + 0.05 and fmin <= fractions <= fmax
        for lo, hi, fmin, fmax in schedules
    )


def radiotherapy_guideline_warning(
    episode, patient, course, latest_ecog: int | None
) -> list[EntryWarning]:
    if episode.diagnosis not in GUIDELINE_DIAGNOSES or episode.who_grade not in STANDARD_SCHEDULES:
        return []
    age = patient.age_on(course.start_date)
    standard = STANDARD_SCHEDULES[episode.who_grade]
    frail = latest_ecog is not None and latest_ecog >= 3
    if age < 70 and not frail:
        allowed, group = standard, "under 70 with ECOG 0-2"
    elif age > 70 or frail:
        allowed, group = HYPOFRACTIONATED_SCHEDULES, "over 70 and/or ECOG 3-4"
    else:  # exactly 70: the guideline's two groups meet, both schedules are in line
        allowed, group = standard + HYPOFRACTIONATED_SCHEDULES, "aged 70"
    if _fits(allowed, course.total_dose_gy, course.fractions):
        return []

    def dose(gy) -> str:  # the guideline's schedules in Norwegian style ("59,4 Gy/33#")
        return formats.amount(gy, "total_dose").removesuffix(",0")

    expected = ", ".join(
        f"{dose(lo)}{'' if lo == hi else f'–{dose(hi)}'}{formats.UNIT_SPACE}Gy/"
        f"{fmin}{'' if fmin == fmax else f'–{fmax}'}#"
        for lo, hi, fmin, fmax in allowed
    )
    return [
        EntryWarning(
            "rt_dose_guideline",
            f"{formats.quantity(course.total_dose_gy, 'total_dose')} in {course.fractions} "
            "fractions is outside the national "
            f"guideline for {episode.get_diagnosis_display()}, CNS WHO grade {episode.who_grade}, "
            f"{group} ({expected}).",
        )
    ]


def check_surgery(surgery: Surgery, episode: TumourEpisode, patient: Patient) -> list[EntryWarning]:
    errors = Errors()
    check_dates(
        errors,
        patient,
        {"surgery_date": ("Surgery date", surgery.surgery_date)},
        not_before=("date of diagnosis", episode.diagnosis_date),
    )
    warnings = []
    if surgery.postoperative_mri_at:
        mri_day = timezone.localtime(surgery.postoperative_mri_at).date()
        check_dates(errors, patient, {"postoperative_mri_at": ("Postoperative MRI", mri_day)})
        hours = surgery.mri_hours_after_surgery
        if hours is not None and hours < 0:
            errors.add(
                "postoperative_mri_at", "The postoperative MRI is before the end of surgery."
            )
        elif hours is not None and hours > 72:
            # Helsedirektoratet: postoperative MRI within 72 h (docs/registry-rules.md §2; DNOR
            # indicator II).
            warnings.append(
                EntryWarning(
                    "mri_after_72h",
                    f"Postoperative MRI {formats.quantity(hours, 'hours')} after surgery: "
                    "the national guideline says within 72 hours.",
                )
            )
    if surgery.procedure != Surgery.Procedure.RESECTION and surgery.extent_of_resection not in (
        "",
        Surgery.ExtentOfResection.BIOPSY_ONLY,
        Surgery.ExtentOfResection.UNKNOWN,
    ):
        errors.add("extent_of_resection", "A biopsy has extent of resection 'biopsy only'.")
    if surgery.complications and surgery.complications_within_30_days != "yes":
        errors.add("complications_within_30_days", "Complications are described: answer yes.")
    errors.raise_any()
    return warnings


def check_radiotherapy(course, episode, patient, latest_ecog) -> list[EntryWarning]:
    errors = Errors()
    check_dates(
        errors,
        patient,
        {
            "start_date": ("Radiotherapy start", course.start_date),
            "end_date": ("Radiotherapy end", course.end_date),
        },
        not_before=("date of diagnosis", episode.diagnosis_date),
    )
    if course.end_date and course.start_date and course.end_date < course.start_date:
        errors.add("end_date", "The course ends before it starts.")
    # Plausible ranges: no cranial course exceeds 80 Gy or 60 fractions, and no fraction
    # exceeds the 25 Gy of single-fraction radiosurgery.
    if course.total_dose_gy is not None and not (0 < course.total_dose_gy <= 80):
        errors.add("total_dose_gy", "The total dose must be more than 0 and at most 80 Gy.")
    if course.fractions is not None and not (1 <= course.fractions <= 60):
        errors.add("fractions", "The number of fractions must be 1 to 60.")
    if (
        course.total_dose_gy
        and course.fractions
        and 0 < course.total_dose_gy <= 80
        and course.total_dose_gy / course.fractions > 25
    ):
        errors.add(
            "fractions",
            f"{formats.quantity(course.total_dose_gy / course.fractions, 'dose_per_fraction')}"
            " per fraction is impossible (more than 25 Gy).",
        )
    errors.raise_any()
    return radiotherapy_guideline_warning(episode, patient, course, latest_ecog)


def ecog_before(episode: TumourEpisode, day) -> int | None:
    """The ECOG the guideline's choice of schedule rests on: the last one assessed on or
    before `day` (the course's start), not a later one at progression."""
    statuses = [
        p
        for p in episode.performance.all()
        if p.ecog is not None and (day is None or p.assessed_on <= day)
    ]
    return max(statuses, key=lambda p: p.assessed_on).ecog if statuses else None


def check_radiotherapy_course(course, episode, patient) -> list[EntryWarning]:
    """check_radiotherapy with the ECOG stored before the course starts."""
    return check_radiotherapy(course, episode, patient, ecog_before(episode, course.start_date))


def check_systemic(therapy, episode, patient) -> list[EntryWarning]:
    errors = Errors()
    check_dates(
        errors,
        patient,
        {
            "start_date": ("Start date", therapy.start_date),
            "stop_date": ("Stop date", therapy.stop_date),
        },
        not_before=("date of diagnosis", episode.diagnosis_date),
    )
    if therapy.stop_date and therapy.start_date and therapy.stop_date < therapy.start_date:
        errors.add("stop_date", "The therapy stops before it starts.")
    if therapy.regimen == "other" and not therapy.regimen_other.strip():
        errors.add("regimen_other", "Name the regimen when it is 'Other'.")
    if therapy.cycles is not None and therapy.cycles > 60:
        errors.add("cycles", "More than 60 cycles is not plausible.")
    if therapy.stop_reason and not therapy.stop_date:
        errors.add("stop_date", "A reason for stopping needs the stop date.")
    errors.raise_any()
    return []


def check_performance(status, episode, patient) -> list[EntryWarning]:
    errors = Errors()
    check_dates(errors, patient, {"assessed_on": ("Assessment date", status.assessed_on)})
    if status.ecog is None and status.karnofsky is None:
        errors.add("ecog", "Give ECOG, Karnofsky or both.")
    if status.ecog is not None and not 0 <= status.ecog <= 5:
        errors.add("ecog", "ECOG is 0 to 5.")
    if status.karnofsky is not None and (not 0 <= status.karnofsky <= 100 or status.karnofsky % 10):
        errors.add("karnofsky", "Karnofsky is 0 to 100 in steps of 10.")
    errors.raise_any()
    return []


def check_follow_up(follow_up, episode, patient) -> list[EntryWarning]:
    errors = Errors()
    check_dates(
        errors,
        patient,
        {
            "assessed_on": ("Follow-up date", follow_up.assessed_on),
            "progression_date": ("Progression date", follow_up.progression_date),
        },
        not_before=("date of diagnosis", episode.diagnosis_date),
    )
    if (
        follow_up.progression_date
        and follow_up.assessed_on
        and follow_up.progression_date > follow_up.assessed_on
    ):
        errors.add("progression_date", "The progression date is after the assessment.")
    if follow_up.progression_date and not follow_up.progression:
        errors.add("progression", "A progression date is given: tick progression.")
    if follow_up.rano_response == "PD" and not follow_up.progression:
        errors.add(
            "progression", "RANO progressive disease (PD) is a progression: tick progression."
        )
    errors.raise_any()
    return []


def first_of(treatments, *, replacing=None, candidate=None):
    """The earliest dated of `treatments`, (kind, date, row) each, with `candidate` in
    place of the stored row `replacing` (so a save is checked against what it will become)."""
    rows = [
        (kind, day, row)
        for kind, day, row in treatments
        if not (replacing is not None and type(row) is type(replacing) and row.pk == replacing.pk)
    ]
    if candidate is not None:
        rows.append(candidate)
    rows = [r for r in rows if r[1]]
    return min(rows, key=lambda r: r[1]) if rows else None


# --- Completeness -------------------------------------------------------------------


def missing_items(episode: TumourEpisode) -> list[str]:
    """What a complete report still lacks. Uses prefetched markers, surgeries and
    performance statuses (selectors prefetch them) so a worklist page stays constant."""
    missing = []
    for field in ("diagnosis_date", "basis", "diagnosis", "topography", "laterality"):
        if not getattr(episode, field):
            missing.append(capfirst(TumourEpisode._meta.get_field(field).verbose_name))
    tumour_type = episode.tumour_type
    if tumour_type and tumour_type.grades and episode.who_grade is None:
        missing.append("CNS WHO grade")
    if not episode.mdt_dates:
        missing.append("MDT meeting date")
    markers = {m.marker: m.result for m in episode.markers.all()}
    if tumour_type:
        for marker in tumour_type.required_markers:
            if marker not in markers:
                missing.append(f"Marker: {vocabulary.MARKERS[marker]}")
        if episode.diagnosis == vocabulary.OLIGODENDROGLIOMA and not (
            markers.get("idh") == MarkerResult.ALTERED
            and markers.get("codeletion_1p19q") == MarkerResult.ALTERED
        ):
            missing.append("Oligodendroglioma needs IDH mutation and 1p/19q codeletion confirmed")
        # WHO CNS5 (docs/registry-rules.md §1): without the defining result the diagnosis is NOS, so
        # the report is complete only once IDH is confirmed.
        if (
            episode.diagnosis == vocabulary.GLIOBLASTOMA_IDH_WILDTYPE
            and markers.get("idh") != MarkerResult.WILDTYPE
        ):
            missing.append("Glioblastoma, IDH-wildtype needs IDH confirmed wildtype")
        if (
            episode.diagnosis == vocabulary.ASTROCYTOMA_IDH_MUTANT
            and markers.get("idh") != MarkerResult.ALTERED
        ):
            missing.append("Astrocytoma, IDH-mutant needs the IDH mutation confirmed")
    if episode.basis != TumourEpisode.Basis.RADIOLOGY and not episode.surgeries.all():
        missing.append("Surgery or biopsy")
    if not episode.performance.all():
        missing.append("Performance status")
    if not episode.trial_offered:
        missing.append("Trial inclusion offered")
    elif episode.trial_offered == "yes" and not episode.trial_accepted:
        missing.append("Trial inclusion accepted")
    return missing
