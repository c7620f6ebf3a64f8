"""Quality-indicator benchmark: every indicator for every hospital, health region, year and
diagnosis group (registry.indicators.compute_all, what the nightly snapshot runs), timed
beside its floor: hand-written aggregate SQL giving the same per-hospital-and-year counts,
each per-episode value computed once (CTEs, DISTINCT ON, grouped minima), run by PostgreSQL
in the same process and transaction. The two must agree to the unit, or the run fails.

    DATABASE_URL=... DJANGO_DEBUG=1 .venv/bin/python benchmarks/indicators_benchmark.py \
        [--runs 3]

Load the patients first: `python manage.py create_demo_data --patients 50000`. Both sides
run with PostgreSQL's JIT off, as the snapshot does (JIT compiles these plans for seconds).
Target: within 3x of the floor and under 30 s on a 2-core machine."""

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "consortium.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from consortium.models import Institution  # noqa: E402
from registry import indicators  # noqa: E402
from registry.models import Patient, TumourEpisode  # noqa: E402

COMMON = """
WITH ep AS (
    SELECT e.id, e.institution_id, e.diagnosis, e.who_grade, e.status, e.referral_date,
           e.diagnosis_date, e.trial_offered, e.mdt_dates, p.birth_date, p.date_of_death,
           p.vital_status,
           COALESCE(EXTRACT(year FROM e.diagnosis_date),
                    EXTRACT(year FROM e.created_at AT TIME ZONE 'Europe/Oslo'))::int AS dyear
    FROM registry_tumourepisode e JOIN registry_patient p ON p.id = e.patient_id
),
first_surgery AS (
    SELECT DISTINCT ON (episode_id) episode_id, surgery_date, operating_institution_id
    FROM registry_surgery ORDER BY episode_id, surgery_date, id
),
treatment AS (
    SELECT ep.id, r.d AS resection,
           LEAST(r.d, rt.d, sy.d) AS first_treatment
    FROM ep
    LEFT JOIN (SELECT episode_id, min(surgery_date) d FROM registry_surgery
               WHERE procedure = 'resection' GROUP BY 1) r ON r.episode_id = ep.id
    LEFT JOIN (SELECT episode_id, min(start_date) d FROM registry_radiotherapycourse
               GROUP BY 1) rt ON rt.episode_id = ep.id
    LEFT JOIN (SELECT episode_id, min(start_date) d FROM registry_systemictherapy
               GROUP BY 1) sy ON sy.episode_id = ep.id
),
known AS (
    SELECT episode_id, marker FROM registry_molecularmarker
    WHERE result IN ('altered', 'wildtype')
)
"""

BY_DIAGNOSIS = "GROUP BY ep.dyear, ep.institution_id, 3"


def survival(days: int, gbm: bool) -> str:
    where = "AND ep.diagnosis = 'glioblastoma_idh_wildtype'" if gbm else ""
    return f"""
SELECT EXTRACT(year FROM fs.surgery_date)::int,
       COALESCE(fs.operating_institution_id, ep.institution_id),
       CASE WHEN ep.date_of_death < fs.surgery_date THEN 'death_before_surgery'
            WHEN ep.vital_status = 'dead' AND ep.date_of_death IS NULL THEN 'dead_without_date'
            WHEN ep.date_of_death IS NULL AND fs.surgery_date > %(as_of)s::date - {days}
                THEN 'follow_up_short'
            ELSE '' END,
       count(*),
       count(*) FILTER (WHERE ep.date_of_death IS NULL
                        OR ep.date_of_death - fs.surgery_date >= {days})
FROM ep JOIN first_surgery fs ON fs.episode_id = ep.id
WHERE true {where}
GROUP BY 1, 2, 3"""  # noqa: S608


def marker(name: str, population: str) -> str:
    return f"""
SELECT ep.dyear, ep.institution_id,
       CASE WHEN ep.diagnosis_date IS NULL THEN 'no_diagnosis_date' ELSE '' END,
       count(*),
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM known k
                                      WHERE k.episode_id = ep.id AND k.marker = '{name}'))
FROM ep WHERE {population} {BY_DIAGNOSIS}"""  # noqa: S608


