"""The register as it was when an indicator snapshot was computed, rebuilt from the change
history that django-pghistory's triggers already keep (every insert, update and delete of
the tables the indicators read, in append-only event tables).

Why the history and not a frozen copy of the inputs: the history is kept anyway, for every
change, with who and why; a per-snapshot copy of every episode would add a second copy of
the register every night. The history answers for any snapshot at the cost of one read.

Which events a snapshot saw is recorded exactly, not guessed from times. An event's time
(pghistory's NOW()) is its transaction's start, and a transaction that began before the
snapshot and committed after it was invisible to the snapshot although its events are
older. So the snapshot's own transaction writes down, per event table, the highest event
id it could see and the ids below it that it could not (the gaps: transactions still open
or rolled back). Event ids come from one sequence per table, and a row's later event
always has the higher id (its writer waited for the row lock), so "the newest visible
event of each row, unless that is a delete" is the row as the snapshot read it.

The counting code then runs unchanged over temporary tables of the same names, which
PostgreSQL resolves before the real ones (pg_temp is searched first: PostgreSQL docs, "The
Schema Search Path", https://www.postgresql.org/docs/current/ddl-schemas.html)."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

from django.apps import apps
from django.db import connection, transaction
from django.utils import timezone

from consortium.models import Institution

from . import indicators
from .models import (
    IndicatorCell,
    IndicatorSnapshot,
    MolecularMarker,
    NotifiedCase,
    Patient,
    RadiotherapyCourse,
    Surgery,
    SystemicTherapy,
    TumourEpisode,
)

# Every table the indicators read, with the columns to index in the rebuilt copy (the
# counting joins and correlated subqueries use them).
TRACKED = [
    (Patient, ["id", "national_id"]),
    (TumourEpisode, ["id", "patient_id"]),
    (Surgery, ["episode_id"]),
    (RadiotherapyCourse, ["episode_id"]),
    (SystemicTherapy, ["episode_id"]),
    (MolecularMarker, ["episode_id"]),
    (NotifiedCase, ["national_id"]),
    (Institution, ["id"]),
]


def _event_model(model):
    return apps.get_model(model._meta.app_label, f"{model.__name__}Event")


def history_marks() -> dict:
    """Called inside the snapshot's transaction: per event table, the highest event id it
    sees and the id ranges below that it does not see."""
    marks = {}
    with connection.cursor() as cursor:
        for model, _ in TRACKED:
            table = _event_model(model)._meta.db_table
            cursor.execute(
                f"SELECT lo, hi FROM (SELECT lag(pgh_id, 1, 0) OVER (ORDER BY pgh_id) + 1 AS lo, "  # noqa: S608
                f'pgh_id - 1 AS hi FROM "{table}") gaps WHERE hi >= lo'
            )
            gaps = [[lo, hi] for lo, hi in cursor.fetchall()]
            cursor.execute(f'SELECT coalesce(max(pgh_id), 0) FROM "{table}"')  # noqa: S608
            marks[table] = {"max": cursor.fetchone()[0], "gaps": gaps}
    return marks


def _visible(table: str, snapshot: IndicatorSnapshot) -> tuple[str, list]:
    mark = snapshot.history_marks.get(table)
    if mark is None:
        # A snapshot from before the marks were kept: by time, which may include a
        # transaction that was still open when the snapshot was taken.
        return "e.pgh_created_at <= %s", [snapshot.as_of]
    lows = [lo for lo, _ in mark["gaps"]]
    highs = [hi for _, hi in mark["gaps"]]
    return (
        "e.pgh_id <= %s AND NOT EXISTS (SELECT 1 FROM unnest(%s::bigint[], %s::bigint[]) "
        "AS g(lo, hi) WHERE e.pgh_id BETWEEN g.lo AND g.hi)",
        [mark["max"], lows, highs],
    )


@contextmanager
def register_as_of(snapshot: IndicatorSnapshot):
    """Inside: the ORM reads the tracked tables as the snapshot read them. Temporary
    tables, dropped again on the way out (a savepoint, so an error drops them too)."""
    with transaction.atomic(), connection.cursor() as cursor:
        for model, index_columns in TRACKED:
            event = _event_model(model)
            event_columns = {f.column for f in event._meta.concrete_fields}
            columns = ", ".join(
                f'"{f.column}"' for f in model._meta.concrete_fields if f.column in event_columns
            )
            table = model._meta.db_table
            visible, params = _visible(event._meta.db_table, snapshot)
            cursor.execute(
                f'CREATE TEMPORARY TABLE "{table}" AS SELECT {columns} FROM ('  # noqa: S608
                f"SELECT DISTINCT ON (e.pgh_obj_id) e.*, e.pgh_label AS last_label "
                f'FROM "{event._meta.db_table}" e WHERE {visible} '
                f"ORDER BY e.pgh_obj_id, e.pgh_id DESC) newest WHERE last_label <> 'delete'",
                params,
            )
            for column in index_columns:
                cursor.execute(f'CREATE INDEX ON pg_temp."{table}" ("{column}")')
            cursor.execute(f'ANALYZE pg_temp."{table}"')
        try:
            yield
        finally:
            for model, _ in TRACKED:
                cursor.execute(f'DROP TABLE IF EXISTS pg_temp."{model._meta.db_table}"')


@dataclass
class Reproduction:
    snapshot: IndicatorSnapshot
    cells: int = 0
    differences: list[str] = field(default_factory=list)
    recomputed: dict = field(default_factory=dict)  # cell key -> (numerator, denominator, left out)
    exact: bool = True  # False for snapshots from before the visibility marks were kept
    differing_indicators: list[str] = field(default_factory=list)  # their codes, sorted

    @property
    def agrees(self) -> bool:
        return not self.differences


def _stored_cells(snapshot: IndicatorSnapshot) -> dict:
    return {
        (c.indicator, c.year, c.institution_id, c.region, c.diagnosis_group): (
            c.numerator,
            c.denominator,
            c.left_out,
        )
        for c in IndicatorCell.objects.filter(snapshot=snapshot)
    }


def reproducible(snapshot: IndicatorSnapshot) -> str | None:
    """Why the snapshot cannot be reproduced, or None."""
    if snapshot.status != IndicatorSnapshot.Status.DONE:
        return f"Snapshot {snapshot.pk} is {snapshot.status}, not done."
    if snapshot.definitions_version != indicators.DEFINITIONS_VERSION:
        return (
            f"Snapshot {snapshot.pk} was computed with definitions "
            f"{snapshot.definitions_version}; the code holds {indicators.DEFINITIONS_VERSION}."
        )
    return None


def snapshot_reproduce(snapshot_id: int, progress=None) -> Reproduction:
    """Recompute a finished snapshot from the register as of its data's moment and compare
    every cell with the stored one. Only under the definitions it was computed with: an
    old definition is not kept in code, so a snapshot of another version is refused."""
    snapshot = IndicatorSnapshot.objects.get(pk=snapshot_id)
    refusal = reproducible(snapshot)
    if refusal:
        raise ValueError(refusal)
    result = Reproduction(snapshot=snapshot, exact=bool(snapshot.history_marks))
    stored = _stored_cells(snapshot)
    with register_as_of(snapshot), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        regions = dict(
            Institution.objects.filter(kind=Institution.Kind.HOSPITAL).values_list(
                "pk", "health_region"
            )
        )
        counts = indicators.compute_all(
            timezone.localdate(snapshot.as_of), regions, progress=progress
        )
    again = {key: (c.numerator, c.denominator, c.left_out) for key, c in counts.items()}
    result.recomputed = again
    result.cells = len(stored)
    differing = set()
    for key in sorted(set(stored) | set(again), key=str):
        if stored.get(key) != again.get(key):
            differing.add(key[0])
            result.differences.append(f"{key}: stored {stored.get(key)}, again {again.get(key)}")
    result.differing_indicators = sorted(differing)
    return result
