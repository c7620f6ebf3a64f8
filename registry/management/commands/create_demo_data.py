"""python manage.py create_demo_data --patients N [--seed S] [--if-empty | --reset]

Realistic synthetic register patients for demos and benchmarks, spread over the five
seeded university hospitals. Everything is made up:
- national IDs are Skatteetaten Tenor test numbers (month + 80, docs/registry-rules.md §4) with
  valid mod-11 control digits, so no real person's number is ever used;
- case mix, ages, markers and treatment follow the Norwegian register and the national
  guideline (docs/registry-rules.md §1-§2), so lists, reports and indicators look real.

Rows are written with bulk_create, one transaction per batch: services.py checks and writes
one row at a time, far too slow for 50,000 patients. The entry rules (rules.py) still run
on every row in memory, so the data passes them, and the warnings they raise are saved as
acknowledged, as a clinician's save would. History triggers still fire; the rows share one
pghistory context {"demo_data": true}, which is how --reset finds them again.

The same --seed gives the same patients on an empty register (dates count back from
today; register numbers are random, like every register number)."""

import math
import random
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock
from decimal import Decimal

import pghistory
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from consortium.models import Institution
from registry import indicator_services, national_id, rules, vocabulary
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
    new_register_number,
)
from registry.sections import SECTIONS, first_treatment, section_warnings
from registry.selectors import normalise_name
from registry.vocabulary import ASTROCYTOMA_IDH_MUTANT as ASTRO
from registry.vocabulary import GLIOBLASTOMA_IDH_WILDTYPE as GBM
from registry.vocabulary import OLIGODENDROGLIOMA as OLIGO

CONTEXT = {"demo_data": True}
YEARS_BACK = 10  # diagnoses spread over the last ten years

# --- People -----------------------------------------------------------------------------

FEMALE_NAMES = (
    "Anne Inger Kari Marit Ingrid Liv Eva Berit Astrid Bjørg Hilde Anna Solveig Marianne "
    "Randi Ida Nina Maria Elisabeth Kristin Bente Heidi Silje Hanne Gerd Linda Tone Elin "
    "Anita Wenche Camilla Ragnhild Turid Mona Nora Emma Sara Ingeborg Sigrid Åse Tove Siri "
    "Thea Julie Malin Kjersti Line Synnøve Guro Aud"
).split()
MALE_NAMES = (
    "Jan Per Bjørn Ole Lars Kjell Knut Arne Svein Thomas Hans Geir Tor Morten Terje Odd "
    "Erik Martin Andreas Rune Trond John Anders Harald Tore Jon Olav Frode Gunnar Nils "
    "Stein Espen Magnus Kristian Jørgen Håkon Einar Leif Øyvind Sindre Henrik Jonas Eirik "
    "Sigurd Petter Vidar Helge Ivar Audun Jostein"
).split()
# The most common Norwegian surnames, most common first (weighted by rank below).
SURNAMES = (
    "Hansen Johansen Olsen Larsen Andersen Pedersen Nilsen Kristiansen Jensen Karlsen "
    "Johnsen Pettersen Eriksen Berg Haugen Hagen Johannessen Andreassen Jacobsen Dahl "
    "Jørgensen Halvorsen Henriksen Lund Sørensen Jakobsen Moen Gundersen Iversen Strand "
    "Solberg Svendsen Eide Knutsen Martinsen Paulsen Bakken Kristoffersen Mathisen Lie "
    "Amundsen Nguyen Rasmussen Ali Lunde Solheim Berge Moe Nygård Bakke Kristensen "
    "Fredriksen Holm Lien Hauge Christensen Andresen Nielsen Knudsen Evensen Sæther Aas "
    "Myhre Hanssen Ahmed Haugland Thomassen Sivertsen Simonsen Danielsen Berntsen Sandvik "
    "Rønning Arnesen Antonsen Næss Vik Haug Ellingsen Thorsen Edvardsen Birkeland Isaksen "
    "Gulbrandsen Ruud Aasen Strøm Myklebust Tangen Ødegård Eliassen Helland Bøe Aune "
    "Mikkelsen Tveit Brekke Abrahamsen Madsen"
).split()
SURNAME_WEIGHTS = [1 / (rank + 8) for rank in range(len(SURNAMES))]

# Where patients live: the hospitals' catchment, roughly by the health regions' population.
HOME_HOSPITALS = {"OUS": 50, "HUS": 15, "STOLAV": 14, "SUS": 10, "UNN": 11}
# Patients operated away from the hospital that reports them (Tromsø and Stavanger patients
# are often operated in Oslo or Bergen): linked to both hospitals, reported by the home
# hospital, the surgery's operating hospital the other; surgical and survival indicators
# count at the operating hospital.
OPERATED_ELSEWHERE = {
    "UNN": ("OUS", 0.30),
    "SUS": ("HUS", 0.35),
    "STOLAV": ("OUS", 0.05),
    "HUS": ("OUS", 0.04),
}
# Each hospital's own practice, so the quality indicators differ between hospitals as in a
# real register (the Norwegian register's coverage was 46.7 % in 2023, far from uniform):
# the share of postoperative MRIs later than 72 h, the median days from referral to
# surgery, and the share of older reports submitted as complete.
LATE_MRI_SHARE = {"OUS": 0.05, "HUS": 0.07, "STOLAV": 0.12, "SUS": 0.09, "UNN": 0.22}
LEAD_TIME_MEDIAN_DAYS = {"OUS": 17, "HUS": 15, "STOLAV": 19, "SUS": 18, "UNN": 23}
COMPLETE_SHARE = {"OUS": 0.88, "HUS": 0.90, "STOLAV": 0.78, "SUS": 0.66, "UNN": 0.55}

# --- Tumours ------------------------------------------------------------------------------

# Site -> ICD-10 code by ICD-O-3 behaviour: /3 malignant (C70-C75), /0 benign (D32-D35),
# /1 uncertain (D42-D44), as WHO ICD-10 codes CNS tumours (vocabulary.TOPOGRAPHY).
SITES = {
    "frontal": ("C71.1", "D33.0", "D43.0"),
    "temporal": ("C71.2", "D33.0", "D43.0"),
    "parietal": ("C71.3", "D33.0", "D43.0"),
    "occipital": ("C71.4", "D33.0", "D43.0"),
    "overlapping": ("C71.8", "D33.0", "D43.0"),
    "deep": ("C71.0", "D33.0", "D43.0"),
    "ventricle": ("C71.5", "D33.0", "D43.0"),
    "cerebellum": ("C71.6", "D33.1", "D43.1"),
    "brainstem": ("C71.7", "D33.1", "D43.1"),
    "spinal_cord": ("C72.0", "D33.4", "D43.4"),
    "cranial_nerve": ("C72.4", "D33.3", "D43.3"),
    "cerebral_meninges": ("C70.0", "D32.0", "D42.0"),
    "spinal_meninges": ("C70.1", "D32.1", "D42.1"),
    "sellar": ("C75.2", "D35.3", "D44.4"),
    "pineal": ("C75.3", "D35.4", "D44.5"),
}
BEHAVIOUR_COLUMN = {"3": 0, "0": 1, "1": 2}
PAIRED_SITES = {
    "frontal",
    "temporal",
    "parietal",
    "occipital",
    "overlapping",
    "deep",
    "cerebellum",
    "cranial_nerve",
    "cerebral_meninges",
}
LOBES = {
    "frontal": 34,
    "temporal": 27,
    "parietal": 15,
    "occipital": 4,
    "overlapping": 14,
    "deep": 4,
    "cerebellum": 2,
}
FRONTAL = {"frontal": 60, "temporal": 15, "parietal": 12, "overlapping": 13}
TEMPORAL = {"temporal": 70, "frontal": 20, "parietal": 10}
POSTERIOR_FOSSA = {"cerebellum": 70, "brainstem": 30}


