"""Screening benchmark: prints figures (queries and milliseconds) for the lab dashboard,
a request page and the alert check at a given volume of requests.

    DATABASE_URL=... DJANGO_DEBUG=1 .venv/bin/python benchmarks/screening_benchmark.py \
        [--requests 2000]

It runs in a transaction that is rolled back, against the database named (use a
development or benchmark database: it needs the demo members from load_demo and demo
patients from create_demo_data)."""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "consortium.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from consortium.models import User  # noqa: E402
from screening import services  # noqa: E402
from screening.management.commands.create_demo_screening import _make  # noqa: E402
from screening.models import ScreeningRequest  # noqa: E402


class Rollback(Exception):
    pass


def _time(client, path, runs=15):
    timings = []
    client.get(path)  # warm
    # Counted by an execute wrapper: request_started resets connection.queries.
    captured = []
    with connection.execute_wrapper(
        lambda execute, sql, *a: captured.append(sql) or execute(sql, *a)
    ):
        _check(client.get(path), path)
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(path)
        timings.append((time.perf_counter() - start) * 1000)
        _check(response, path)
    return len(captured), statistics.median(timings), max(timings)


def _check(response, path: str) -> None:
    # A figure for an error page would be meaningless: stop (not assert: python -O skips it).
    if response.status_code != 200:
        raise SystemExit(f"{path}: HTTP {response.status_code}, expected 200")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--requests", type=int, default=1000, help="requests to create (batches of 30)"
    )
    args = parser.parse_args()
    import random

    from registry.models import TumourEpisode

    clinician = User.objects.get(email="clinician@demo.nbtc.no")
    lab = User.objects.get(email="lab@demo.nbtc.no")
    episodes = list(TumourEpisode.objects.filter(patient__institutions__code="OUS").order_by("pk"))
    try:
        with transaction.atomic():
            start = time.perf_counter()
            rng = random.Random(1)  # noqa: S311 - seeded synthetic data, the same every run
            made = 0
            while made < args.requests:
                made += _make(
                    rng, clinician, lab, [episodes[(made + i) % len(episodes)] for i in range(30)]
                )
            print(
                f"created {made} requests in {time.perf_counter() - start:.1f} s "
                f"({ScreeningRequest.objects.count()} in the lab)"
            )
            client = Client(HTTP_HOST="localhost")
            client.force_login(lab)
            session = client.session
            # Benchmark only: the session counts as having passed the TOTP step (tested elsewhere).
            from allauth.account.internal.flows import login as allauth_login

            session[allauth_login._AUTHENTICATION_METHODS_USER_SESSION_KEY] = str(lab.pk)
            session[allauth_login.AUTHENTICATION_METHODS_SESSION_KEY] = [
                {"method": "password", "at": time.time()},
                {"method": "mfa", "type": "totp", "at": time.time()},
            ]
            session.save()

            for label, path in [
                ("lab dashboard", "/screening/lab/"),
                (
                    "request page",
                    ScreeningRequest.objects.filter(state="received").first().get_absolute_url(),
                ),
            ]:
                queries, median, worst = _time(client, path)
                print(
                    f"{label:14s} {queries:3d} queries  "
                    f"median {median:6.1f} ms  max {worst:6.1f} ms"
                )
            start = time.perf_counter()
            captured = []
            with connection.execute_wrapper(
                lambda execute, sql, *a: captured.append(sql) or execute(sql, *a)
            ):
                services.shipments_check(now=timezone.now())
            print(
                f"alert check    {len(captured):3d} queries  "
                f"{1000 * (time.perf_counter() - start):6.1f} ms"
            )
            raise Rollback
    except Rollback:
        pass


if __name__ == "__main__":
    main()
