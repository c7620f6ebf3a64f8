"""Hand-built cohorts for the quality-indicator tests. Rows are written straight into the
tables: some cohorts hold old data the entry rules refuse today (a death before the
surgery, an MRI before the end of surgery), and the indicators must count it as it is."""

import itertools
from datetime import date, datetime, time

from django.utils import timezone

from consortium.models import Institution
from registry.models import (
    MolecularMarker,
    Patient,
    PatientInstitution,
    RadiotherapyCourse,
    Surgery,
    SystemicTherapy,
    TumourEpisode,
)
from tests.registry.factories import tenor_id

_names = itertools.count(1)


def hospital(code: str) -> Institution:
    return Institution.objects.get(code=code)


def patient(
    *,
    born: date = date(1970, 5, 17),
    died: date | None = None,
    dead_without_date: bool = False,
    at=("OUS",),
) -> Patient:
    p = Patient.objects.create(
        national_id=tenor_id(born),
        full_name=f"Cohort Patient {next(_names)}",
        search_name="cohort patient",
        sex="female",
        birth_date=born,
        vital_status="dead" if died or dead_without_date else "alive",
        date_of_death=died,
    )
    for code in at:
        PatientInstitution.objects.create(patient=p, institution=hospital(code))
    return p


def episode(
    p: Patient,
    *,
    reporting: str = "OUS",
    diagnosed: date | None = date(2024, 1, 3),
    diagnosis: str = "glioblastoma_idh_wildtype",
    grade: int | None = None,
    **fields,
) -> TumourEpisode:
    grades = {"glioblastoma_idh_wildtype": 4}
    return TumourEpisode.objects.create(
        patient=p,
        institution=hospital(reporting),
        diagnosis_date=diagnosed,
        diagnosis=diagnosis,
        who_grade=grade if grade is not None else grades.get(diagnosis),
        **fields,
    )


def surgery(
    e: TumourEpisode,
    day: date,
    *,
    procedure: str = "resection",
    ended: time | None = time(12, 0),
    mri: datetime | None = None,
    at: str | None = None,
) -> Surgery:
    return Surgery.objects.create(
        episode=e,
        surgery_date=day,
        surgery_end_time=ended,
        procedure=procedure,
        postoperative_mri_at=mri,
        operating_institution=hospital(at) if at else None,
    )


def radiotherapy(e: TumourEpisode, start: date, dose: float = 60, fractions: int = 30):
    return RadiotherapyCourse.objects.create(
        episode=e, start_date=start, total_dose_gy=dose, fractions=fractions
    )


def systemic(e: TumourEpisode, start: date, regimen: str = "tmz_concomitant"):
    return SystemicTherapy.objects.create(episode=e, start_date=start, regimen=regimen)


def marker(e: TumourEpisode, name: str, result: str):
    return MolecularMarker.objects.create(episode=e, marker=name, result=result)


def oslo(day: date, at: time) -> datetime:
    """An Oslo wall-clock time as an aware datetime (zoneinfo handles summer time)."""
    return timezone.make_aware(datetime.combine(day, at))
