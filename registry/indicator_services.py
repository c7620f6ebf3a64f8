"""Writes of the quality indicators: snapshots, computed in the background (tasks.py)."""

import csv
import io
import re
from datetime import datetime

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from consortium.models import Institution, User

from . import indicator_history, indicators
from .models import IndicatorCell, IndicatorSnapshot


def snapshots_changed() -> None:
    """A snapshot was requested, started, finished or failed: the indicators page's cached
    view of the snapshots (indicator_selectors.snapshot_state_cached) is stale. Now, and
    again once the change commits (a reader between the two may have cached the old rows)."""
    from .indicator_selectors import SNAPSHOTS_CHANGED_KEY

    def bump():
        try:
            cache.incr(SNAPSHOTS_CHANGED_KEY)
        except ValueError:  # no such key yet (or Redis down: then nothing is cached either)
            cache.set(SNAPSHOTS_CHANGED_KEY, 1, timeout=None)

    bump()
    transaction.on_commit(bump)


def snapshot_request(*, by: User | None = None) -> IndicatorSnapshot:
    """An on-demand snapshot, queued; the caller starts the task after commit."""
    snapshot = IndicatorSnapshot.objects.create(
        kind=IndicatorSnapshot.Kind.ON_DEMAND, requested_by=by
    )
    snapshots_changed()
    return snapshot


def nightly_snapshot() -> IndicatorSnapshot:
    """Tonight's snapshot, made once per day however often beat fires."""
    snapshot, _ = IndicatorSnapshot.objects.get_or_create(
        nightly_day=timezone.localdate(), defaults={"kind": IndicatorSnapshot.Kind.NIGHTLY}
    )
    snapshots_changed()
    return snapshot


def _progress_key(snapshot_id: int) -> str:
    return f"registry:indicator-snapshot-progress:{snapshot_id}"


def snapshot_progress_set(snapshot_id: int, percent: int, text: str) -> None:
    """A running snapshot's progress, in the cache (Redis): the computation runs in one
    long transaction, whose own writes no one else sees until it ends."""
    cache.set(_progress_key(snapshot_id), {"percent": percent, "text": text}, timeout=3600)


def snapshot_progress(snapshot_id: int) -> dict:
    return cache.get(_progress_key(snapshot_id)) or {"percent": 0, "text": "Waiting for a worker"}


def snapshot_compute(snapshot_id: int) -> IndicatorSnapshot:
    """Compute every indicator into the snapshot. Safe to run twice (a redelivered task):
    a finished snapshot is left as it is; an interrupted one is computed afresh."""
    with transaction.atomic():
        snapshot = IndicatorSnapshot.objects.select_for_update().get(pk=snapshot_id)
        if snapshot.status == IndicatorSnapshot.Status.DONE:
            return snapshot
        snapshot.status = IndicatorSnapshot.Status.RUNNING
        snapshot.error = ""
        snapshot.save(update_fields=["status", "error"])
        snapshots_changed()
    outermost = not connection.in_atomic_block
    try:
        with transaction.atomic():
            # Every count reads the same register: one REPEATABLE READ transaction, whose
            # start is the snapshot's as-of time. (Inside an outer transaction, as in a
            # test, that transaction's snapshot already holds.)
            with connection.cursor() as cursor:
                if outermost:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                # PostgreSQL's JIT compiles these expression-heavy plans for seconds before
                # running them in a fraction of that (measured: 3.3 s of JIT for a 0.3 s
                # query); the counting runs without it.
                cursor.execute("SET LOCAL jit = off")
                cursor.execute("SELECT transaction_timestamp()")
                as_of = cursor.fetchone()[0]
            # Which history events this transaction sees, so that the register as it reads
            # it now can be rebuilt later (indicator_history.snapshot_reproduce).
            marks = indicator_history.history_marks()
            regions = dict(
                Institution.objects.filter(kind=Institution.Kind.HOSPITAL).values_list(
                    "pk", "health_region"
                )
            )
            counts = indicators.compute_all(
                timezone.localdate(as_of),
                regions,
                progress=lambda done, of, title: snapshot_progress_set(
                    snapshot_id, round(90 * done / of), f"Counting {title.lower()}"
                ),
            )
            snapshot_progress_set(snapshot_id, 95, "Storing the figures")
            IndicatorCell.objects.filter(snapshot_id=snapshot_id).delete()
            IndicatorCell.objects.bulk_create(
                [
                    IndicatorCell(
                        snapshot_id=snapshot_id,
                        indicator=code,
                        indicator_version=indicators.CATALOGUE[code].version,
                        year=year,
                        institution_id=institution,
                        region=region,
                        diagnosis_group=group,
                        numerator=cell.numerator,
                        denominator=cell.denominator,
                        left_out=cell.left_out,
                    )
                    for (code, year, institution, region, group), cell in counts.items()
                ],
                batch_size=2000,
            )
            IndicatorSnapshot.objects.filter(pk=snapshot_id).update(
                status=IndicatorSnapshot.Status.DONE,
                as_of=as_of,
                finished_at=timezone.now(),
                definitions_version=indicators.DEFINITIONS_VERSION,
                history_marks=marks,
            )
            snapshots_changed()
    except Exception as error:
        IndicatorSnapshot.objects.filter(pk=snapshot_id).update(
            status=IndicatorSnapshot.Status.FAILED, error=f"{type(error).__name__}: {error}"[:2000]
        )
        snapshots_changed()
        raise
    return IndicatorSnapshot.objects.get(pk=snapshot_id)


