"""Research benchmark at 50,000 demo patients (`python manage.py create_demo_data --patients
50000`):

1. The extract of every patient with every variable a project can be approved for (one row
   per episode, a long table per repeated section, CSV and Parquet, the data dictionary):
   the Celery task's body (registry.research_extracts.extract_build) run alone in a fresh
   interpreter with DEBUG off, as a worker runs it, printing its wall time, the worker's
   peak memory (ru_maxrss) and its resident memory sampled as it goes (flat: the rows
   stream from a server-side cursor to the files). Beside it, the floor: PostgreSQL's COPY
   of the same SELECTs (the same rows and columns, as CSV, to a sink) on one connection.
2. The aggregate pages (/research/ one dimension and two crossed, the marker profile, the
   API) for a signed-in researcher, in process with Django's test client: median and p95,
   with the counts read afresh for every request (cold) and from the one-minute cache.

    DATABASE_URL=... DJANGO_DEBUG=1 .venv/bin/python benchmarks/research_benchmark.py \\
        [--runs 40] [--skip-extract]

It leaves a benchmark project (approved) and its delivery log in the database (the log is
append-only); the files go to a temporary folder that is removed. Targets: the extract
under 60 s on a 2-core machine, memory flat; the aggregate pages' p95 under 300 ms."""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "consortium.settings")

import django  # noqa: E402

django.setup()

from allauth.account.models import EmailAddress  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from consortium.models import Institution, Role, User  # noqa: E402
from registry import research_dictionary, research_extracts, research_services  # noqa: E402
from registry.models import ResearchExtract, TumourEpisode  # noqa: E402

PASSWORD = "bench-password-nbtc-research"  # noqa: S105 - a benchmark member


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(extract_id: int) -> None:
    """The task's body alone: time, peak memory, resident memory every half second."""
    samples: list[tuple[float, float]] = []
    done = threading.Event()
    start = time.perf_counter()

    def sample():
        while not done.wait(0.5):
            samples.append((round(time.perf_counter() - start, 1), round(_rss_mb(), 1)))

    before = _rss_mb()
    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    extract = research_extracts.extract_build(extract_id)
    elapsed = time.perf_counter() - start
    done.set()
    print(
        json.dumps(
            {
                "seconds": elapsed,
                "rss_before_mb": before,
                "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "samples": samples,
                "rows": extract.rows,
                "files": [(f.name, f.rows, f.size) for f in extract.files.all()],
            }
        )
    )


def _members() -> tuple[User, User]:
    icr = Institution.objects.get(code="UIO-ICR")
    researcher, created = User.objects.get_or_create(
        email="research-bench@bench.nbtc.no",
        defaults={"role": Role.RESEARCHER, "full_name": "Benchmark Researcher"},
    )
    if created:
        researcher.set_password(PASSWORD)
        researcher.save()
        researcher.institutions.add(icr)
        EmailAddress.objects.create(
            user=researcher, email=researcher.email, primary=True, verified=True
        )
    admin, _ = User.objects.get_or_create(
        email="research-bench-admin@bench.nbtc.no",
        defaults={"role": Role.ADMIN, "full_name": "Benchmark Admin"},
    )
    return researcher, admin


def floor(extract: ResearchExtract) -> tuple[float, int]:
    """PostgreSQL's COPY of the same SELECTs, as CSV, to a sink that only counts bytes."""

    class Sink:
        size = 0

        def write(self, data):
            self.size += len(data)

    sink = Sink()
    start = time.perf_counter()
    with connection.cursor() as cursor:
        raw = cursor.cursor
        for plan in research_extracts.plans(extract):
            sql = raw.mogrify(plan.sql, plan.params).decode()
            raw.copy_expert(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER)", sink)
    return time.perf_counter() - start, sink.size


