"""The access log is partitioned by month (PostgreSQL declarative partitioning,
https://www.postgresql.org/docs/15/ddl-partitioning.html): it grows by a row per patient
shown, tens of millions in a few years, and a month's partition keeps each index small
and a period's reads to the months it spans (partition pruning).

- One partition per calendar month (UTC bounds), named consortium_accesslog_y2026m12;
  a DEFAULT partition takes any row no month partition covers, so a write never fails.
- A daily beat task (tasks.access_log_partitions) makes sure this month and the next
  ones exist; a month whose rows went to the default partition meanwhile is moved out.
- The primary key is (id, at): a partitioned table's unique keys must hold the partition
  column. Django keeps seeing `id` as the key (ids stay unique: one sequence).
- Append-only on every partition: the row trigger of AccessLog (UPDATE/DELETE refused)
  is cloned to each partition by PostgreSQL; the statement-level TRUNCATE trigger is
  not (statement triggers stay on the table they were made on), so each partition gets
  its own, with the same name and function, which pgtrigger.ignore recognises."""

from datetime import UTC, date, datetime

import pgtrigger
from django.db import connection, transaction

TABLE = "consortium_accesslog"
DEFAULT_PARTITION = f"{TABLE}_default"
MONTHS_AHEAD = 2


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"{TABLE}_y{month.year}m{month.month:02d}"


def _bound(day: date) -> str:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).isoformat()


def _truncate_trigger() -> tuple[str, str]:
    """(trigger name, function) of AccessLog's TRUNCATE guard, as pgtrigger installed it."""
    from .append_only import TRUNCATE_TRIGGER
    from .models import AccessLog

    trigger = next(t for t in AccessLog._meta.triggers if t.name == TRUNCATE_TRIGGER)
    pgid = trigger.get_pgid(AccessLog)
    return pgid, pgid


def guard_against_truncate(cursor, table: str) -> None:
    name, function = _truncate_trigger()
    cursor.execute(
        f"CREATE OR REPLACE TRIGGER {name} BEFORE TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
    )


def existing_partitions(cursor) -> set[str]:
    cursor.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = %s::regclass",
        [TABLE],
    )
    return {name for (name,) in cursor.fetchall()}


@transaction.atomic
def create_month_partition(month: date) -> bool:
    """The month's partition (False when it was there already). Rows of that month that
    went to the default partition are moved into it, in the same transaction."""
    month = month_start(month)
    name = partition_name(month)
    start, end = _bound(month), _bound(next_month(month))
    with connection.cursor() as cursor:
        if name in existing_partitions(cursor):
            return False
        # Held until commit: no row can land in the default partition between the move
        # and the new partition taking its range.
        cursor.execute(f"LOCK TABLE {TABLE} IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(
            f"SELECT EXISTS (SELECT FROM {DEFAULT_PARTITION} WHERE at >= %s AND at < %s)",  # noqa: S608
            [start, end],
        )
        (moving,) = cursor.fetchone()
        if moving:
            cursor.execute("DROP TABLE IF EXISTS pg_temp.moving_access_log")
            cursor.execute(
                "CREATE TEMPORARY TABLE moving_access_log AS "  # noqa: S608 - constants
                f"SELECT * FROM {DEFAULT_PARTITION} WHERE at >= %s AND at < %s",
                [start, end],
            )
            # Rows move between partitions of the same log, nothing is lost: the guard
            # against deleting is lifted for this one statement.
            with pgtrigger.ignore("consortium.AccessLog:append_only"):
                cursor.execute(
                    f"DELETE FROM {DEFAULT_PARTITION} WHERE at >= %s AND at < %s",  # noqa: S608
                    [start, end],
                )
        cursor.execute(
            f"CREATE TABLE {name} PARTITION OF {TABLE} FOR VALUES FROM (%s) TO (%s)",
            [start, end],
        )
        guard_against_truncate(cursor, name)
        if moving:
            cursor.execute(f"INSERT INTO {TABLE} SELECT * FROM moving_access_log")  # noqa: S608
            cursor.execute("DROP TABLE moving_access_log")
    return True


def ensure_partitions(today: date | None = None, months_ahead: int = MONTHS_AHEAD) -> list[str]:
    """This month's partition and the next `months_ahead`; returns those it made."""
    from django.utils import timezone

    month = month_start(today or timezone.now().astimezone(UTC).date())
    made = []
    for _ in range(months_ahead + 1):
        if create_month_partition(month):
            made.append(partition_name(month))
        month = next_month(month)
    return made