# --- The Cancer Registry's notified cases ------------------------------------------------------

NOTIFIED_COLUMNS = ("national_id", "diagnosis_date", "icd10", "hospital")
# ICD-10 codes of the register's scope (WHO ICD-10 as Norway codes CNS tumours): the
# three-character categories of registry.vocabulary.TOPOGRAPHY, with or without a subcode.
ICD10_PATTERN = re.compile(r"^[CD]\d\d(\.\d)?$")


def notified_cases_import(*, by: User, year: int, text: str, filename: str = ""):
    """Import the Cancer Registry's notified cases of a year from CSV (national_id,
    diagnosis_date, icd10, hospital): whole or nothing; each bad line is named with its
    field and rule, never with the national ID. Replaces the year's earlier import."""
    from django.conf import settings

    from . import national_id, vocabulary
    from .models import NotifiedCase, NotifiedCaseImport

    categories = {code[:3] for code in vocabulary.TOPOGRAPHY}
    hospitals = dict(
        Institution.objects.filter(kind=Institution.Kind.HOSPITAL).values_list("code", "pk")
    )
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if tuple(header[: len(NOTIFIED_COLUMNS)]) != NOTIFIED_COLUMNS:
        raise ValidationError(
            {
                "file": f"Line 1: the columns must be {', '.join(NOTIFIED_COLUMNS)} (found "
                f"{', '.join(header) or 'none'})."
            }
        )
    reader.fieldnames = header
    errors, rows, seen = [], [], set()
    for line, raw in enumerate(reader, start=2):
        record = {k: (v or "").strip() for k, v in raw.items() if k}
        problems = []
        try:
            number = national_id.parse(
                record["national_id"], allow_synthetic=settings.ALLOW_SYNTHETIC_NATIONAL_IDS
            ).number
        except ValidationError as error:
            number = None
            problems.append(f"national_id: {error.messages[0]}")
        day = None
        for form in ("%Y-%m-%d", "%d.%m.%Y"):
            try:
                day = datetime.strptime(record["diagnosis_date"], form).date()
                break
            except ValueError:
                continue
        if day is None:
            problems.append("diagnosis_date: a date, YYYY-MM-DD or DD.MM.YYYY")
        elif day.year != year:
            problems.append(f"diagnosis_date: not in {year}, the year imported")
        icd10 = record["icd10"].upper()
        if not ICD10_PATTERN.match(icd10) or icd10[:3] not in categories:
            problems.append("icd10: an ICD-10 code of a CNS tumour (C70-C72, C75, D32-D33, …)")
        if record["hospital"].upper() not in hospitals:
            problems.append(f"hospital: no hospital with the code {record['hospital']!r}")
        if number and day and (number, day) in seen:
            problems.append("the same person and diagnosis date as an earlier line")
        if problems:
            errors.append(f"Line {line}: " + "; ".join(problems))
            continue
        seen.add((number, day))
        rows.append((number, day, icd10, hospitals[record["hospital"].upper()]))
    if errors:
        raise ValidationError({"file": errors[:50]})
    if not rows:
        raise ValidationError({"file": "The file has no cases."})
    with transaction.atomic():
        NotifiedCaseImport.objects.filter(year=year).delete()
        source = NotifiedCaseImport.objects.create(
            year=year, imported_by=by, filename=filename[:200], cases=len(rows)
        )
        NotifiedCase.objects.bulk_create(
            [
                NotifiedCase(
                    source=source,
                    year=year,
                    national_id=number,
                    diagnosis_date=day,
                    icd10=icd10,
                    institution_id=hospital,
                )
                for number, day, icd10, hospital in rows
            ]
        )
    return source


