"""python manage.py benchmark_matching --patients 50000 --trials 200 [--seed 1] [--samples 200]

Builds synthetic register facts and trials (its own generator: rows marked
synthetic_id="benchmark", bulk-inserted) and prints:
- the time of a full re-match (engine.match_all: prefilter, facts, verdicts, diff and
  writes) from empty, and again with nothing changed;
  its peak memory (the run alone in a fresh interpreter);
- the p95 time of re-matching one patient (engine.match_patient) over --samples patients,
  beside the p95 of its reads alone;
- for comparison, the time PostgreSQL takes to run the same prefilter queries alone;
- the match queue's page and /api/v1/trials/matches/ answered by their views (the
  envelope's count included), first and deep pages, beside the bare SQL page.
Targets (on 2 cores): full re-match within 5x the bare-query time and under 400 MB; one
patient under 50 ms p95; a queue page under 100 ms. Each figure is printed with the
machine's load average (on a shared machine, compare the ratios to the floors).

What the two figures measure. The bare figure is unchanged: candidate_ids() for every
target, one query after another on one connection, exactly the queries the full run's
prefilter sends. The full re-match is wall-clock time of engine.match_all as the nightly
task runs it (no transaction open), which uses the machine's second core: the prefilter
queries run on a second connection while the stored matches and facts load and earlier
targets are judged, and new matches are COPYed on another connection while later ones
are judged (engine._candidates, engine._Writer). Inside a caller's transaction the same
run is serial on one connection (the tests check both give the same matches).

Run it in a scratch database, never the demo's or production's: it refuses a database
holding patients it did not create.

  createdb nbtc_benchmark   # or CREATE DATABASE via psql
  DATABASE_URL=postgres://postgres@127.0.0.1:54329/nbtc_benchmark python manage.py migrate
  DATABASE_URL=postgres://postgres@127.0.0.1:54329/nbtc_benchmark \\
      python manage.py benchmark_matching --patients 50000 --trials 200
"""

import functools
import gc
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, models
from django.utils import timezone

from consortium.models import Institution
from registry import vocabulary
from registry.models import (
    FollowUp,
    MolecularMarker,
    Patient,
    PatientInstitution,
    PerformanceStatus,
    RadiotherapyCourse,
    Surgery,
    SystemicTherapy,
    TumourEpisode,
)
from trials import criteria, criteria_kinds, engine
from trials.models import (
    ManualCheck,
    Match,
    ReviewEvent,
    Trial,
    TrialArm,
    TrialReferral,
    VerdictSet,
)

MARK = "benchmark"
# The register's case mix, roughly: glioblastoma the commonest (200-250 a year in Norway,
# https://kreftforeningen.no/forskning/forskning-vi-stotter/ekspertgruppe-for-hjernekreftforskning/).
CASE_MIX = [
    ("glioblastoma_idh_wildtype", 4, 45),
    ("astrocytoma_idh_mutant", 2, 8),
    ("astrocytoma_idh_mutant", 3, 6),
    ("astrocytoma_idh_mutant", 4, 3),
    ("oligodendroglioma_idh_mutant_codeleted", 2, 6),
    ("oligodendroglioma_idh_mutant_codeleted", 3, 4),
    ("diffuse_midline_glioma_h3k27", 4, 3),
    ("pilocytic_astrocytoma", 1, 5),
]