def extract_benchmark() -> None:
    researcher, admin = _members()
    everything = list(research_dictionary.variable_map())
    project = research_services.project_apply(
        by=researcher,
        title="Benchmark: every variable of every patient",
        purpose="benchmarks/research_benchmark.py",
        institution=Institution.objects.get(code="UIO-ICR"),
        rek_number="BENCH",
        rek_date=date(2026, 1, 1),
        legal_basis="exemption",
        end_date=timezone.localdate() + timedelta(days=1),
        variables=everything,
    )
    project = research_services.project_decide(
        project=project, by=admin, approve=True, reason="benchmark"
    )
    extract = research_services.extract_request(project=project, by=researcher)
    folder = tempfile.mkdtemp(prefix="nbtc-research-bench-")
    env = {**os.environ, "DJANGO_DEBUG": "0", "NBTC_EXTRACT_ROOT": folder}
    env.setdefault("DJANGO_SECRET_KEY", "benchmark-only-" + "x" * 40)
    env.setdefault("NBTC_MFA_ENCRYPTION_KEY", "benchmark-only-mfa-" + "y" * 32)
    env.setdefault("DJANGO_ALLOWED_HOSTS", "localhost")
    try:
        result = subprocess.run(  # noqa: S603 - this file, this interpreter
            [sys.executable, __file__, "--child", str(extract.pk)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    except subprocess.CalledProcessError as error:
        print(error.stdout, error.stderr)
        raise
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    extract.refresh_from_db()
    copy_seconds, copy_bytes = floor(extract)
    episodes = TumourEpisode.objects.count()
    files = figures["files"]
    total_rows = sum(rows for name, rows, _ in files if name.endswith(".csv"))
    print(
        f"Extract: {figures['rows']} episodes ({episodes} in the register), {len(everything)} "
        f"variables, {len(files)} files, {total_rows} CSV rows, "
        f"{sum(s for _, _, s in files) / 2**20:.1f} MB"
    )
    print(f"  extract_build (fresh interpreter, DEBUG off): {figures['seconds']:.1f} s")
    print(
        f"  worker memory: {figures['rss_before_mb']:.0f} MB before, peak "
        f"{figures['peak_mb']:.0f} MB (ru_maxrss)"
    )
    samples = figures["samples"]
    if samples:
        step = max(1, len(samples) // 8)
        print(
            "  resident memory as it runs (s: MB): "
            + ", ".join(f"{t}: {m:.0f}" for t, m in samples[::step])
        )
    print(
        f"  floor, PostgreSQL COPY of the same SELECTs: {copy_seconds:.1f} s "
        f"({copy_bytes / 2**20:.1f} MB of CSV); ratio {figures['seconds'] / copy_seconds:.1f}x"
    )


def _timed(client: Client, path: str, params: dict, runs: int, *, cold: bool):
    timings = []
    for _ in range(runs):
        if cold:
            cache.delete("research:cube:v1")
        start = time.perf_counter()
        response = client.get(path, params)
        timings.append((time.perf_counter() - start) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{path} answered {response.status_code}")
    timings.sort()
    return statistics.median(timings), timings[int(0.95 * (len(timings) - 1))]


def page_benchmark(runs: int) -> None:
    researcher, _ = _members()
    client = Client(SERVER_NAME="localhost")
    response = client.post("/accounts/login/", {"login": researcher.email, "password": PASSWORD})
    if response.status_code != 302:
        raise SystemExit(f"sign-in answered {response.status_code}")
    pages = [
        ("/research/", {"rows": "diagnosis"}),
        ("/research/", {"rows": "diagnosis", "columns": "region"}),
        ("/research/", {"rows": "year", "columns": "age_group"}),
        ("/research/markers/", {"diagnosis": "glioblastoma_idh_wildtype"}),
        ("/research/markers/", {"diagnosis": "adult_type_diffuse_gliomas"}),
        ("/api/v1/research/aggregates/", {"rows": "diagnosis", "columns": "sex"}),
    ]
    print(f"Aggregate pages, {runs} requests each (ms; median / p95):")
    start = time.perf_counter()
    cache.delete("research:cube:v1")
    from registry import research_aggregates

    research_aggregates.counts()
    cube_ms = (time.perf_counter() - start) * 1000
    print(f"  reading the counts (one GROUP BY over every episode): {cube_ms:.0f} ms")
    for path, params in pages:
        cold = _timed(client, path, params, runs, cold=True)
        warm = _timed(client, path, params, runs, cold=False)
        query = "&".join(f"{k}={v}" for k, v in params.items())
        print(
            f"  {path}?{query}: counts read afresh {cold[0]:.0f} / {cold[1]:.0f}; "
            f"cached {warm[0]:.0f} / {warm[1]:.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--skip-extract", action="store_true")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    if not args.skip_extract:
        extract_benchmark()
    page_benchmark(args.runs)


if __name__ == "__main__":
    main()