@dataclass(frozen=True)
class Profile:
    """How one tumour type presents and is treated in the demo data."""

    weight: int  # per mille of first primaries
    age: tuple[int, int]  # mean and SD at diagnosis; adults only, the register's scope (§2.1)
    sites: dict  # site -> weight
    female: float = 0.5
    grades: dict = field(default_factory=dict)  # CNS WHO grade -> weight; default: all equally
    plan: str = "surgery"  # "glioma" and "idh_glioma" follow the guideline; else `rt` decides
    biopsy: float = 0.0  # share biopsied rather than resected
    rt: dict = field(default_factory=dict)  # grade -> (Gy, fractions, share treated)
    chemo: str = ""  # given with or after that RT: "tmz", or the name of another regimen
    survival: dict = field(default_factory=dict)  # grade -> median months (none: not shortened)
    progression: dict = field(default_factory=dict)  # grade -> median progression-free months
    radiology_only: float = 0.0  # share diagnosed by imaging only (watch and scan)


def rt(gy, fractions: int, share: float) -> tuple:
    return Decimal(str(gy)), fractions, share


MEDULLO_CHEMO = "Cisplatin, lomustine and vincristine"
PROFILES = {
    # Adult-type diffuse gliomas: GBM ~45 %, astrocytoma ~12 %, oligodendroglioma ~8 %.
    GBM: Profile(
        450, (63, 11), LOBES, female=0.40, plan="glioma", survival={4: 15}, progression={4: 7}
    ),
    ASTRO: Profile(
        120,
        (38, 11),
        LOBES,
        female=0.43,
        grades={2: 45, 3: 35, 4: 20},
        plan="idh_glioma",
        survival={2: 160, 3: 100, 4: 40},
        progression={2: 60, 3: 36, 4: 16},
    ),
    OLIGO: Profile(
        80,
        (45, 12),
        FRONTAL,
        female=0.45,
        grades={2: 55, 3: 45},
        plan="idh_glioma",
        survival={2: 220, 3: 150},
        progression={2: 90, 3: 60},
    ),
    "meningioma": Profile(
        200,
        (60, 14),
        {"cerebral_meninges": 92, "spinal_meninges": 8},
        female=0.70,
        grades={1: 80, 2: 17, 3: 3},
        radiology_only=0.15,
        rt={2: rt(54, 30, 0.5), 3: rt(60, 30, 0.9)},
        survival={3: 60},
        progression={2: 70, 3: 24},
    ),
    "schwannoma": Profile(
        45, (52, 14), {"cranial_nerve": 85, "spinal_cord": 15}, radiology_only=0.35
    ),
    "pilocytic_astrocytoma": Profile(10, (30, 12), {"cerebellum": 60, "temporal": 20, "deep": 20}),
    "haemangioblastoma": Profile(10, (42, 13), {"cerebellum": 80, "spinal_cord": 20}),
    "ependymoma_nos": Profile(
        6,
        (45, 14),
        {"spinal_cord": 40, "ventricle": 30, "cerebellum": 30},
        grades={2: 70, 3: 30},
        rt={2: rt(54, 30, 0.3), 3: rt(59.4, 33, 0.9)},
        survival={3: 120},
        progression={2: 120, 3: 48},
    ),
    "ganglioglioma": Profile(5, (28, 10), TEMPORAL),
    "diffuse_midline_glioma_h3k27": Profile(
        5,
        (32, 12),
        {"brainstem": 50, "deep": 35, "spinal_cord": 15},
        biopsy=0.9,
        rt={4: rt(54, 30, 0.9)},
        survival={4: 14},
        progression={4: 8},
    ),
    "craniopharyngioma_adamantinomatous": Profile(
        5, (40, 15), {"sellar": 1}, rt={1: rt(54, 30, 0.3)}
    ),
    "myxopapillary_ependymoma": Profile(4, (38, 12), {"spinal_cord": 1}),
    "subependymoma": Profile(4, (55, 12), {"ventricle": 1}, female=0.3),
    "solitary_fibrous_tumour": Profile(
        4,
        (52, 13),
        {"cerebral_meninges": 1},
        grades={1: 30, 2: 50, 3: 20},
        rt={2: rt(60, 30, 0.3), 3: rt(60, 30, 0.8)},
        survival={3: 120},
        progression={2: 80, 3: 40},
    ),
    "dnet": Profile(3, (25, 7), TEMPORAL),
    "central_neurocytoma": Profile(3, (30, 9), {"ventricle": 1}),
    "pxa": Profile(
        3,
        (30, 11),
        TEMPORAL,
        grades={2: 75, 3: 25},
        rt={3: rt(59.4, 33, 0.8)},
        survival={3: 80},
        progression={2: 90, 3: 30},
    ),
    "medulloblastoma_shh_tp53_wildtype": Profile(
        3,
        (30, 8),
        {"cerebellum": 1},
        rt={4: rt(54, 30, 1.0)},
        chemo=MEDULLO_CHEMO,
        survival={4: 180},
        progression={4: 90},
    ),
    "craniopharyngioma_papillary": Profile(3, (50, 12), {"sellar": 1}),
    "diffuse_hemispheric_glioma_h3g34": Profile(
        2,
        (24, 5),
        LOBES,
        rt={4: rt(60, 30, 0.9)},
        chemo="tmz",
        survival={4: 22},
        progression={4: 10},
    ),
    "hgap": Profile(
        2,
        (45, 14),
        {"cerebellum": 50, "deep": 50},
        rt={None: rt(60, 30, 0.8)},
        chemo="tmz",
        survival={None: 24},
        progression={None: 12},
    ),
    "medulloblastoma_non_wnt_non_shh": Profile(
        2,
        (28, 8),
        {"cerebellum": 1},
        rt={4: rt(54, 30, 1.0)},
        chemo=MEDULLO_CHEMO,
        survival={4: 120},
        progression={4: 60},
    ),
    "pineocytoma": Profile(2, (40, 12), {"pineal": 1}),
    "ependymoma_pfa": Profile(
        2,
        (35, 12),
        POSTERIOR_FOSSA,
        grades={2: 50, 3: 50},
        rt={2: rt(54, 30, 0.6), 3: rt(59.4, 33, 0.9)},
        survival={3: 120},
        progression={2: 80, 3: 40},
    ),
    "medulloblastoma_wnt": Profile(
        1, (25, 6), {"cerebellum": 1}, rt={4: rt(54, 30, 1.0)}, chemo=MEDULLO_CHEMO
    ),
    "germinoma": Profile(
        1,
        (22, 4),
        {"pineal": 60, "sellar": 40},
        female=0.2,
        biopsy=1.0,
        rt={None: rt(24, 15, 1.0)},
        chemo="Carboplatin and etoposide",
    ),
    "pineoblastoma": Profile(
        1,
        (30, 10),
        {"pineal": 1},
        rt={4: rt(54, 30, 1.0)},
        chemo=MEDULLO_CHEMO,
        survival={4: 60},
        progression={4: 30},
    ),
    "atrt": Profile(
        1,
        (30, 12),
        {"cerebellum": 50, "frontal": 50},
        rt={4: rt(54, 30, 1.0)},
        chemo="High-dose chemotherapy",
        survival={4: 20},
        progression={4: 10},
    ),
    "ependymoma_pfb": Profile(1, (40, 12), POSTERIOR_FOSSA),
    "ependymoma_zfta": Profile(
        1,
        (30, 12),
        LOBES,
        grades={2: 40, 3: 60},
        rt={3: rt(59.4, 33, 0.9)},
        survival={3: 100},
        progression={3: 40},
    ),
    "paediatric_hgg_h3_idh_wildtype": Profile(
        1,
        (25, 6),
        LOBES,
        rt={4: rt(54, 30, 0.9)},
        chemo="tmz",
        survival={4: 18},
        progression={4: 9},
    ),
    "astroblastoma_mn1": Profile(1, (25, 6), LOBES, female=0.8),
    "angiocentric_glioma": Profile(1, (25, 7), TEMPORAL),
    "diffuse_lgg_mapk": Profile(1, (22, 4), LOBES),
    "sega": Profile(1, (21, 3), {"ventricle": 1}),
    "papillary_glioneuronal": Profile(1, (27, 8), LOBES),
    "chordoid_glioma": Profile(1, (45, 10), {"ventricle": 1}, female=0.6),
}
FIRST_PRIMARY = {code: p.weight for code, p in PROFILES.items()}
# About 5 % get a second primary tumour later, most often a meningioma or a schwannoma (a
# larger share is drawn: patients who die soon after the first have no room for one).
SECOND_PRIMARY_SHARE = 0.065
SECOND_PRIMARY = {"meningioma": 65, "schwannoma": 25, GBM: 10}