# --- Reproducing a snapshot from the change history ---------------------------------------------


def reproduction_request(*, snapshot_id: int, by: User):
    """Queue a recomputation of a finished snapshot from the history (admins, who start
    computations too); the caller starts the task after commit. While one is queued or
    running for the snapshot, that one is answered instead of a second."""
    from django.core.exceptions import PermissionDenied

    from .models import IndicatorReproduction

    if not by.is_consortium_admin:
        raise PermissionDenied("Admins reproduce a snapshot; everyone signed in sees the result.")
    with transaction.atomic():
        snapshot = IndicatorSnapshot.objects.select_for_update().get(pk=snapshot_id)
        refusal = indicator_history.reproducible(snapshot)
        if refusal:
            raise ValidationError({"snapshot": refusal})
        pending = snapshot.reproductions.filter(
            status__in=[IndicatorReproduction.Status.QUEUED, IndicatorReproduction.Status.RUNNING]
        ).first()
        if pending is not None:
            return pending, False
        return IndicatorReproduction.objects.create(snapshot=snapshot, requested_by=by), True


def _reproduction_progress_key(reproduction_id: int) -> str:
    return f"registry:indicator-reproduction-progress:{reproduction_id}"


def reproduction_progress(reproduction) -> dict:
    if reproduction.status == reproduction.Status.DONE:
        return {"percent": 100, "text": "Done"}
    if reproduction.status == reproduction.Status.FAILED:
        return {"percent": 100, "text": "Failed"}
    return cache.get(_reproduction_progress_key(reproduction.pk)) or {
        "percent": 0,
        "text": "Waiting for a worker",
    }


# Cell-level differences kept per reproduction (they are listed to admins; the count is kept).
DIFFERENCES_KEPT = 200


def reproduction_run(reproduction_id: int):
    """Rebuild the register as the snapshot read it and compare every cell. Safe to run
    twice (a redelivered task): a finished reproduction is left as it is; an interrupted
    one is run afresh."""
    from .models import IndicatorReproduction

    with transaction.atomic():
        reproduction = IndicatorReproduction.objects.select_for_update().get(pk=reproduction_id)
        if reproduction.status in (
            IndicatorReproduction.Status.DONE,
            IndicatorReproduction.Status.FAILED,
        ):
            return reproduction
        reproduction.status = IndicatorReproduction.Status.RUNNING
        reproduction.save(update_fields=["status"])
    key = _reproduction_progress_key(reproduction_id)
    cache.set(key, {"percent": 2, "text": "Rebuilding the register from its history"}, 3600)

    def progress(done: int, of: int, title: str) -> None:
        cache.set(
            key, {"percent": 5 + round(90 * done / of), "text": f"Counting {title.lower()}"}, 3600
        )

    try:
        result = indicator_history.snapshot_reproduce(reproduction.snapshot_id, progress=progress)
    except Exception as error:
        IndicatorReproduction.objects.filter(pk=reproduction_id).update(
            status=IndicatorReproduction.Status.FAILED,
            finished_at=timezone.now(),
            error=f"{type(error).__name__}: {error}"[:2000],
        )
        if isinstance(error, ValueError):  # refused (say the definitions changed): no retry
            return IndicatorReproduction.objects.get(pk=reproduction_id)
        raise
    IndicatorReproduction.objects.filter(pk=reproduction_id).update(
        status=IndicatorReproduction.Status.DONE,
        finished_at=timezone.now(),
        exact=result.exact,
        cells=result.cells,
        equal=result.agrees,
        differing_indicators=result.differing_indicators,
        differences=result.differences[:DIFFERENCES_KEPT],
        differences_total=len(result.differences),
    )
    return IndicatorReproduction.objects.get(pk=reproduction_id)
