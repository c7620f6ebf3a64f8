"""Hand-built register patients and trials for the trials tests (ORM rows, so each test
states exactly the facts it matches on), plus Facts for the pure criterion tests."""

import itertools
from datetime import date

from django.utils import timezone

from consortium.models import Institution
from registry.models import (
    FollowUp,
    MolecularMarker,
    Patient,
    PatientInstitution,
    PerformanceStatus,
    RadiotherapyCourse,
    Surgery,
    SystemicTherapy,
    TumourEpisode,
)
from trials import criteria
from trials.models import Trial, TrialSite

_numbers = itertools.count(1)
GBM = "glioblastoma_idh_wildtype"
ASTRO = "astrocytoma_idh_mutant"


def today() -> date:
    return timezone.localdate()


def facts(**overrides) -> criteria.Facts:
    values = dict(
        episode_id=1,
        patient_id=1,
        diagnosis=GBM,
        who_grade=4,
        birth_date=date(1970, 5, 17),
        sex="female",
        markers={},
        regimens=set(),
        radiotherapy_ends=[],
        extent="",
        ecog=None,
        karnofsky=None,
        follow_ups=0,
        progressions=0,
    )
    values.update(overrides)
    return criteria.Facts(**values)


def tree(*leaves, by_hand=()) -> dict:
    return {"version": 1, "criteria": {"all": list(leaves)}, "check_by_hand": list(by_hand)}


def patient(
    *,
    birth_date=date(1970, 5, 17),
    sex="female",
    institutions=("OUS",),
    alive=True,
    name="Kari Nordmann",
) -> Patient:
    n = next(_numbers)
    p = Patient.objects.create(
        national_id=f"{n:011d}",
        full_name=name,
        search_name=name.lower(),
        sex=sex,
        birth_date=birth_date,
        vital_status="alive" if alive else "dead",
    )
    for code in institutions:
        PatientInstitution.objects.create(patient=p, institution=Institution.objects.get(code=code))
    return p


def episode(
    p: Patient,
    *,
    diagnosis=GBM,
    grade=4,
    markers=None,
    ecog=None,
    karnofsky=None,
    regimens=(),
    radiotherapy_end="none",
    extent=None,
    follow_ups=(),
    institution="OUS",
) -> TumourEpisode:
    """follow_ups: a list of booleans (progression or not)."""
    e = TumourEpisode.objects.create(
        patient=p,
        institution=Institution.objects.get(code=institution),
        diagnosis=diagnosis,
        who_grade=grade,
        diagnosis_date=date(2025, 1, 10),
    )
    for marker, result in (markers or {}).items():
        MolecularMarker.objects.create(episode=e, marker=marker, result=result)
    if ecog is not None or karnofsky is not None:
        PerformanceStatus.objects.create(
            episode=e, assessed_on=date(2025, 2, 1), ecog=ecog, karnofsky=karnofsky
        )
    for regimen in regimens:
        SystemicTherapy.objects.create(episode=e, regimen=regimen, start_date=date(2025, 3, 1))
    if radiotherapy_end != "none":
        RadiotherapyCourse.objects.create(
            episode=e,
            start_date=date(2025, 2, 1),
            end_date=radiotherapy_end,
            total_dose_gy=60,
            fractions=30,
        )
    if extent is not None:
        Surgery.objects.create(
            episode=e,
            surgery_date=date(2025, 1, 20),
            procedure="resection",
            extent_of_resection=extent,
        )
    for i, progressed in enumerate(follow_ups):
        FollowUp.objects.create(episode=e, assessed_on=date(2025, 6, 1 + i), progression=progressed)
    return e


def trial(
    criteria_tree=None, *, status="RECRUITING", nct=None, norwegian=False, title=None, encoded=True
) -> Trial:
    n = next(_numbers)
    t = Trial.objects.create(
        nct_id=nct or f"NCT9{n:07d}",
        brief_title=title or f"Trial {n}",
        overall_status=status,
        criteria=criteria_tree,
        has_norwegian_site=norwegian,
        has_nordic_site=norwegian,
        criteria_encoded_at=timezone.now() if encoded and criteria_tree else None,
        diagnoses=criteria.diagnoses(criteria_tree) if criteria_tree else [],
    )
    if norwegian:
        TrialSite.objects.create(
            trial=t,
            facility="Oslo universitetssykehus",
            city="Oslo",
            country="Norway",
            status="RECRUITING",
            is_norwegian=True,
        )
    return t


RECURRENT_GBM = tree(
    {"type": "diagnosis", "codes": [GBM]},
    {"type": "marker", "marker": "mgmt", "result": "altered"},
    {"type": "setting", "setting": "recurrent", "min_progressions": 1, "max_progressions": 1},
    {"type": "performance", "scale": "ecog", "max": 1},
    {"not": {"type": "prior_treatment", "regimen": "bevacizumab"}},
    {"type": "age", "min_years": 18, "max_years": None},
    by_hand=["Adequate bone marrow function"],
)