# ECOG by type of patient; Karnofsky equivalents for when both are recorded.
ECOG_GLIOMA = {0: 20, 1: 40, 2: 25, 3: 12, 4: 3}
ECOG_WELL = {0: 60, 1: 32, 2: 7, 3: 1}
KARNOFSKY = {0: (100, 90), 1: (80, 70), 2: (60, 50), 3: (40, 30), 4: (20, 10)}
# Follow-up interval by grade (docs/registry-rules.md §2: grade 3-4 every 4 months, grade 2 every
# 6).
FOLLOW_UP_DAYS = {4: 120, 3: 120, 2: 182}
COMPLICATIONS = [
    "Postoperative haematoma, evacuated",
    "Wound infection",
    "New motor deficit",
    "CSF leak",
    "Seizures",
    "Pulmonary embolism",
    "Hydrocephalus, shunted",
    "Pneumonia",
]


def pick(rng: random.Random, table: dict):
    """A key of `table`, drawn with the values as weights."""
    return rng.choices(list(table), weights=list(table.values()))[0]


def _control_digit(digits: str, weights) -> int | None:
    """Mod-11 control digit (docs/registry-rules.md §4): 11 - (sum mod 11); 11 gives 0, 10 none."""
    k = 11 - sum(w * int(d) for w, d in zip(weights, digits, strict=True)) % 11
    return None if k == 10 else k % 11


class _Rows(list):
    def all(self):
        return self


class _Unsaved:
    """An episode not saved yet, shaped like a prefetched one, for rules.missing_items."""

    def __init__(self, episode, rows: dict):
        self._episode, self._rows = episode, rows

    def __getattr__(self, name):
        if name in self._rows:
            return _Rows(self._rows[name])
        return getattr(self._episode, name)


class Case:
    """One episode's rows before they are saved."""

    def __init__(self, episode: TumourEpisode):
        self.episode = episode
        self.markers: dict[str, tuple[str, str]] = {}
        # One list per section (registry/sections.py), named by its key (case.surgeries, ...):
        # the generator fills those it makes; rows() hands them all to the rules and the save.
        for key in SECTIONS:
            setattr(self, key, [])

    def rows(self) -> dict[str, list]:
        """The rows by the episode's related names, as rules.missing_items reads them."""
        return {
            "markers": [
                MolecularMarker(marker=m, result=r, method=meth)
                for m, (r, meth) in self.markers.items()
            ],
            **{key: getattr(self, key) for key in SECTIONS},
        }

    def dates(self) -> list[date]:
        e = self.episode
        found = [e.referral_date, e.diagnosis_date, *e.mdt_dates]
        found += [s.surgery_date for s in self.surgeries]
        found += [s.postoperative_mri_at.date() for s in self.surgeries if s.postoperative_mri_at]
        found += [d for r in self.radiotherapy for d in (r.start_date, r.end_date)]
        found += [d for s in self.systemic_therapies for d in (s.start_date, s.stop_date)]
        found += [p.assessed_on for p in self.performance]
        found += [f.assessed_on for f in self.follow_ups]
        return [d for d in found if d]


