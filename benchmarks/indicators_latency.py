#!/usr/bin/env python3
"""p50/p95 latency of the quality-indicators page and API for one signed-in clinician under
concurrent clients, printed beside its floor in the same run: the bare SQL read of the
same snapshot's cells (what the page selects) by as many concurrent PostgreSQL
connections, with no Django, template or HTTP in between.

    DATABASE_URL=... python benchmarks/indicators_latency.py [--base-url http://127.0.0.1:8010]
        [--clients 20] [--requests 200] [--warmup 10]

The page rows, asked for gzipped as a browser does: the page for the published year (kept
whole and gzipped in Redis per snapshot and view of it), the page cycling through every
year and diagnosis group (each first request of a combination renders it: the uncached
cost), and the API list.
Target: p95 under 300 ms. `benchmarks/indicators_latency.sh` sets up gunicorn with
production settings and 50,000 synthetic patients and runs this against it. Standard
library and psycopg2 only; loopback hosts only."""

import gzip
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from _latency import (
    BenchmarkError,
    argument_parser,
    check_base_url,
    fail,
    percentile,
    print_table,
    send,
)
from registry_latency import CLINICIAN_EMAIL, CLINICIAN_PASSWORD, CLINICIAN_TOTP_SECRET, Browser

TARGET_P95_MS = 300
GROUPS = ["", "glioblastoma_idh_wildtype", "astrocytoma_idh_mutant", "not_given"]


def _connect():
    import environ
    import psycopg2

    cfg = environ.Env.db_url_config(os.environ["DATABASE_URL"])
    return psycopg2.connect(
        dbname=cfg["NAME"],
        user=cfg["USER"],
        password=cfg["PASSWORD"] or None,
        host=cfg["HOST"],
        port=cfg["PORT"] or None,
    )


FLOOR_SQL = """
SELECT c.indicator, c.year, c.institution_id, c.region, c.numerator, c.denominator,
       c.left_out, i.code, i.name
FROM registry_indicatorcell c LEFT JOIN consortium_institution i ON i.id = c.institution_id
WHERE c.snapshot_id = %s AND c.diagnosis_group = %s
ORDER BY c.indicator, c.year, i.code"""


def floor(clients: int, requests: int, groups: list[str]) -> dict:
    """The page's cell read as bare SQL, by `clients` connections at once."""
    with _connect() as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT id FROM registry_indicatorsnapshot WHERE status = 'done' "
            "ORDER BY as_of DESC, id DESC LIMIT 1"
        )
        found = cur.fetchone()
    if not found:
        raise BenchmarkError("no indicator snapshot in the database")
    snapshot = found[0]
    shares = [requests // clients + (1 if i < requests % clients else 0) for i in range(clients)]
    start = threading.Barrier(clients)
    rows = []

    def client(index: int, count: int) -> list[float]:
        conn = _connect()
        conn.autocommit = True
        latencies = []
        try:
            with conn.cursor() as cur:
                start.wait()
                for i in range(count):
                    began = time.perf_counter()
                    cur.execute(FLOOR_SQL, [snapshot, groups[(index + i) % len(groups)]])
                    rows.append(len(cur.fetchall()))
                    latencies.append(time.perf_counter() - began)
        finally:
            conn.close()
        return latencies

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [pool.submit(client, i, n) for i, n in enumerate(shares)]
        latencies = sorted(x for f in futures for x in f.result())
    elapsed = time.perf_counter() - began
    return {
        "requests": len(latencies),
        "clients": clients,
        "p50": percentile(latencies, 50) * 1000,
        "p95": percentile(latencies, 95) * 1000,
        "max": latencies[-1] * 1000,
        "rps": len(latencies) / elapsed,
        "cells": max(rows),
    }


def main(argv=None) -> int:
    parser = argument_parser(__doc__)
    args = parser.parse_args(argv)
    try:
        base_url = check_base_url(args.base_url)
        browser = Browser(base_url, args.timeout)
        browser.sign_in(CLINICIAN_EMAIL, CLINICIAN_PASSWORD, CLINICIAN_TOTP_SECRET)
        years = [str(y) for y in range(2016, 2027)]
        every = [f"/registry/indicators/?year={y}&group={g}" for y in years for g in GROUPS]
        # As a browser asks: the page comes gzipped (about 40 KB instead of 290 KB).
        gz = {"Accept-Encoding": "gzip"}
        status, _, body = send(
            browser.opener,
            base_url + "/registry/indicators/",
            {**browser.headers, **gz},
            args.timeout,
        )
        if status != 200 or b"Data as of" not in gzip.decompress(body):
            raise BenchmarkError(f"the indicators page answered {status} without its figures")
        print(
            f"indicators page: {len(body):,} bytes gzipped "
            f"({len(gzip.decompress(body)):,} bytes of HTML)"
        )
        pages = [
            ("indicators page", "/registry/indicators/", gz),
            ("page, every year/group", every, gz),
            ("API, published year", "/api/v1/registry/indicators/", {}),
        ]
        load = os.getloadavg()
        print(f"machine load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min)")
        print_table(base_url, pages, args, target_p95_ms=TARGET_P95_MS, headers=browser.headers)
        row = floor(args.clients, args.requests, GROUPS)
        print(
            f"{'floor: bare SQL read':<24} {'registry_indicatorcell, ' + str(row['cells']):<34} "
            f"{row['requests']:>8} {row['clients']:>7} {row['p50']:>8.1f} {row['p95']:>8.1f} "
            f"{row['max']:>8.1f} {row['rps']:>8.1f}"
        )
        load = os.getloadavg()
        print(f"\nmachine load average after: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    except BenchmarkError as e:
        return fail("indicators_latency", e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