def full_treatment(over_70: bool) -> str:
    dose, age = (30, "> 70") if over_70 else (55, "<= 70")
    return f"""
SELECT ep.dyear, ep.institution_id,
       CASE WHEN ep.diagnosis_date IS NULL THEN 'no_diagnosis_date' ELSE '' END,
       count(*),
       count(*) FILTER (WHERE
           EXISTS (SELECT 1 FROM registry_surgery s
                   WHERE s.episode_id = ep.id AND s.procedure = 'resection')
           AND EXISTS (SELECT 1 FROM registry_radiotherapycourse r
                       WHERE r.episode_id = ep.id AND r.total_dose_gy >= {dose})
           AND EXISTS (SELECT 1 FROM registry_systemictherapy y WHERE y.episode_id = ep.id
                       AND y.regimen IN ('tmz_concomitant', 'tmz_adjuvant')))
FROM ep
WHERE ep.diagnosis = 'glioblastoma_idh_wildtype'
  AND (ep.diagnosis_date IS NULL
       OR date_part('year', age(ep.diagnosis_date, ep.birth_date)) {age})
{BY_DIAGNOSIS}"""  # noqa: S608


ADULT_DIFFUSE = "('astrocytoma_idh_mutant', 'oligodendroglioma_idh_mutant_codeleted', " + (
    "'glioblastoma_idh_wildtype')"
)

FLOOR = {
    "coverage": f"""
SELECT ep.dyear, ep.institution_id,
       CASE WHEN ep.diagnosis_date IS NULL THEN 'no_diagnosis_date' ELSE '' END,
       count(*), count(*) FILTER (WHERE ep.status = 'complete')
FROM ep {BY_DIAGNOSIS}""",  # noqa: S608
    "gbm_survival_1y": survival(365, True),
    "gbm_survival_2y": survival(730, True),
    "survival_30d": survival(30, False),
    "postop_mri_72h": """
SELECT EXTRACT(year FROM s.surgery_date)::int,
       COALESCE(s.operating_institution_id, e.institution_id),
       CASE WHEN s.postoperative_mri_at IS NOT NULL AND s.surgery_end_time IS NULL
                THEN 'no_end_time'
            WHEN s.postoperative_mri_at
                 < (s.surgery_date + s.surgery_end_time) AT TIME ZONE 'Europe/Oslo'
                THEN 'mri_before_surgery'
            ELSE '' END,
       count(*),
       count(*) FILTER (WHERE s.postoperative_mri_at <=
           (s.surgery_date + s.surgery_end_time) AT TIME ZONE 'Europe/Oslo' + interval '72 hours')
FROM registry_surgery s JOIN registry_tumourepisode e ON e.id = s.episode_id
WHERE s.procedure = 'resection'
GROUP BY 1, 2, 3""",
    "lead_time_treatment": f"""
SELECT ep.dyear, ep.institution_id,
       CASE WHEN ep.diagnosis_date IS NULL THEN 'no_diagnosis_date'
            WHEN ep.referral_date IS NULL THEN 'no_referral_date'
            WHEN t.first_treatment IS NULL THEN 'no_treatment'
            WHEN t.first_treatment - ep.referral_date < 0 THEN 'treatment_before_referral'
            ELSE '' END,
       count(*),
       count(*) FILTER (WHERE t.first_treatment - ep.referral_date
                        <= CASE WHEN t.resection = t.first_treatment THEN 21 ELSE 28 END)
FROM ep JOIN treatment t ON t.id = ep.id {BY_DIAGNOSIS}""",  # noqa: S608
    "molecular_idh": marker("idh", f"ep.diagnosis IN {ADULT_DIFFUSE}"),
    "molecular_mgmt": marker("mgmt", "ep.diagnosis = 'glioblastoma_idh_wildtype'"),
    "molecular_1p19q": marker(
        "codeletion_1p19q",
        "ep.diagnosis IN ('astrocytoma_idh_mutant', 'oligodendroglioma_idh_mutant_codeleted')",
    ),
    "molecular_cdkn2ab": marker(
        "cdkn2ab", "ep.diagnosis = 'astrocytoma_idh_mutant' AND ep.who_grade IN (2, 3)"
    ),
    "mdt_before_treatment": f"""
SELECT ep.dyear, ep.institution_id,
       CASE WHEN ep.diagnosis_date IS NULL THEN 'no_diagnosis_date'
            WHEN t.first_treatment IS NULL THEN 'no_treatment' ELSE '' END,
       count(*),
       count(*) FILTER (WHERE (SELECT min(d) FROM unnest(ep.mdt_dates) d) <= t.first_treatment)
FROM ep JOIN treatment t ON t.id = ep.id {BY_DIAGNOSIS}""",  # noqa: S608
    "trial_offered": f"""
SELECT ep.dyear, ep.institution_id,
       CASE WHEN ep.diagnosis_date IS NULL THEN 'no_diagnosis_date'
            WHEN ep.trial_offered = '' THEN 'not_answered'
            WHEN ep.trial_offered = 'unknown' THEN 'answered_unknown' ELSE '' END,
       count(*), count(*) FILTER (WHERE ep.trial_offered = 'yes')
FROM ep {BY_DIAGNOSIS}""",  # noqa: S608
    "gbm_full_treatment": full_treatment(False),
    "gbm_full_treatment_over70": full_treatment(True),
}