class Generator:
    """Makes one patient at a time, all from one random.Random: the same seed, the same
    patients. Touches no database (the caller passes what is taken already)."""

    def __init__(
        self,
        rng: random.Random,
        hospitals: dict[str, Institution],
        taken_ids: set[str],
        taken_numbers: set[str],
    ):
        self.rng = rng
        self.hospitals = hospitals
        self.taken_ids, self.taken_numbers = taken_ids, taken_numbers
        self.today = timezone.localdate()
        self.now = timezone.now()

    # --- small helpers ---

    def days(self, low: int, high: int) -> timedelta:
        return timedelta(days=self.rng.randint(low, high))

    def chance(self, share: float) -> bool:
        return self.rng.random() < share

    def lognormal_days(self, median_months: float, sigma: float = 0.7) -> timedelta:
        return timedelta(days=int(self.rng.lognormvariate(math.log(median_months * 30.44), sigma)))

    def at(self, day: date, hour_from: int, hour_to: int) -> datetime:
        minutes = self.rng.randrange(hour_from * 60, hour_to * 60, 5)
        return timezone.make_aware(datetime.combine(day, clock(minutes // 60, minutes % 60)))

    # --- the person ---

    def national_id(self, birth: date, sex: str) -> str:
        """A unique Tenor test number (month + 80) for this birth date and sex: individual
        numbers 000-499 for 1900-1999, 500-999 from 2000 (docs/registry-rules.md §4); the 9th digit
        is even for women. Numbers whose control digit would be 10 are skipped."""
        prefix = f"{birth.day:02d}{birth.month + 80:02d}{birth.year % 100:02d}"
        low = 0 if birth.year < 2000 else 500
        for _ in range(1000):
            odd = 0 if sex == Patient.Sex.FEMALE else 1
            individual = self.rng.randrange(low + odd, low + 500, 2)
            digits = f"{prefix}{individual:03d}"
            k1 = _control_digit(digits, national_id.K1_WEIGHTS)
            k2 = None if k1 is None else _control_digit(f"{digits}{k1}", national_id.K2_WEIGHTS)
            number = f"{digits}{k1}{k2}"
            if k2 is not None and number not in self.taken_ids:
                self.taken_ids.add(number)
                return number
        raise CommandError(f"No free synthetic national ID left for {birth} ({sex}).")

    def register_number(self) -> str:
        while (number := new_register_number()) in self.taken_numbers:
            pass
        self.taken_numbers.add(number)
        return number

    def patient(self) -> tuple[Patient, list[PatientInstitution], list[Case]]:
        rng = self.rng
        code = pick(rng, FIRST_PRIMARY)
        profile = PROFILES[code]
        sex = Patient.Sex.FEMALE if self.chance(profile.female) else Patient.Sex.MALE
        names = FEMALE_NAMES if sex == Patient.Sex.FEMALE else MALE_NAMES
        given = rng.choice(names)
        if self.chance(0.15):  # a double first name, as in "Kari Anne"
            given += " " + rng.choice(names)
        full_name = f"{given} {rng.choices(SURNAMES, SURNAME_WEIGHTS)[0]}"
        referral = self.today - self.days(3, 365 * YEARS_BACK)
        age = min(92, max(18, round(rng.gauss(*profile.age))))
        birth = referral - timedelta(days=round(age * 365.25) + rng.randint(0, 364))
        number = self.national_id(birth, sex)

        home = pick(rng, HOME_HOSPITALS)
        treating = home
        elsewhere, share = OPERATED_ELSEWHERE.get(home, (home, 0.0))
        operating = elsewhere if self.chance(share) else home
        self.operating = self.hospitals[operating]
        patient = Patient(
            register_number=self.register_number(),
            national_id=number,
            synthetic_id=national_id.parse(number, allow_synthetic=True).synthetic,
            full_name=full_name,
            search_name=normalise_name(full_name),
            sex=sex,
            birth_date=birth,
            health_region=self.hospitals[home].health_region,
            created_at=self.at(referral, 8, 16),
        )
        links = [
            PatientInstitution(patient=patient, institution=self.hospitals[c])
            for c in dict.fromkeys([home, operating])
        ]

        cases = [self.episode(patient, code, referral, self.hospitals[treating], first=True)]
        # A second primary at least half a year later, with time left to treat it.
        room = (self.horizon(patient) - cases[0].episode.diagnosis_date).days
        if self.chance(SECOND_PRIMARY_SHARE) and room > 300:
            later = cases[0].episode.diagnosis_date + self.days(180, room - 60)
            cases.append(
                self.episode(
                    patient, pick(rng, SECOND_PRIMARY), later, self.hospitals[treating], first=False
                )
            )
        recorded = [("event", day) for case in cases for day in case.dates()]
        rules.check_patient(patient, recorded_dates=recorded)
        return patient, links, cases

    def horizon(self, patient: Patient) -> date:
        """The last day anything can be recorded: today, or the day before death."""
        if patient.date_of_death:
            return min(self.today, patient.date_of_death - timedelta(days=1))
        return self.today

    def death(
        self,
        patient: Patient,
        profile: Profile,
        grade,
        diagnosis: date,
        core_end: date,
        factor: float,
    ) -> tuple[date | None, bool]:
        """Date of death (None: alive today) and whether the tumour caused it. Other causes
        by age: about 0.2 %/year at 40, doubling every 8 years."""
        months = profile.survival.get(grade)
        by_tumour = diagnosis + self.lognormal_days(months * factor) if months else None
        age = patient.age_on(diagnosis)
        years = min(60.0, self.rng.expovariate(0.002 * 1.09 ** (age - 40)))
        other = diagnosis + timedelta(days=int(years * 365.25))
        death = min(other, by_tumour or other)
        # Nobody dies in the middle of the first treatment in this data: after all its events.
        death = max(death, core_end + self.days(10, 40))
        return (death if death <= self.today else None), bool(by_tumour and death == by_tumour)

    # --- one tumour episode ---

    def episode(
        self, patient: Patient, code: str, referral: date, institution: Institution, *, first: bool
    ) -> Case:
        rng = self.rng
        profile, tumour_type = PROFILES[code], vocabulary.TUMOUR_TYPES[code]
        grade = pick(rng, profile.grades or {g: 1 for g in tumour_type.grades} or {None: 1})
        morphology = tumour_type.morphology(grade)
        site = pick(rng, profile.sites)
        diagnosis = min(self.today, referral + self.days(0, 6))
        episode = TumourEpisode(
            patient=patient,
            institution=institution,
            referral_date=referral,
            diagnosis_date=diagnosis,
            diagnosis=code,
            who_grade=grade,
            morphology=morphology,
            topography=SITES[site][BEHAVIOUR_COLUMN[morphology[-1]]],
            laterality=self.laterality(site),
            created_at=self.at(referral, 8, 16),
        )
        case = Case(episode)
        age = patient.age_on(diagnosis)
        ecog = pick(rng, ECOG_GLIOMA if profile.plan == "glioma" else ECOG_WELL)
        if profile.plan == "glioma" and age >= 75:
            ecog = min(4, ecog + 1)
        self.markers(case, age)

        core_end, factor, mdt = self.first_treatment(case, profile, grade, age, ecog)
        case.performance.append(PerformanceStatus(assessed_on=diagnosis, **self.performance(ecog)))

        by_tumour = False
        if first:
            patient.date_of_death, by_tumour = self.death(
                patient, profile, grade, diagnosis, core_end, factor
            )
            if patient.date_of_death:
                patient.vital_status = Patient.VitalStatus.DEAD
        horizon = self.horizon(patient)
        progression = self.progression(
            profile,
            grade,
            diagnosis,
            core_end,
            factor,
            horizon,
            patient.date_of_death if by_tumour else None,
        )
        mdt += self.course(case, profile, grade, ecog, core_end, progression, horizon, age)
        episode.mdt_dates = sorted({d for d in mdt if d <= horizon})
        self.clip(case, horizon, dead=bool(patient.date_of_death))
        self.trial(episode, profile, age)
        self.status(case)  # may leave items out of a draft, so before the rules run
        self.warnings(case, patient)
        return case

    def first_treatment(self, case: Case, profile: Profile, grade, age: int, ecog: int):
        """Surgery or biopsy and what follows it, or imaging only. Returns the end of the
        first treatment, the survival factor it gives and the MDT meetings so far."""
        rng, episode = self.rng, case.episode
        diagnosis = episode.diagnosis_date
        # Imaging only (watch and scan): small meningiomas and vestibular schwannomas.
        if self.chance(profile.radiology_only):
            episode.basis = TumourEpisode.Basis.RADIOLOGY
            return diagnosis, 1.0, [diagnosis + self.days(2, 14)]
        episode.basis = TumourEpisode.Basis.HISTOLOGY
        # Pakkeforløp: referral to surgery 21 days (docs/registry-rules.md §2); about a third later.
        median = LEAD_TIME_MEDIAN_DAYS.get(self.operating.code, 17)
        lead_time = timedelta(days=round(rng.lognormvariate(math.log(median), 0.45)))
        surgery_day = max(episode.referral_date + lead_time, diagnosis + timedelta(days=1))
        # The preoperative MDT meets between diagnosis and surgery; the postoperative one
        # with the pathology a week or two after.
        mdt = [
            diagnosis + self.days(1, max(1, (surgery_day - diagnosis).days - 1)),
            surgery_day + self.days(7, 14),
        ]
        factor = 1.0
        biopsy = self.chance(profile.biopsy)
        if profile.plan == "glioma":  # the frail and the old are biopsied more often
            biopsy = self.chance(0.7 if ecog >= 3 or age > 80 else 0.2 if age < 70 else 0.35)
            factor = 0.7 if biopsy else 1.0
        case.surgeries.append(self.surgery(surgery_day, biopsy, profile))
        core_end, factor = self.adjuvant(case, profile, grade, ecog, surgery_day, biopsy, factor)
        return core_end, factor, mdt

    def laterality(self, site: str) -> str:
        if site == "cerebral_meninges" and self.chance(0.2):  # falx and parasagittal
            return TumourEpisode.Laterality.MIDLINE
        if site not in PAIRED_SITES:
            return TumourEpisode.Laterality.MIDLINE
        if site == "overlapping" and self.chance(0.1):  # butterfly glioma, across the midline
            return TumourEpisode.Laterality.BILATERAL
        return self.rng.choice([TumourEpisode.Laterality.LEFT, TumourEpisode.Laterality.RIGHT])

    def performance(self, ecog: int) -> dict:
        """ECOG (the scale of the Norwegian guideline, docs/registry-rules.md §2), often with
        Karnofsky."""
        karnofsky = self.rng.choice(KARNOFSKY[ecog])
        kind = self.rng.random()
        if kind < 0.6:
            return {"ecog": ecog, "karnofsky": karnofsky}
        return {"ecog": ecog} if kind < 0.9 else {"karnofsky": karnofsky}

    def markers(self, case: Case, age: int) -> None:
        """Results consistent with the integrated diagnosis (WHO CNS5, docs/registry-rules.md §1;
        the guideline's molecular workup, §2.1), with the usual methods."""
        rng, e, m = self.rng, case.episode, case.markers
        altered, wildtype = "altered", "wildtype"

        def result(share):
            return altered if self.chance(share) else wildtype

        idh_method = "sequencing" if age < 55 and self.chance(0.5) else "ihc"
        if e.diagnosis == GBM:
            m["idh"] = (wildtype, idh_method)
            m["mgmt"] = (result(0.40), rng.choice(["pcr", "methylation_array"]))
            m["tert"] = (result(0.80), "sequencing")
            if self.chance(0.6):
                m["egfr"] = (result(0.40), "copy_number")
                m["chr7_chr10"] = (result(0.70), "copy_number")
        elif e.diagnosis == ASTRO:
            m["idh"] = (altered, idh_method)
            m["atrx"] = (result(0.90), "ihc")
            # Homozygous CDKN2A/B deletion makes it grade 4 (§2.1), so only grade 4 has it here.
            m["cdkn2ab"] = (result(0.6) if e.who_grade == 4 else wildtype, "copy_number")
            m["mgmt"] = (result(0.80), "pcr")
            m["codeletion_1p19q"] = (wildtype, "fish")
        elif e.diagnosis == OLIGO:
            m["idh"] = (altered, idh_method)
            m["codeletion_1p19q"] = (altered, rng.choice(["fish", "copy_number"]))
            m["mgmt"] = (result(0.90), "pcr")
            m["atrx"] = (wildtype, "ihc")
            if self.chance(0.5):
                m["tert"] = (result(0.9), "sequencing")
        elif e.diagnosis == "diffuse_midline_glioma_h3k27":
            m["h3k27"] = (altered, "ihc")
            m["idh"] = (wildtype, "ihc")
        elif e.diagnosis == "diffuse_hemispheric_glioma_h3g34":
            m["h3g34"] = (altered, "sequencing")
            m["idh"] = (wildtype, "ihc")
        elif e.diagnosis == "paediatric_hgg_h3_idh_wildtype":
            for marker in ("idh", "h3k27", "h3g34"):
                m[marker] = (wildtype, "sequencing")
        elif e.diagnosis == "diffuse_lgg_mapk":
            v600e = self.chance(0.5)
            m["braf_v600e"] = (altered if v600e else wildtype, "sequencing")
            m["braf_fusion"] = (wildtype if v600e else altered, "sequencing")
        elif e.diagnosis in ("pxa", "ganglioglioma"):
            m["braf_v600e"] = (result(0.65 if e.diagnosis == "pxa" else 0.35), "ihc")
        elif e.diagnosis == "pilocytic_astrocytoma" and self.chance(0.6):
            m["braf_fusion"] = (result(0.7), "sequencing")
        for marker in e.tumour_type.required_markers:  # anything else the report needs
            m.setdefault(marker, ("not_tested", ""))

    def surgery(
        self, day: date, biopsy: bool, profile: Profile, *, reoperation: bool = False
    ) -> Surgery:
        rng = self.rng
        if biopsy:
            procedure = (
                Surgery.Procedure.STEREOTACTIC_BIOPSY
                if self.chance(0.8)
                else Surgery.Procedure.OPEN_BIOPSY
            )
            extent = Surgery.ExtentOfResection.BIOPSY_ONLY
        else:
            procedure = Surgery.Procedure.RESECTION
            table = (
                {"gross_total": 40, "subtotal": 40, "partial": 20}
                if profile.plan == "glioma"
                else {"gross_total": 75, "subtotal": 20, "partial": 5}
            )
            extent = pick(rng, table)
        ended = self.at(day, 10, 19)
        # Postoperative MRI within 72 h (docs/registry-rules.md §2); some later, some
        # biopsies without one.
        if biopsy and self.chance(0.5):
            mri = None
        else:
            late = LATE_MRI_SHARE.get(self.operating.code, 0.07)
            hours = rng.uniform(73, 140) if self.chance(late) else rng.uniform(6, 60)
            mri = ended + timedelta(hours=hours)
        complications = rng.choice(COMPLICATIONS) if self.chance(0.1) else ""
        answer = "yes" if complications else "unknown" if self.chance(0.03) else "no"
        return Surgery(
            surgery_date=day,
            surgery_end_time=ended.time(),
            procedure=procedure,
            extent_of_resection=extent,
            postoperative_mri_at=mri,
            complications_within_30_days=answer,
            complications=complications,
            reoperation=reoperation,
            operating_institution=self.operating,
        )

    def radiotherapy(self, start: date, dose: Decimal, fractions: int) -> RadiotherapyCourse:
        """Five fractions a week; a few courses stop early (fewer fractions, less dose)."""
        planned = "yes"
        if fractions > 5 and self.chance(0.04):
            delivered = self.rng.randint(fractions // 3, fractions - 1)
            dose = (dose * delivered / fractions).quantize(Decimal("0.01"))
            fractions, planned = delivered, "no"
        end = start + timedelta(days=(fractions - 1) // 5 * 7 + (fractions - 1) % 5)
        return RadiotherapyCourse(
            start_date=start,
            end_date=end,
            total_dose_gy=dose,
            fractions=fractions,
            completed_as_planned=planned,
        )

    def systemic(
        self,
        regimen: str,
        start: date,
        cycles: int,
        every_days: int,
        *,
        other: str = "",
        stop_reason: str = "completed",
    ) -> SystemicTherapy:
        stop = start + timedelta(days=cycles * every_days - 1)
        return SystemicTherapy(
            regimen=regimen,
            regimen_other=other,
            start_date=start,
            cycles=cycles,
            stop_date=stop,
            stop_reason=stop_reason,
        )

    def adjuvant(
        self,
        case: Case,
        profile: Profile,
        grade,
        ecog: int,
        surgery_day: date,
        biopsy: bool,
        factor: float,
    ) -> tuple[date, float]:
        """Radiotherapy and chemotherapy after surgery, by the national guideline's dose and
        fractionation (docs/registry-rules.md §2, appendix 2). Returns the end of the first
        treatment (radiotherapy with concomitant drugs) and the survival factor."""
        rng = self.rng
        # RT "usually within 3-4 weeks" of surgery, not earlier than 2 weeks after a biopsy.
        start = surgery_day + (self.days(14, 28) if biopsy else self.days(21, 35))
        methylated = case.markers.get("mgmt", ("",))[0] == "altered"
        schedule, chemo = None, []
        if profile.plan == "glioma":
            age_at_rt = case.episode.patient.age_on(start)
            if ecog == 4:  # best supportive care
                return surgery_day, factor * 0.3
            if age_at_rt < 70 and ecog <= 2:  # Stupp: 60 Gy/30 with TMZ, then TMZ x 6
                schedule, chemo = (Decimal(60), 30), ["tmz_concomitant", ("tmz_adjuvant", 6, 28)]
            elif methylated and self.chance(0.3):  # elderly, methylated: TMZ alone is an option
                case.systemic_therapies.append(self.systemic("tmz_adjuvant", start, 6, 28))
                return start, factor * (0.55 if age_at_rt >= 70 else 1.0) * 1.5
            else:
                schedule = pick(
                    rng, {rt(40, 15, 1)[:2]: 80, rt(34, 10, 1)[:2]: 10, rt(25, 5, 1)[:2]: 10}
                )
                chemo = ["tmz_concomitant", ("tmz_adjuvant", 6, 28)] if self.chance(0.5) else []
            factor *= (0.55 if age_at_rt >= 70 else 1.0) * (1.5 if methylated else 1.0)
        elif profile.plan == "idh_glioma":
            oligo = case.episode.diagnosis == OLIGO
            if grade == 4:
                schedule, chemo = (Decimal(60), 30), ["tmz_concomitant", ("tmz_adjuvant", 6, 28)]
            elif grade == 3:
                schedule = (Decimal("59.4"), 33)
                chemo = [("pcv", 6, 42)] if oligo else [("tmz_adjuvant", rng.choice([6, 12]), 28)]
            elif self.chance(0.4):  # grade 2 with an indication for treatment: 50.4-54 Gy/28-30
                schedule = rng.choice([(Decimal("50.4"), 28), (Decimal(54), 30)])
                chemo = [("pcv", 6, 42)]
        elif grade in profile.rt and self.chance(profile.rt[grade][2]):
            schedule = profile.rt[grade][:2]
            if profile.chemo == "tmz":
                chemo = ["tmz_concomitant", ("tmz_adjuvant", 6, 28)]
            elif profile.chemo:
                chemo = [("other", 4, 42)]
        if schedule is None:
            return surgery_day, factor
        course = self.radiotherapy(start, *schedule)
        case.radiotherapy.append(course)
        for item in chemo:
            if item == "tmz_concomitant":  # daily during RT (docs/registry-rules.md §2, Stupp)
                case.systemic_therapies.append(
                    SystemicTherapy(
                        regimen=item,
                        start_date=course.start_date,
                        stop_date=course.end_date,
                        stop_reason="completed",
                    )
                )
            else:
                regimen, cycles, every = item
                case.systemic_therapies.append(
                    self.systemic(
                        regimen,
                        course.end_date + self.days(21, 35),
                        cycles,
                        every,
                        other=profile.chemo if regimen == "other" else "",
                    )
                )
        return course.end_date, factor

    def progression(
        self,
        profile: Profile,
        grade,
        diagnosis: date,
        core_end: date,
        factor: float,
        horizon: date,
        tumour_death: date | None,
    ) -> date | None:
        """First progression: at least four weeks after the first treatment; before a death
        the tumour caused."""
        months = profile.progression.get(grade)
        if not months:
            return None
        day = max(diagnosis + self.lognormal_days(months * factor), core_end + self.days(28, 60))
        if tumour_death:
            day = min(day, tumour_death - self.days(20, 90))
        return day if core_end + timedelta(days=28) <= day <= horizon else None

    def course(
        self,
        case: Case,
        profile: Profile,
        grade,
        ecog: int,
        core_end: date,
        progression: date | None,
        horizon: date,
        age: int,
    ) -> list[date]:
        """Follow-ups from four to six weeks after the first treatment, every 4, 6 or 12
        months by grade (docs/registry-rules.md §2), RANO responses, performance statuses, and the
        treatment at progression. Returns the MDT dates it added."""
        rng, mdt = self.rng, []
        interval = FOLLOW_UP_DAYS.get(grade, 365)
        day = core_end + self.days(28, 42)
        # RANO is for gliomas (docs/registry-rules.md §3): benign tumours often get no
        # RANO category.
        graded_rano = profile.plan in ("glioma", "idh_glioma") or grade in (3, 4)
        reported = False
        number = 0
        while day <= horizon:
            if progression and not reported and day >= progression:
                day = min(horizon, progression + self.days(0, 7))
                case.follow_ups.append(
                    FollowUp(
                        assessed_on=day,
                        rano_response="PD",
                        progression=True,
                        progression_date=progression,
                    )
                )
                reported = True
                ecog = min(4, ecog + 1)
                mdt.append(min(horizon, day + self.days(3, 10)))
                self.second_line(case, profile, progression, age)
            elif reported:
                worse = self.chance(0.4)
                case.follow_ups.append(
                    FollowUp(
                        assessed_on=day, progression=worse, rano_response="PD" if worse else "SD"
                    )
                )
                ecog = min(4, ecog + worse)
            else:
                gross_total = any(s.extent_of_resection == "gross_total" for s in case.surgeries)
                response = pick(
                    rng,
                    {"CR": 60, "SD": 40}
                    if gross_total and number == 0
                    else {"SD": 75, "PR": 15, "CR": 10},
                )
                if not graded_rano and self.chance(0.5):
                    response = ""
                case.follow_ups.append(FollowUp(assessed_on=day, rano_response=response))
            if number % 2 == 0:
                case.performance.append(
                    PerformanceStatus(assessed_on=day, **self.performance(ecog))
                )
            number += 1
            day += timedelta(days=interval + rng.randint(-14, 14))
        return mdt

    def second_line(self, case: Case, profile: Profile, progression: date, age: int) -> None:
        """At progression of a glioma: sometimes a reoperation, often lomustine (§2.1)."""
        if profile.plan not in ("glioma", "idh_glioma"):
            return
        if age < 70 and self.chance(0.2):
            case.surgeries.append(
                self.surgery(progression + self.days(14, 30), False, profile, reoperation=True)
            )
        start = progression + self.days(21, 35)
        if self.chance(0.5):
            cycles = min(6, 1 + int(self.rng.expovariate(0.5)))
            case.systemic_therapies.append(
                self.systemic(
                    "lomustine",
                    start,
                    cycles,
                    42,
                    stop_reason="completed" if cycles == 6 else "progression",
                )
            )
        elif self.chance(0.15):
            case.systemic_therapies.append(
                self.systemic(
                    "bevacizumab", start, self.rng.randint(2, 8), 14, stop_reason="progression"
                )
            )

    def clip(self, case: Case, horizon: date, *, dead: bool) -> None:
        """Nothing after the horizon: rows starting later are not there yet; courses running
        past it are still running today (no end) or ended with the patient's death."""
        case.surgeries = [s for s in case.surgeries if s.surgery_date <= horizon]
        for s in case.surgeries:
            if s.postoperative_mri_at and s.postoperative_mri_at.date() > horizon:
                s.postoperative_mri_at = None
        case.radiotherapy = [r for r in case.radiotherapy if r.start_date <= horizon]
        for r in case.radiotherapy:
            if r.end_date > horizon:
                r.end_date, r.completed_as_planned = (horizon, "no") if dead else (None, "")
        case.systemic_therapies = [s for s in case.systemic_therapies if s.start_date <= horizon]
        for s in case.systemic_therapies:
            if s.stop_date > horizon:
                if dead:
                    s.stop_date, s.stop_reason = horizon, SystemicTherapy.StopReason.DEATH
                else:
                    s.stop_date, s.stop_reason = None, ""
                if s.cycles:
                    period = 42 if s.regimen in ("pcv", "lomustine", "other") else 28
                    given = ((s.stop_date or horizon) - s.start_date).days // period + 1
                    s.cycles = min(s.cycles, given)
        case.performance = [p for p in case.performance if p.assessed_on <= horizon]
        case.follow_ups = [f for f in case.follow_ups if f.assessed_on <= horizon]

    def trial(self, episode: TumourEpisode, profile: Profile, age: int) -> None:
        """Trial inclusion offered (the new question of the surgery report,
        docs/registry-rules.md §2)."""
        offered = 0.2 if profile.plan == "glioma" and age < 70 else 0.07
        episode.trial_offered = pick(
            self.rng, {"yes": offered, "no": 0.93 - offered, "unknown": 0.07}
        )
        if episode.trial_offered == "yes":
            episode.trial_accepted = "yes" if self.chance(0.55) else "no"

    def warnings(self, case: Case, patient: Patient) -> None:
        """Run the entry rules on every row (a generator bug raises here) and store the
        warnings they give as acknowledged: the same checks services.section_save runs
        (sections.section_warnings), on the unsaved episode shaped as a prefetched one."""
        e = case.episode
        unsaved = _Unsaved(e, case.rows())
        results = {m: r for m, (r, _) in case.markers.items()}
        first = first_treatment(unsaved)
        e.acknowledged_warnings = [
            w.code
            for w in rules.check_episode(
                e,
                patient,
                results,
                first_treatment_date=first[1] if first else None,
                first_treatment_kind=first[0] if first else None,
            )
        ]
        for section in SECTIONS.values():
            for row in getattr(case, section.key):
                row.acknowledged_warnings = [
                    w.code for w in section_warnings(section, row, unsaved, patient)
                ]

    def status(self, case: Case) -> None:
        """Most reports older than a year are complete, about half of the last year's, none
        of the last six weeks'; a share of drafts lack items, so the worklist has content."""
        e = case.episode
        age_days = (self.today - e.diagnosis_date).days
        older = COMPLETE_SHARE.get(e.institution.code, 0.85)
        share = older if age_days > 365 else older * 0.6 if age_days > 42 else 0.0
        if self.chance(share) and not rules.missing_items(_Unsaved(e, case.rows())):
            e.status = TumourEpisode.Status.COMPLETE
            e.completed_at = min(self.now, self.at(max(case.dates()) + self.days(1, 30), 8, 16))
        elif age_days <= 42:  # recent: the MGMT result pending, the trial question unanswered
            if self.chance(0.5):
                case.markers.pop("mgmt", None)
            if self.chance(0.5):
                e.trial_offered = e.trial_accepted = ""
        elif self.chance(0.6):
            self.drop_items(case)

    def drop_items(self, case: Case) -> None:
        """A draft that lacks one or two items of a complete report (rules.missing_items)."""
        e = case.episode
        items = ["performance", "mdt", "trial", "marker", "laterality"]
        for item in self.rng.sample(items, self.rng.randint(1, 2)):
            if item == "performance":
                case.performance = []
            elif item == "mdt":
                e.mdt_dates = []
            elif item == "trial":
                e.trial_offered = e.trial_accepted = ""
            elif item == "marker" and e.tumour_type.required_markers:
                case.markers.pop(self.rng.choice(e.tumour_type.required_markers), None)
            elif item == "laterality":
                e.laterality = ""


EPISODE_ROWS = (MolecularMarker, *(section.model for section in SECTIONS.values()))
SAVED_MODELS = (Patient, PatientInstitution, TumourEpisode, *EPISODE_ROWS)


def _save(batch: list[tuple[Patient, list, list[Case]]]) -> int:
    """Insert one batch, parents first (bulk_create sets their ids for the children)."""
    patients = Patient.objects.bulk_create([p for p, _, _ in batch])
    PatientInstitution.objects.bulk_create([link for _, links, _ in batch for link in links])
    cases = [case for _, _, cases in batch for case in cases]
    TumourEpisode.objects.bulk_create([c.episode for c in cases])
    written = len(patients) + sum(len(links) for _, links, _ in batch) + len(cases)
    children = {model: [] for model in EPISODE_ROWS}
    for case in cases:
        for rows in case.rows().values():
            for row in rows:
                row.episode = case.episode
                children[type(row)].append(row)
    for model, rows in children.items():
        model.objects.bulk_create(rows, batch_size=5000)
        written += len(rows)
    return written


class Command(BaseCommand):
    help = (
        "Create realistic synthetic register patients (Tenor test national IDs) at the "
        "five university hospitals. Each run adds --patients more; --reset first deletes "
        "the patients earlier runs created; --if-empty does nothing when the register has "
        "any patient (for `make run`). Refused unless synthetic IDs are allowed "
        "(DJANGO_DEBUG=1 or NBTC_ALLOW_SYNTHETIC_IDS=1): demo data never goes into a "
        "production register."
    )

    def add_arguments(self, parser):
        parser.add_argument("--patients", type=int, default=500, help="how many (default 500)")
        parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
        parser.add_argument("--batch-size", type=int, default=2000, help="patients per transaction")
        parser.add_argument(
            "--if-empty", action="store_true", help="do nothing when the register has any patient"
        )
        parser.add_argument(
            "--reset", action="store_true", help="delete the demo patients of earlier runs first"
        )

    def handle(self, *args, patients, seed, batch_size, if_empty, reset, **options):
        if not settings.ALLOW_SYNTHETIC_NATIONAL_IDS:
            raise CommandError(
                "Synthetic national IDs are not allowed here; set "
                "NBTC_ALLOW_SYNTHETIC_IDS=1 (or DJANGO_DEBUG=1) on a development "
                "or benchmark database."
            )
        if patients < 0 or batch_size < 1:
            raise CommandError("--patients must be 0 or more and --batch-size at least 1.")
        if reset:
            self.reset(batch_size)
        if if_empty and Patient.objects.exists():
            self.stdout.write("The register has patients already; no demo patients created.")
            return
        hospitals = {
            i.code: i
            for i in Institution.objects.filter(
                code__in=HOME_HOSPITALS, kind=Institution.Kind.HOSPITAL
            )
        }
        if missing := sorted(set(HOME_HOSPITALS) - set(hospitals)):
            raise CommandError(f"Seeded hospitals missing: {missing}; run migrate first.")
        rng = random.Random(seed)  # noqa: S311 - reproducible made-up data, no secret
        generator = Generator(
            rng,
            hospitals,
            set(Patient.objects.values_list("national_id", flat=True)),
            set(Patient.objects.values_list("register_number", flat=True)),
        )
        started, done, rows = time.monotonic(), 0, 0
        with pghistory.context(**CONTEXT, seed=seed):
            while done < patients:
                try:
                    batch = [generator.patient() for _ in range(min(batch_size, patients - done))]
                except ValidationError as exc:  # the rules refused generated data: a bug here
                    message = f"Generated data broke an entry rule: {exc.messages}"
                    raise CommandError(message) from exc
                with transaction.atomic():
                    rows += _save(batch)
                done += len(batch)
                self.stdout.write(
                    f"  {done:,} / {patients:,} patients "
                    f"({done / (time.monotonic() - started):,.0f}/s)"
                )
        # Fresh planner statistics: after a bulk load the first pages would otherwise be
        # planned from an empty table's (a patient list's count took twice as long).
        with connection.cursor() as cursor:
            for model in SAVED_MODELS:
                cursor.execute(f'ANALYZE "{model._meta.db_table}"')
        self.stdout.write(
            f"Created {done:,} demo patients ({rows:,} rows) with seed {seed} in "
            f"{time.monotonic() - started:.1f} s; the register has "
            f"{Patient.objects.count():,} patients."
        )
        self.notified_cases(generator, rng)
        # The indicators page reads the newest snapshot: make one now rather than at night.
        started = time.monotonic()
        indicator_services.snapshot_compute(indicator_services.snapshot_request().pk)
        self.stdout.write(f"Computed the quality indicators in {time.monotonic() - started:.1f} s.")

    def notified_cases(self, generator, rng: random.Random) -> None:
        """The Cancer Registry's notified cases of the last full year, imported through the
        admins' CSV import: most histologically verified episodes of that year (notified a
        few days apart from the clinical date), and about one in eight more that no hospital
        has reported, so coverage_notified and the worklists' "not yet reported" have content."""
        year = timezone.localdate().year - 1
        episodes = TumourEpisode.objects.filter(
            diagnosis_date__year=year, basis=TumourEpisode.Basis.HISTOLOGY
        ).values_list("patient__national_id", "diagnosis_date", "topography", "institution__code")
        lines = ["national_id,diagnosis_date,icd10,hospital"]
        seen = set()
        for number, day, topography, hospital in episodes:
            notified = min(date(year, 12, 31), max(date(year, 1, 1), day + generator.days(-5, 5)))
            if not topography or (number, notified) in seen or not generator.chance(0.97):
                continue
            seen.add((number, notified))
            lines.append(f"{number},{notified.isoformat()},{topography},{hospital}")
        known = len(lines) - 1
        for _ in range(max(1, known // 8)):
            birth = date(rng.randint(1940, 1990), rng.randint(1, 12), rng.randint(1, 28))
            sex = rng.choice([Patient.Sex.FEMALE, Patient.Sex.MALE])
            day = date(year, 1, 1) + timedelta(days=rng.randint(0, 364))
            hospital = pick(rng, HOME_HOSPITALS)
            lines.append(f"{generator.national_id(birth, sex)},{day.isoformat()},C71.9,{hospital}")
        if known:
            source = indicator_services.notified_cases_import(
                by=None, year=year, text="\n".join(lines) + "\n", filename="demo"
            )
            self.stdout.write(f"Imported {source.cases:,} notified cases for {year}.")

    def reset(self, batch_size: int) -> None:
        """Delete the patients earlier runs created: those inserted under the demo context."""
        created = Patient.pgh_event_model.objects.filter(
            pgh_label="insert", pgh_context__metadata__demo_data=True
        ).values("pgh_obj_id")
        ids = list(Patient.objects.filter(pk__in=created).values_list("pk", flat=True))
        try:
            for start in range(0, len(ids), batch_size):
                with transaction.atomic():
                    Patient.objects.filter(pk__in=ids[start : start + batch_size]).delete()
        except ProtectedError as exc:
            raise CommandError(f"Other records refer to demo patients: {exc}") from exc
        self.stdout.write(f"Deleted {len(ids):,} demo patients.")
