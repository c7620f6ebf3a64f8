"""What the matching engine reads from the register about each tumour episode, and the
register reads that fill it: one function per register table, each a single set-based
query however many episodes there are (MatchMiner's bulk clinical load,
https://github.com/dfci/matchengine-V2). Criterion kinds (criteria_kinds.KINDS) name the
attributes they read; read_register() runs the sources those attributes need."""

from dataclasses import dataclass, field
from datetime import date

from django.db.models import Count, Q

from registry.models import (
    FollowUp,
    MolecularMarker,
    PerformanceStatus,
    RadiotherapyCourse,
    Surgery,
    SystemicTherapy,
)


@dataclass(slots=True)
class Facts:
    """What the register says about one tumour episode, as the engine loads it in bulk."""

    episode_id: int
    patient_id: int
    diagnosis: str
    who_grade: int | None
    birth_date: date
    sex: str
    markers: dict = field(default_factory=dict)  # marker -> result
    regimens: set = field(default_factory=set)  # systemic regimens, and "radiotherapy"
    radiotherapy_ends: list = field(default_factory=list)  # None for a course without one
    extent: str = ""  # of the latest surgery; "" when none
    ecog: int | None = None  # latest assessment
    karnofsky: int | None = None
    follow_ups: int = 0
    progressions: int = 0


# Read with the episode itself (the first query of read_register()).
EPISODE_FACTS = {
    "episode_id": "pk",
    "patient_id": "patient_id",
    "diagnosis": "diagnosis",
    "who_grade": "who_grade",
    "birth_date": "patient__birth_date",
    "sex": "patient__sex",
}


def _markers(ids, facts) -> None:
    for episode_id, marker, result in MolecularMarker.objects.filter(episode__in=ids).values_list(
        "episode_id", "marker", "result"
    ):
        facts[episode_id].markers[marker] = result


def _systemic_therapies(ids, facts) -> None:
    for episode_id, regimen in SystemicTherapy.objects.filter(episode__in=ids).values_list(
        "episode_id", "regimen"
    ):
        facts[episode_id].regimens.add(regimen)


def _radiotherapy(ids, facts) -> None:
    for episode_id, end in RadiotherapyCourse.objects.filter(episode__in=ids).values_list(
        "episode_id", "end_date"
    ):
        facts[episode_id].regimens.add("radiotherapy")
        facts[episode_id].radiotherapy_ends.append(end)


def _surgeries(ids, facts) -> None:
    for episode_id, extent in (
        Surgery.objects.filter(episode__in=ids)
        .order_by("surgery_date", "id")
        .values_list("episode_id", "extent_of_resection")
    ):
        facts[episode_id].extent = extent  # the latest surgery wins


def _performance(ids, facts) -> None:
    for episode_id, ecog, kps in (
        PerformanceStatus.objects.filter(episode__in=ids)
        .order_by("assessed_on", "id")
        .values_list("episode_id", "ecog", "karnofsky")
    ):
        f = facts[episode_id]
        f.ecog, f.karnofsky = ecog, kps  # the latest assessment wins


def _follow_ups(ids, facts) -> None:
    for episode_id, n, progressions in (
        FollowUp.objects.filter(episode__in=ids)
        .values("episode_id")
        .annotate(n=Count("pk"), progressions=Count("pk", filter=Q(progression=True)))
        .values_list("episode_id", "n", "progressions")
    ):
        facts[episode_id].follow_ups = n
        facts[episode_id].progressions = progressions


# (the Facts attributes a source fills, the source): a source runs when a kind reads one
# of its attributes.
SOURCES = [
    (("markers",), _markers),
    (("regimens",), _systemic_therapies),
    (("regimens", "radiotherapy_ends"), _radiotherapy),
    (("extent",), _surgeries),
    (("ecog", "karnofsky"), _performance),
    (("follow_ups", "progressions"), _follow_ups),
]


def read_register(episodes, reads) -> dict[int, Facts]:
    """Facts of every episode in the queryset, keyed by episode id: the episode query and
    one query per source of the attributes in `reads` (the attributes others would fill
    keep their defaults)."""
    ids = episodes.values("pk")
    facts = {values[0]: Facts(*values) for values in episodes.values_list(*EPISODE_FACTS.values())}
    wanted = set(reads)
    for attributes, source in SOURCES:
        if wanted.intersection(attributes):
            source(ids, facts)
    return facts