def _floor(as_of) -> dict:
    counts = {}
    with connection.cursor() as cursor:
        for code, sql in FLOOR.items():
            cursor.execute(COMMON + sql, {"as_of": as_of})
            for year, institution, reason, units, met in cursor.fetchall():
                counts[(code, year, institution, reason)] = (units, met)
    return counts


def _ours_by_hospital(cells) -> dict:
    """compute_all's hospital cells over all diagnoses, in the floor's shape."""
    found = defaultdict(lambda: [0, 0])
    for (code, year, institution, region, group), cell in cells.items():
        if institution is None or region or group:
            continue
        if cell.denominator:
            found[(code, year, institution, "")] = [cell.denominator, cell.numerator]
        for reason, n in cell.left_out.items():
            found[(code, year, institution, reason)][0] += n
    return {key: tuple(value) for key, value in found.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    as_of = timezone.localdate()
    regions = dict(
        Institution.objects.filter(kind=Institution.Kind.HOSPITAL).values_list(
            "pk", "health_region"
        )
    )
    print(
        f"{Patient.objects.count():,} patients, {TumourEpisode.objects.count():,} episodes, "
        f"{len(indicators.CATALOGUE)} indicators; as of {as_of}; best and median of {args.runs}"
    )
    ours, floor = [], []
    with transaction.atomic():
        with connection.cursor() as cursor:  # one consistent read for both sides
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute("SET LOCAL jit = off")
        for _ in range(args.runs):
            started = time.perf_counter()
            cells = indicators.compute_all(as_of, regions)
            ours.append(time.perf_counter() - started)
            started = time.perf_counter()
            bare = _floor(as_of)
            floor.append(time.perf_counter() - started)
    mine = _ours_by_hospital(cells)
    # A unit left out is in no numerator: only how many were left out is compared.
    bare = {key: (units, met if not key[3] else 0) for key, (units, met) in bare.items() if units}
    if mine != bare:
        differing = sorted(set(mine.items()) ^ set(bare.items()))[:10]
        sys.exit(f"The catalogue and the bare SQL disagree, e.g.: {differing}")
    rows = f"{len(mine):,} (indicator, year, hospital, reason) rows"
    print(f"  counts agree: {rows}, {len(cells):,} cells")
    best, median = min(ours), statistics.median(ours)
    floor_best, floor_median = min(floor), statistics.median(floor)
    ratio = best / floor_best
    print(f"  catalogue (compute_all): best {best:6.2f} s   median {median:6.2f} s")
    print(f"  floor (bare SQL)       : best {floor_best:6.2f} s   median {floor_median:6.2f} s")
    print(
        f"  ratio {ratio:.2f}x (target <= 3x): {'met' if ratio <= 3 else 'NOT met'}; "
        f"{best:.1f} s (target < 30 s): {'met' if best < 30 else 'NOT met'}"
    )
    page_timing()


class _Rollback(Exception):
    pass


def _ok(response) -> None:
    if response.status_code != 200:
        sys.exit(f"The indicators page answered {response.status_code}")


def page_timing(runs: int = 40) -> None:
    """The indicators page (newest snapshot, every indicator) for a signed-in researcher, in
    process with Django's test client: median and p95 of `runs`, and its query count. (The
    20-client figure comes from the latency scripts against gunicorn.)"""
    from django.test import Client

    from consortium.models import Role, User
    from registry.indicator_selectors import newest_snapshot, published_year

    if newest_snapshot() is None:
        print("  no snapshot stored: run create_demo_data (it computes one) for the page figure")
        return
    try:
        with transaction.atomic():
            member = User.objects.create_user("bench-researcher@example.no", role=Role.RESEARCHER)
            client = Client(SERVER_NAME="localhost")
            client.force_login(member)
            path = f"/registry/indicators/?year={published_year()}"
            client.get(path)
            captured = []
            with connection.execute_wrapper(
                lambda execute, sql, *a: captured.append(sql) or execute(sql, *a)
            ):
                _ok(client.get(path))
            timings = []
            for _ in range(runs):
                started = time.perf_counter()
                _ok(client.get(path))
                timings.append(1000 * (time.perf_counter() - started))
            timings.sort()
            p95 = timings[int(0.95 * (len(timings) - 1))]
            print(
                f"  indicators page: median {statistics.median(timings):.0f} ms, p95 {p95:.0f} ms "
                f"(one client, in process), {len(captured)} queries"
            )
            raise _Rollback
    except _Rollback:
        pass


if __name__ == "__main__":
    main()
