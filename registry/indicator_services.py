"""Writes of the quality indicators: snapshots, computed in the background (tasks.py)."""

from django.db import connection, transaction
from django.utils import timezone

from consortium.models import Institution, User

from . import indicators
from .models import IndicatorCell, IndicatorSnapshot


def snapshot_request(*, by: User | None = None) -> IndicatorSnapshot:
    """An on-demand snapshot, queued; the caller starts the task after commit."""
    return IndicatorSnapshot.objects.create(kind=IndicatorSnapshot.Kind.ON_DEMAND, requested_by=by)


def nightly_snapshot() -> IndicatorSnapshot:
    """Tonight's snapshot, made once per day however often beat fires."""
    snapshot, _ = IndicatorSnapshot.objects.get_or_create(
        nightly_day=timezone.localdate(), defaults={"kind": IndicatorSnapshot.Kind.NIGHTLY}
    )
    return snapshot


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
            regions = dict(
                Institution.objects.filter(kind=Institution.Kind.HOSPITAL).values_list(
                    "pk", "health_region"
                )
            )
            counts = indicators.compute_all(timezone.localdate(as_of), regions)
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
            )
    except Exception as error:
        IndicatorSnapshot.objects.filter(pk=snapshot_id).update(
            status=IndicatorSnapshot.Status.FAILED, error=f"{type(error).__name__}: {error}"[:2000]
        )
        raise
    return IndicatorSnapshot.objects.get(pk=snapshot_id)
