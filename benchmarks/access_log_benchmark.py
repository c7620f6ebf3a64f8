"""Access-log benchmark: the review's reads at ten million rows, each beside its floor
(the bare SQL of the same page: the same filter, order and LIMIT, no flags, no ORM).

    DATABASE_URL=postgres://.../nbtc_access_bench DJANGO_DEBUG=1 \\
        .venv/bin/python benchmarks/access_log_benchmark.py [--rows 10000000] [--runs 15]

Use a database of its own (the log is append-only: the rows it loads stay). It migrates it,
then tops the access log up to --rows with rows spread over the last 24 months (each in
its month's partition), 400 members and 60,000 patients, in one INSERT ... SELECT per
month. Timed, through the app's own code (AccessLogFilter, with_flags, keyset_page,
the capped count, the serializer), p50 and p95 of --runs:

- the review's first page (newest 50, every flag computed);
- a page 200 pages in, by its cursor;
- one member's newest page; one patient's; one institution's members over one month.

Target: every read under 200 ms at 10 million rows."""

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "consortium.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.http import QueryDict  # noqa: E402

from consortium import partitions  # noqa: E402
from consortium.models import AccessLog, Institution, Membership, Role, User  # noqa: E402
from consortium.pagination import keyset_page  # noqa: E402
from registry import access_review  # noqa: E402
from registry.access_api import AccessLogEntryOutput  # noqa: E402
from registry.filters import AccessLogFilter  # noqa: E402

MEMBERS, PATIENTS, MONTHS = 400, 60_000, 24


def members() -> list[int]:
    have = list(User.objects.filter(email__endswith="@bench.example").values_list("pk", flat=True))
    hospitals = list(Institution.objects.filter(kind="hospital").order_by("pk"))
    for i in range(len(have), MEMBERS):
        user = User.objects.create_user(
            f"member{i}@bench.example", role=Role.CLINICIAN, full_name=f"Member {i}"
        )
        Membership.objects.create(user=user, institution=hospitals[i % len(hospitals)])
        have.append(user.pk)
    return have