class Command(BaseCommand):
    help = (
        "Time a full re-match, one patient's re-match (p95) and the bare prefilter queries "
        "on synthetic data."
    )

    def add_arguments(self, parser):
        parser.add_argument("--patients", type=int, default=50000)
        parser.add_argument("--trials", type=int, default=200)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--samples", type=int, default=200, help="patients timed one by one")
        parser.add_argument(
            "--keep", action="store_true", help="reuse synthetic data already there"
        )

    def handle(self, *args, patients, trials, seed, samples, keep, **options):
        if Patient.objects.exclude(synthetic_id=MARK).exists():
            raise CommandError(
                "This database holds patients the benchmark did not create; run it in a scratch "
                "database (see the command's help)."
            )
        rng = random.Random(seed)  # noqa: S311 - seeded synthetic data, the same every run
        if not (keep and Patient.objects.exists()):
            self._reset()
            started = time.perf_counter()
            self._patients(rng, patients)
            self._trials(rng, trials)
            self.stdout.write(
                f"Synthetic data: {patients} patients, {trials} trials in "
                f"{time.perf_counter() - started:.1f} s"
            )
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        episodes = TumourEpisode.objects.count()
        targets = engine.open_targets()
        today = timezone.localdate()
        self.stdout.write(f"{episodes} episodes, {len(targets)} trial/arm targets")

        # From empty: the matches with their reviews, checks and tumour-board referrals
        # (the benchmark makes none), and the verdict lists, truncated (deleting 700,000
        # matches through the ORM took minutes).
        with connection.cursor() as cursor:
            cursor.execute(
                f"TRUNCATE {ManualCheck._meta.db_table}, {ReviewEvent._meta.db_table}, "
                f"{TrialReferral._meta.db_table}, {Match._meta.db_table}, "
                f"{VerdictSet._meta.db_table}"
            )
        # In a child process, so its peak resident memory is the run's alone.
        full, created, evaluated, peak = _in_child(engine.match_all)
        self.stdout.write(
            f"Full re-match from empty: {full:.2f} s ({created} matches written, "
            f"{evaluated} verdicts worked out); peak memory {peak:.0f} MB (target < 400 MB; "
            f"load {_load()})"
        )
        again, result = _timed(engine.match_all)
        self.stdout.write(
            f"Full re-match, nothing changed: {again:.2f} s ({result.updated} rows rewritten)"
        )

        bare, candidates = _timed(
            lambda: sum(len(engine.candidate_ids(t, engine.MATCHABLE, today)) for t in targets)
        )
        self.stdout.write(
            f"PostgreSQL, the same prefilter queries alone: {bare:.2f} s ({candidates} candidates)"
        )
        self.stdout.write(
            f"Ratio full / bare: {full / bare:.1f}x (target ≤ 5x); nothing changed: "
            f"{again / bare:.1f}x (load {_load()})"
        )

        ids = list(Patient.objects.values_list("pk", flat=True))
        chosen = rng.sample(ids, min(samples, len(ids)))
        engine.match_patient(chosen[0])  # a worker's re-matches after its first: warm
        times, floors = [], []
        for patient_id in chosen:
            elapsed, _ = _timed(functools.partial(engine.match_patient, patient_id))
            times.append(elapsed * 1000)
            floors.append(_timed(functools.partial(_patient_reads, patient_id))[0] * 1000)
        p95, floor = _p95(times), _p95(floors)
        self.stdout.write(
            f"One patient's re-match: p95 {p95:.1f} ms, median {statistics.median(times):.1f} ms "
            f"over {len(times)} patients (target < 50 ms; load {_load()}); its reads alone "
            f"(the same queries, no verdicts): p95 {floor:.1f} ms, ratio {p95 / floor:.1f}x"
        )
        self._queue_pages(rng)

    def _queue_pages(self, rng):
        """The match queue's page (/trials/matches/) and /api/v1/trials/matches/, each
        answered whole by its view (filters, the envelope's count, the keyset page, the
        rows, the access log, the HTML or JSON), for an admin (every match) and an OUS
        coordinator (their patients only): the first page, deep pages, the last, a page
        back, and filtered pages (a trial, a review step, an outcome, the flag, a hospital,
        no longer matching, a trial and a step together). Beside each view, its floor: the
        same SQL statements it sent, replayed on a bare cursor.

        The process is first warmed as a web worker is at its start (consortium/wsgi.py:
        consortium.warmup loads the URLconf and compiles the templates); the first call of
        each view after that is printed on its own and counted in the max."""
        from django.contrib.messages.storage.fallback import FallbackStorage
        from django.contrib.sessions.backends.db import SessionStore
        from django.test import RequestFactory
        from django.test.utils import CaptureQueriesContext
        from rest_framework.test import APIRequestFactory, force_authenticate

        from consortium.models import Role, User
        from consortium.warmup import warm_up
        from trials import selectors, views
        from trials.api import MatchListApi

        self._review_spread()
        members = []
        for role, email in ((Role.ADMIN, "admin"), (Role.COORDINATOR, "coordinator")):
            user = User.objects.filter(email=f"{email}@benchmark.invalid").first()
            if user is None:
                user = User.objects.create_user(f"{email}@benchmark.invalid", role=role)
                user.institutions.set(Institution.objects.filter(code="OUS"))
            members.append(user)
        api = MatchListApi.as_view()
        warmed, compiled = _timed(functools.partial(warm_up, freeze=True))  # as wsgi.py

        def page_view(user, query):
            request = RequestFactory().get("/trials/matches/", query, HTTP_HOST=HOST)
            request.user, request.session = user, SessionStore()
            request._messages = FallbackStorage(request)
            response = views.match_queue(request)
            if response.status_code != 200:
                raise CommandError(f"The queue answered {response.status_code}.")
            return response

        def api_view(user, query):
            request = APIRequestFactory().get("/api/v1/trials/matches/", query, HTTP_HOST=HOST)
            force_authenticate(request, user=user)
            response = api(request)
            response.render()
            if response.status_code != 200:
                raise CommandError(f"The queue answered {response.status_code}.")
            return response

        self.stdout.write(
            f"Match queue: the worker's warm-up (URLconf, {compiled} templates) "
            f"{warmed * 1000:.0f} ms, once per worker start; DEBUG "
            f"{'on (every query logged, not as production)' if settings.DEBUG else 'off'}"
        )
        for user in members:
            queries = self._queue_queries(rng, user)
            for name, view in (
                ("page /trials/matches/", page_view),
                ("/api/v1/trials/matches/", api_view),
            ):
                first, _ = _timed(functools.partial(view, user, queries[0][1]))
                times, cpu, floors = [first * 1000], [], []
                for _, query in queries * 3:
                    started = time.process_time()
                    elapsed, _ = _timed(functools.partial(view, user, query))
                    cpu.append((time.process_time() - started) * 1000)
                    times.append(elapsed * 1000)
                for _, query in queries:
                    with CaptureQueriesContext(connection) as sent:
                        view(user, query)
                    floors.append(_replayed([q["sql"] for q in sent.captured_queries]) * 1000)
                self.stdout.write(
                    f"Match queue {name} ({user.get_role_display()}, "
                    f"{selectors.match_queue_count(user=user)} current matches; "
                    f"{len(times)} pages: {', '.join(label for label, _ in queries)}): "
                    f"p95 {_p95(times):.1f} ms, max {max(times):.1f} ms, median "
                    f"{statistics.median(times):.1f} ms, the first after the warm-up "
                    f"{first * 1000:.1f} ms (target < 100 ms); this process's CPU p95 "
                    f"{_p95(cpu):.1f} ms, max {max(cpu):.1f} ms (what a quiet machine's "
                    f"Python takes); its SQL alone p95 {_p95(floors):.1f} ms, max "
                    f"{max(floors):.1f} ms (load {_load()})"
                )
            counted, real = _timed(selectors.match_queue(user=user).count)
            kept, n = _timed(functools.partial(selectors.match_queue_count, user=user))
            if n != real:
                raise CommandError(f"The kept count {n} is not the real count {real}.")
            self.stdout.write(
                f"  its count: kept {kept * 1000:.1f} ms, a real count {counted * 1000:.1f} ms "
                f"(both {n})"
            )
        gc.unfreeze()  # what the warm-up froze is this command's, not a worker's, after all
        table = Match._meta.db_table
        floors = []
        with connection.cursor() as cursor:
            for _ in range(5):
                started = time.perf_counter()
                cursor.execute(
                    f"SELECT * FROM {table} WHERE active AND (reachable, matched_at, id) < "  # noqa: S608
                    "(true, now(), %s) ORDER BY reachable DESC, matched_at DESC, id DESC LIMIT 50",
                    [rng.randint(1, 10**9)],
                )
                cursor.fetchall()
                floors.append((time.perf_counter() - started) * 1000)
        self.stdout.write(
            f"PostgreSQL, one page of 50 by the queue index alone: median "
            f"{statistics.median(floors):.1f} ms"
        )

    def _review_spread(self):
        """Coordinators' work on a fraction of the matches, as a queue in use has it (the
        synthetic run leaves every match new): about 1 in 50 moved on (under review,
        contacted, screening, enrolled or closed with a reason) and 1 in 200 flagged, so
        the step and flag filters list a few thousand, not none. The kept counts follow
        (their triggers); the next run from empty truncates it all."""
        table = Match._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET step = (ARRAY['under_review', 'contacted', "  # noqa: S608
                "'screening', 'enrolled', 'closed'])[1 + (id / 53) % 5], close_reason = "
                "CASE WHEN (id / 53) % 5 = 4 THEN 'declined' ELSE '' END "
                "WHERE id % 53 = 0 AND step = 'new'"
            )
            cursor.execute(
                f"UPDATE {table} SET needs_another_look = true "  # noqa: S608
                "WHERE id % 211 = 0 AND NOT needs_another_look"
            )
            cursor.execute(f"ANALYZE {table}")

    def _queue_queries(self, rng, user) -> list[tuple[str, dict]]:
        """(label, query string) of the pages timed: the first, five deep ones (cursors of
        random rows far down the member's queue), the last, one back, and filtered ones."""
        from trials import selectors

        mine = selectors.match_queue(user=user)
        total = selectors.match_queue_count(user=user)
        if not total:
            raise CommandError("The queue is empty.")

        def cursor_at(offset):
            reachable, matched_at, pk = mine.values_list("reachable", "matched_at", "pk")[
                max(0, min(offset, total - 1))
            ]
            return selectors._cursor_of(Match(reachable=reachable, matched_at=matched_at, pk=pk))

        biggest = (
            Match.objects.filter(active=True)
            .values("trial_id")
            .annotate(n=models.Count("pk"))
            .order_by("-n")
            .first()["trial_id"]
        )
        pages = [("first", {})]
        pages += [("deep", {"after": cursor_at(rng.randint(0, total - 1))}) for _ in range(5)]
        pages += [
            ("last", {"after": cursor_at(total - 20)}),
            ("back", {"before": cursor_at(total // 2)}),
            ("trial", {"trial": biggest}),
            ("step", {"step": "screening"}),
            ("outcome", {"outcome": "eligible"}),
            ("flagged", {"flagged": "on"}),
            ("hospital", {"institution": "OUS"}),
            ("no longer matching", {"matching": "no_longer_matching"}),
            ("trial and step", {"trial": biggest, "step": "under_review"}),
        ]
        return pages

    def _reset(self):
        ReviewEvent.objects.all().delete()
        Match.objects.all().delete()
        Trial.objects.filter(nct_id__startswith="NCT8").delete()
        Patient.objects.filter(synthetic_id=MARK).delete()

    def _patients(self, rng, count):
        hospitals = list(
            Institution.objects.filter(kind=Institution.Kind.HOSPITAL).values_list("pk", flat=True)
        )
        today = timezone.localdate()
        weights = [w for *_, w in CASE_MIX]
        batch = 5000
        for start in range(0, count, batch):
            size = min(batch, count - start)
            rows = [
                Patient(
                    national_id=f"9{start + i:010d}",
                    synthetic_id=MARK,
                    full_name=f"Benchmark {start + i}",
                    search_name=f"benchmark {start + i}",
                    sex=rng.choice(["female", "male"]),
                    birth_date=today - timedelta(days=rng.randint(2 * 365, 88 * 365)),
                    vital_status="dead" if rng.random() < 0.2 else "alive",
                )
                for i in range(size)
            ]
            Patient.objects.bulk_create(rows)
            links, episodes = [], []
            for p in rows:
                links.append(
                    PatientInstitution(patient_id=p.pk, institution_id=rng.choice(hospitals))
                )
                for _ in range(2 if rng.random() < 0.05 else 1):
                    diagnosis, grade, _ = rng.choices(CASE_MIX, weights)[0]
                    episodes.append(
                        TumourEpisode(
                            patient_id=p.pk,
                            institution_id=links[-1].institution_id,
                            diagnosis=diagnosis,
                            who_grade=grade if rng.random() > 0.05 else None,
                            diagnosis_date=today - timedelta(days=rng.randint(10, 1500)),
                        )
                    )
            PatientInstitution.objects.bulk_create(links)
            TumourEpisode.objects.bulk_create(episodes)
            self._sections(rng, episodes, today)

    def _sections(self, rng, episodes, today):
        markers, surgeries, courses, drugs, statuses, follow_ups = [], [], [], [], [], []
        for e in episodes:
            for marker in ("idh", "mgmt", "codeletion_1p19q", "h3k27", "cdkn2ab"):
                if rng.random() < 0.7:
                    result = rng.choices(["altered", "wildtype", "inconclusive"], [40, 55, 5])[0]
                    markers.append(MolecularMarker(episode_id=e.pk, marker=marker, result=result))
            if rng.random() < 0.85:
                surgeries.append(
                    Surgery(
                        episode_id=e.pk,
                        surgery_date=e.diagnosis_date,
                        procedure="resection",
                        extent_of_resection=rng.choice(
                            list(criteria_kinds.EXTENTS) + ["unknown", ""]
                        ),
                    )
                )
            if rng.random() < 0.7:
                start = e.diagnosis_date + timedelta(days=30)
                end = start + timedelta(days=42) if rng.random() < 0.95 else None
                courses.append(
                    RadiotherapyCourse(
                        episode_id=e.pk,
                        start_date=start,
                        end_date=end,
                        total_dose_gy=60,
                        fractions=30,
                    )
                )
            for regimen in ("tmz_concomitant", "tmz_adjuvant", "pcv", "lomustine", "bevacizumab"):
                if rng.random() < 0.25:
                    drugs.append(
                        SystemicTherapy(
                            episode_id=e.pk, regimen=regimen, start_date=e.diagnosis_date
                        )
                    )
            if rng.random() < 0.8:
                statuses.append(
                    PerformanceStatus(
                        episode_id=e.pk,
                        assessed_on=e.diagnosis_date,
                        ecog=rng.choice([0, 1, 1, 2, 3, None]),
                        karnofsky=rng.choice([None, None, 90, 70, 50]),
                    )
                )
            for i in range(rng.choice([0, 1, 1, 2, 3])):
                follow_ups.append(
                    FollowUp(
                        episode_id=e.pk,
                        assessed_on=e.diagnosis_date + timedelta(days=90 * (i + 1)),
                        progression=rng.random() < 0.35,
                    )
                )
        for model, rows in (
            (MolecularMarker, markers),
            (Surgery, surgeries),
            (RadiotherapyCourse, courses),
            (SystemicTherapy, drugs),
            (PerformanceStatus, statuses),
            (FollowUp, follow_ups),
        ):
            model.objects.bulk_create(rows, batch_size=5000)

    def _trials(self, rng, count):
        codes = list(vocabulary.TUMOUR_TYPES)
        common = [c for c, *_ in CASE_MIX]
        now = timezone.now()
        for n in range(count):
            leaves = [
                {
                    "type": "diagnosis",
                    "codes": rng.sample(common, rng.randint(1, 2))
                    if rng.random() < 0.9
                    else rng.sample(codes, 3),
                }
            ]
            if rng.random() < 0.5:
                leaves.append(
                    {
                        "type": "marker",
                        "marker": rng.choice(["idh", "mgmt", "h3k27", "codeletion_1p19q"]),
                        "result": rng.choice(["altered", "wildtype"]),
                    }
                )
            if rng.random() < 0.6:
                leaves.append(
                    {
                        "type": "age",
                        "min_years": rng.choice([None, 18, 18, 3]),
                        "max_years": rng.choice([None, 70, 75, 21]),
                    }
                )
            if rng.random() < 0.5:
                leaves.append(
                    {
                        "any": [
                            {
                                "type": "performance",
                                "scale": "ecog",
                                "min": None,
                                "max": rng.choice([1, 2]),
                            },
                            {"type": "performance", "scale": "karnofsky", "min": 70, "max": None},
                        ]
                    }
                )
            if rng.random() < 0.5:
                leaves.append(
                    {
                        "type": "setting",
                        "setting": "recurrent",
                        "min_progressions": 1,
                        "max_progressions": rng.choice([1, 2, None]),
                    }
                    if rng.random() < 0.6
                    else {"type": "setting", "setting": "newly_diagnosed"}
                )
            if rng.random() < 0.4:
                leaves.append(
                    {
                        "not": {
                            "type": "prior_treatment",
                            "regimen": rng.choice(["bevacizumab", "lomustine"]),
                        }
                    }
                )
            if rng.random() < 0.3:
                leaves.append({"type": "radiotherapy_ended", "min_weeks": 12})
            if rng.random() < 0.2:
                leaves.append({"type": "resection", "extents": ["gross_total", "subtotal"]})
            if rng.random() < 0.1:
                leaves.append({"type": "grade", "grades": [3, 4]})
            # e.g. grade 3-4 with pilocytic astrocytoma
            if criteria.contradictions({"all": leaves}):
                leaves = [leaf for leaf in leaves if leaf.get("type") != "grade"]
            tree = criteria.validate(
                {"version": 1, "criteria": {"all": leaves}, "check_by_hand": []}
            )
            trial = Trial.objects.create(
                nct_id=f"NCT8{n:07d}",
                brief_title=f"Benchmark trial {n}",
                overall_status=rng.choice(
                    ["RECRUITING", "RECRUITING", "NOT_YET_RECRUITING", "COMPLETED"]
                ),
                criteria=tree,
                criteria_encoded_at=now,
                diagnoses=criteria.diagnoses(tree),
                has_norwegian_site=(nordic := rng.random() < 0.3),
                has_nordic_site=nordic,
            )
            if rng.random() < 0.15:  # cohorts by MGMT status
                for result in ("altered", "wildtype"):
                    TrialArm.objects.create(
                        trial=trial,
                        label=f"MGMT {result}",
                        criteria={
                            "version": 1,
                            "criteria": {
                                "all": [{"type": "marker", "marker": "mgmt", "result": result}]
                            },
                        },
                    )


# A fresh interpreter (as a Celery worker starts one), so its peak resident memory is the
# run's and Django's, not the generator's objects inherited by a fork.
_RUN_ALONE = """
import json, resource, time
import django
django.setup()
from django.conf import settings
settings.DEBUG = False  # as a production worker: no log of every query's SQL in memory
from trials import engine
started = time.perf_counter()
result = engine.match_all()
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps([seconds, result.created, result.evaluated, peak]))
"""


def _in_child(run):
    """(seconds, created, evaluated, peak MB) of the full re-match in a process of its own.
    Inside a transaction (the command's test), whose rows another process could not see,
    it runs here and the figure is this process's peak."""
    if connection.in_atomic_block:
        seconds, result = _timed(run)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return seconds, result.created, result.evaluated, peak
    done = subprocess.run(  # noqa: S603 - this interpreter, our own code
        [sys.executable, "-c", _RUN_ALONE],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "consortium.settings"},
        cwd=settings.BASE_DIR,
    )
    if done.returncode != 0:
        raise CommandError(f"The full re-match failed in its process: {done.stderr[-2000:]}")
    seconds, created, evaluated, peak = json.loads(done.stdout.strip().splitlines()[-1])
    return seconds, created, evaluated, peak


def _patient_reads(patient_id):
    """The floor of one patient's re-match: the register and stored-match reads it sends,
    without working out a verdict."""
    engine.open_targets()
    engine.patient_facts(patient_id)
    return engine._prepared_rows(engine._stored_of_patient, patient_id)


# A host the settings allow (DJANGO_ALLOWED_HOSTS, or localhost under DEBUG), for the
# views' absolute links.
HOST = (settings.ALLOWED_HOSTS or ["localhost"])[0].lstrip(".")


def _p95(times) -> float:
    """The 95th percentile, within the values seen (never above the max)."""
    return statistics.quantiles(times, n=20, method="inclusive")[-1] if len(times) > 1 else times[0]


def _replayed(statements: list[str]) -> float:
    """Seconds to run these SQL statements (as sent, values in place) on a bare cursor."""
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)
            if cursor.description:
                cursor.fetchall()
    return time.perf_counter() - started


def _load() -> str:
    """The machine's load average (1, 5, 15 min), printed beside each figure."""
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _timed(run):
    started = time.perf_counter()
    value = run()
    return time.perf_counter() - started, value
