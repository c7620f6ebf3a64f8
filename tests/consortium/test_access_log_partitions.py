"""The access log is partitioned by month: rows land in their month's partition, the
append-only guards hold on every partition (UPDATE, DELETE, TRUNCATE of a partition
itself), the daily task makes the coming months' partitions, and rows that went to the
default partition move into their month when it is made, none lost."""

from datetime import UTC, date, datetime

import pytest
from django.db import DatabaseError, connection, transaction

from consortium import partitions, tasks
from consortium.models import AccessLog, Role
from tests.conftest import make_member

pytestmark = pytest.mark.django_db


def _log(user, at: datetime, patient_id: int = 1) -> AccessLog:
    return AccessLog.objects.create(user=user, patient_id=patient_id, at=at, page="p", path="/")


def _partition_of(row: AccessLog) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT tableoid::regclass::text FROM {partitions.TABLE} WHERE id = %s",  # noqa: S608
            [row.pk],
        )
        return cursor.fetchone()[0]


def _refused(sql: str, params=()) -> str:
    with pytest.raises(DatabaseError) as error, transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
    return str(error.value)


def test_rows_land_in_their_months_partition_and_the_table_is_partitioned():
    user = make_member(Role.ADMIN)
    now = datetime.now(UTC)
    row = _log(user, now)
    assert _partition_of(row) == partitions.partition_name(now.date())
    far = _log(user, datetime(2099, 5, 1, tzinfo=UTC))
    assert _partition_of(far) == partitions.DEFAULT_PARTITION  # never refused
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE relname = %s", [partitions.TABLE])
        assert cursor.fetchone() == ("p",)


def test_every_partition_refuses_update_delete_and_truncate():
    user = make_member(Role.ADMIN)
    row = _log(user, datetime.now(UTC))
    partition = _partition_of(row)
    with connection.cursor() as cursor:
        names = partitions.existing_partitions(cursor)
        # The row's deferred foreign-key check runs now, not at the test's end: a table
        # with pending checks refuses TRUNCATE for that reason instead of the guard's.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert partition in names and partitions.DEFAULT_PARTITION in names
    for name in sorted(names):
        assert "Cannot truncate" in _refused(f"TRUNCATE {name}"), name
    assert "Cannot update or delete" in _refused(
        f"UPDATE {partition} SET page = 'changed' WHERE id = %s",  # noqa: S608
        [row.pk],
    )
    assert "Cannot update or delete" in _refused(
        f"DELETE FROM {partition} WHERE id = %s",  # noqa: S608
        [row.pk],
    )
    assert AccessLog.objects.get(pk=row.pk).page == "p"


def test_the_daily_task_makes_the_coming_months_once():
    with connection.cursor() as cursor:
        before = partitions.existing_partitions(cursor)
    # From a day in 2031, none of whose months exist yet: that month and the next two.
    made = partitions.ensure_partitions(date(2031, 11, 20))
    assert made == [
        "consortium_accesslog_y2031m11",
        "consortium_accesslog_y2031m12",
        "consortium_accesslog_y2032m01",
    ]
    assert partitions.ensure_partitions(date(2031, 11, 20)) == []  # idempotent
    with connection.cursor() as cursor:
        assert partitions.existing_partitions(cursor) - before == set(made)
    assert tasks.access_log_partitions.apply().get() == []  # today's months exist already


def test_rows_in_the_default_partition_move_into_their_new_month():
    user = make_member(Role.ADMIN)
    early, late = datetime(2033, 3, 1, tzinfo=UTC), datetime(2033, 3, 31, 23, 59, tzinfo=UTC)
    rows = [_log(user, early, 7), _log(user, late, 8), _log(user, datetime(2033, 4, 1, tzinfo=UTC))]
    assert {_partition_of(r) for r in rows} == {partitions.DEFAULT_PARTITION}
    assert partitions.create_month_partition(date(2033, 3, 5)) is True
    assert [_partition_of(r) for r in rows] == [
        "consortium_accesslog_y2033m03",
        "consortium_accesslog_y2033m03",
        partitions.DEFAULT_PARTITION,  # April: not made yet
    ]
    moved = AccessLog.objects.filter(pk__in=[r.pk for r in rows]).order_by("id")
    assert [(r.patient_id, r.at) for r in moved] == [(7, early), (8, late), (1, rows[2].at)]
    # The guard is back on the default partition once the move is done.
    assert "Cannot update or delete" in _refused(
        f"DELETE FROM {partitions.DEFAULT_PARTITION} WHERE id = %s",  # noqa: S608
        [rows[2].pk],
    )