def load(rows: int, member_ids: list[int]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {partitions.TABLE}")  # noqa: S608
        (present,) = cursor.fetchone()
        missing = rows - present
        if missing <= 0:
            return
        now = datetime.now(UTC)
        first = partitions.month_start((now - timedelta(days=30 * (MONTHS - 1))).date())
        month = first
        while month <= now.date():
            partitions.create_month_partition(month)
            month = partitions.next_month(month)
        per_month = missing // MONTHS + 1
        month = first
        started = time.perf_counter()
        for _ in range(MONTHS):
            start = datetime(month.year, month.month, 1, tzinfo=UTC)
            seconds = (
                datetime(*partitions.next_month(month).timetuple()[:3], tzinfo=UTC) - start
            ).total_seconds()
            cursor.execute(
                f"INSERT INTO {partitions.TABLE} (at, user_id, patient_id, page, path, method) "  # noqa: S608
                "SELECT %s::timestamptz + random() * %s * interval '1 second', "
                "(%s::bigint[])[1 + (random() * (%s - 1))::int], "
                "1 + (random() * %s)::bigint, "
                "(ARRAY['registry:patient', 'registry:patient_list', 'registry:patient_history',"
                " 'trials:match_detail', 'api:registry_patient'])[1 + (random() * 4)::int], "
                "'/registry/patients/NB-BENC-H000/', 'GET' FROM generate_series(1, %s)",
                [start, seconds, member_ids, len(member_ids), PATIENTS, per_month],
            )
            print(f"  loaded {month:%Y-%m}: {per_month:,} rows", flush=True)
            month = partitions.next_month(month)
        cursor.execute(f"ANALYZE {partitions.TABLE}")
        print(f"loaded {per_month * MONTHS:,} rows in {time.perf_counter() - started:.0f} s")


def timed(function, runs: int) -> tuple[float, float]:
    function()  # warm: plans and caches, as a busy server has them
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[max(0, round(0.95 * len(times)) - 1)]


class _Request:
    def __init__(self, user, params):
        self.user, self.GET = user, params


def app_read(user, params: dict, after: str = ""):
    def run():
        query = QueryDict(mutable=True)
        query.update(params)
        entries = access_review.with_flags(AccessLog.objects.all())
        filters = AccessLogFilter(query, queryset=entries, request=_Request(user, query))
        if not filters.is_valid():
            raise SystemExit(f"bad filters: {filters.errors}")
        access_review.capped_count(filters.qs)
        page = keyset_page(filters.qs, after=after, size=50)
        access_review.mark_many_patients(page.rows)
        AccessLogEntryOutput(page.rows, many=True).data  # noqa: B018
        return page

    return run


def floor_read(where: str, params: list, key=None):
    def run():
        condition, values = where, list(params)
        if key is not None:
            condition += " AND (at, id) < (%s, %s)"
            values += list(key)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT count(*) FROM (SELECT 1 FROM {partitions.TABLE} WHERE {where} "  # noqa: S608
                "LIMIT 10001) c",
                params,
            )
            cursor.execute(
                f"SELECT id, at, user_id, patient_id, page, path, method, ip "  # noqa: S608
                f"FROM {partitions.TABLE} WHERE {condition} ORDER BY at DESC, id DESC LIMIT 51",
                values,
            )
            return cursor.fetchall()

    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    member_ids = members()
    load(args.rows, member_ids)
    admin = User.objects.filter(role=Role.ADMIN).first() or User.objects.create_user(
        "admin@bench.example", role=Role.ADMIN
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {partitions.TABLE}")  # noqa: S608
        (total,) = cursor.fetchone()
    member = member_ids[7]
    hospital = Institution.objects.get(code="HUS")
    month_ago = (datetime.now(UTC) - timedelta(days=60)).date().replace(day=1)
    month_end = (partitions.next_month(month_ago) - timedelta(days=1)).isoformat()
    # A cursor 200 pages (10,000 rows) in, as a reviewer paging on would hold it.
    skipped = keyset_page(AccessLog.objects.order_by("-at", "-id"), size=10_000)
    later, after = skipped.rows[-1], skipped.next_cursor
    members_of_hospital = list(
        Membership.objects.filter(institution=hospital).values_list("user_id", flat=True)
    )
    cases = [
        ("first page (newest 50)", {}, "", "TRUE", [], None),
        ("200 pages in (cursor)", {}, after, "TRUE", [], (later.at, later.pk)),
        ("one member", {"member": str(member)}, "", "user_id = %s", [member], None),
        ("one patient", {}, "", "patient_id = %s", [4242], None),
        (
            "one institution, one month",
            {"institution": "HUS", "since": month_ago.isoformat(), "until": month_end},
            "",
            "user_id = ANY(%s) AND at >= %s AND at < %s",
            [
                members_of_hospital,
                datetime(month_ago.year, month_ago.month, 1, tzinfo=UTC),
                datetime(*partitions.next_month(month_ago).timetuple()[:3], tzinfo=UTC),
            ],
            None,
        ),
    ]
    with connection.cursor() as cursor:
        count = len(partitions.existing_partitions(cursor))
    print(f"access log: {total:,} rows in {count} partitions")
    print(f"{'read':34} {'app p50':>9} {'app p95':>9} {'SQL p50':>9} {'SQL p95':>9}")
    for name, params, cursor_value, where, values, key in cases:
        if name == "one patient":
            # The patient filter takes a register number; the benchmark's patients are ids
            # only, so this read filters the queryset by the id directly (same SQL).
            def run(values=values):
                entries = access_review.with_flags(AccessLog.objects.filter(patient_id=values[0]))
                access_review.capped_count(entries)
                page = keyset_page(entries.order_by("-at", "-id"), size=50)
                access_review.mark_many_patients(page.rows)
                AccessLogEntryOutput(page.rows, many=True).data  # noqa: B018

            app = timed(run, args.runs)
        else:
            app = timed(app_read(admin, params, cursor_value), args.runs)
        floor = timed(floor_read(where, values, key), args.runs)
        print(f"{name:34} {app[0]:8.1f}  {app[1]:8.1f}  {floor[0]:8.1f}  {floor[1]:8.1f}  ms")


if __name__ == "__main__":
    main()
