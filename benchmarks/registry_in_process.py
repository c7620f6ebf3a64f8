"""The patient page and the patient list in process, beside their own SQL: where a page's
time goes once the network and gunicorn are taken away.

    DATABASE_URL=... .venv/bin/python benchmarks/registry_in_process.py \
        --register-numbers NB-...,NB-... [--rounds 4] [--profile 30]

Signs the benchmark clinician (registry_latency.sh makes them) in through the real password
and TOTP steps with Django's test client (the whole middleware stack, no test instrumentation),
then for each page: the median time of one request in process, the number of queries, and its
own SQL time: the very statements the request sent (captured with the database's execute
wrapper, parameters included) run again as bare SQL on the same connection with every row
fetched, in a transaction rolled back afterwards (the access-log insert included). The ratio of
the two is the page's in-process cost per unit of SQL; the register's target is at most 4x for
the patient page. --profile N prints the N dearest functions (cProfile, cumulative) of the
patient page.
"""

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "consortium.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from registry_latency import (  # noqa: E402
    CLINICIAN_EMAIL,
    CLINICIAN_PASSWORD,
    CLINICIAN_TOTP_SECRET,
    totp_code,
)

from consortium.warmup import warm_up  # noqa: E402

TARGET_RATIO = 4


def _ok(response, expected: int = 200):
    if response.status_code != expected:
        sys.exit(f"{response.request['PATH_INFO']} answered {response.status_code}")
    return response


def sign_in() -> Client:
    client = Client(SERVER_NAME="localhost")
    _ok(
        client.post("/accounts/login/", {"login": CLINICIAN_EMAIL, "password": CLINICIAN_PASSWORD}),
        302,
    )
    for attempt in range(2):
        # allauth refuses a code used in the last 30 s (the HTTP benchmark's): wait for the next.
        answer = client.post(
            "/accounts/2fa/authenticate/", {"code": totp_code(CLINICIAN_TOTP_SECRET)}
        )
        if answer.status_code == 302:
            return client
        if attempt == 0:
            time.sleep(30.5 - time.time() % 30)
    sys.exit(f"the TOTP code was refused ({answer.status_code})")


def captured(client: Client, path: str) -> list[tuple[str, object]]:
    statements = []

    def keep(execute, sql, params, many, context):
        statements.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(keep):
        _ok(client.get(path))
    return statements


def bare_sql_ms(statements) -> float:
    """The statements again, as bare SQL on the page's own connection, every row fetched."""
    raw = connection.connection  # psycopg's own connection: no Django wrapper in between
    began = time.perf_counter()
    with raw.cursor() as cursor:
        cursor.execute("BEGIN")
        for sql, params in statements:
            cursor.execute(sql, params)
            if cursor.description is not None:
                cursor.fetchall()
        cursor.execute("ROLLBACK")
    return 1000 * (time.perf_counter() - began)


def measure(client: Client, paths: list[str], rounds: int) -> dict:
    for path in paths[:5]:  # warm: templates compiled, connection open
        _ok(client.get(path))
    page_ms, sql_ms, queries = [], [], set()
    for _ in range(rounds):
        for path in paths:
            began = time.perf_counter()
            _ok(client.get(path))
            page_ms.append(1000 * (time.perf_counter() - began))
            statements = captured(client, path)
            queries.add(len(statements))
            sql_ms.append(bare_sql_ms(statements))
    page, sql = statistics.median(page_ms), statistics.median(sql_ms)
    return {"page": page, "sql": sql, "ratio": page / sql, "queries": sorted(queries)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--register-numbers", type=lambda t: t.split(","), required=True)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    parser.add_argument("--no-warm-up", action="store_true", help="skip the worker's warm-up")
    args = parser.parse_args()
    if not args.no_warm_up:
        # As a gunicorn worker starts (consortium/wsgi.py): URLconf, templates, gc.freeze().
        warm_up(freeze=True)
    client = sign_in()
    patients = [f"/registry/patients/{n}/" for n in args.register_numbers]
    rows = [
        ("patient page", measure(client, patients, args.rounds)),
        ("patient list", measure(client, ["/registry/"], args.rounds * len(patients))),
    ]
    print(f"\nin process (one client, median of {args.rounds * len(patients)} requests each)")
    print(f"{'page':<16} {'in process ms':>14} {'own SQL ms':>11} {'ratio':>6} {'queries':>8}")
    for name, row in rows:
        verdict = ""
        if name == "patient page":
            verdict = (
                f"  (target <= {TARGET_RATIO}x: {'yes' if row['ratio'] <= TARGET_RATIO else 'NO'})"
            )
        queries = "/".join(map(str, row["queries"]))
        print(
            f"{name:<16} {row['page']:>14.1f} {row['sql']:>11.1f} {row['ratio']:>5.1f}x "
            f"{queries:>8}{verdict}"
        )
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for path in patients * 2:
            client.get(path)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
