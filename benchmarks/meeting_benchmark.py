"""Tumour-board page benchmark: the meeting page (the agenda of 20 patients with markers,
decisions and the trials' and screening's notes) and one prepared patient page, for a
clinician signed in through the real password and TOTP steps, in process with Django's
test client, against the register as loaded (50,000 demo patients:
`python manage.py create_demo_data --patients 50000`). Beside it, its floor: the same
reads as bare SQL (the agenda joined to patients, episodes and decisions; the markers; the
candidate-trial and released-report counts; the access-log insert), timed the same way.

    DATABASE_URL=... DJANGO_DEBUG=1 .venv/bin/python benchmarks/meeting_benchmark.py [--runs 60]

Everything it creates (member, meeting, agenda, decisions, access-log rows) is rolled back.
Target: the meeting page's p95 under 300 ms at 50,000 patients."""

import argparse
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "consortium.settings")

import django  # noqa: E402

django.setup()

from allauth.account.models import EmailAddress  # noqa: E402
from allauth.mfa.totp.internal.auth import (  # noqa: E402
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
)
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from consortium.models import Institution, Role, User  # noqa: E402
from registry import meeting_services  # noqa: E402
from registry.models import MdtDiscipline, MdtPlan, Patient, TumourEpisode  # noqa: E402

PASSWORD = "bench-password-nbtc-meetings"  # noqa: S105 - a throw-away member, rolled back
AGENDA = 20

FLOOR_SQL = [
    # The agenda with its patients, episodes, decisions and responsible clinicians.
    """SELECT i.id, i.question, p.register_number, p.sex, e.diagnosis, e.who_grade, d.plan,
              u.full_name
       FROM registry_mdtagendaitem i
       JOIN registry_patient p ON p.id = i.patient_id
       JOIN registry_tumourepisode e ON e.id = i.episode_id
       LEFT JOIN registry_mdtdecision d ON d.item_id = i.id
       LEFT JOIN consortium_user u ON u.id = d.responsible_id
       WHERE i.meeting_id = %(meeting)s ORDER BY i.position, i.id""",
    """SELECT m.episode_id, m.marker, m.result FROM registry_molecularmarker m
       WHERE m.episode_id = ANY(%(episodes)s) ORDER BY m.marker""",
    """SELECT episode_id, eligibility, count(*) FROM trials_match
       WHERE episode_id = ANY(%(episodes)s) AND active AND eligibility <> 'not_eligible'
       GROUP BY 1, 2""",
    """SELECT r.episode_id, count(*) FROM screening_report s
       JOIN screening_screeningrequest r ON r.id = s.request_id
       WHERE r.episode_id = ANY(%(episodes)s) AND s.status = 'released' GROUP BY 1""",
    """INSERT INTO consortium_accesslog (at, user_id, patient_id, page, path, method, ip)
       SELECT now(), %(user)s, unnest(%(patients)s::bigint[]), 'bench', '/', 'GET', NULL""",
]


def _totp(secret: str) -> str:
    period = 30
    if period - time.time() % period < 3:
        time.sleep(3.2)
    return format_hotp_value(hotp_value(secret, int(time.time()) // period))


def _ok(response, expected: int = 200) -> None:
    if response.status_code != expected:
        sys.exit(f"{response.request['PATH_INFO']} answered {response.status_code}")


def _sign_in(member: User) -> Client:
    client = Client(SERVER_NAME="localhost")
    _ok(client.post("/accounts/login/", {"login": member.email, "password": PASSWORD}), 302)
    _ok(client.post("/accounts/2fa/authenticate/", {"code": _totp(member.totp_secret)}), 302)
    return client


def _timed(call, runs: int) -> tuple[float, float]:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        timings.append(1000 * (time.perf_counter() - started))
    timings.sort()
    return statistics.median(timings), timings[int(0.95 * (len(timings) - 1))]


def _queries(call) -> int:
    captured = []
    with connection.execute_wrapper(
        lambda execute, sql, *a: captured.append(sql) or execute(sql, *a)
    ):
        call()
    return len(captured)


class _Rollback(Exception):
    pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60)
    args = parser.parse_args()
    ous = Institution.objects.get(code="OUS")
    print(
        f"{Patient.objects.count():,} patients, {TumourEpisode.objects.count():,} episodes; "
        f"agenda of {AGENDA}; {args.runs} runs each"
    )
    try:
        with transaction.atomic():
            member = User.objects.create_user(
                "bench-mdt@example.no", password=PASSWORD, role=Role.CLINICIAN, full_name="Bench"
            )
            member.institutions.set([ous])
            EmailAddress.objects.create(
                user=member, email=member.email, primary=True, verified=True
            )
            member.totp_secret = generate_totp_secret()
            TOTP.activate(member, member.totp_secret)
            starts = timezone.now() - timedelta(minutes=15)
            meeting = meeting_services.meeting_schedule(
                by=member,
                institution=ous,
                kind="local",
                starts_at=starts,
                ends_at=starts + timedelta(hours=2),
                participants=[(member, MdtDiscipline.ONCOLOGY)],
            )
            episodes = list(
                TumourEpisode.objects.filter(institution=ous)
                .order_by("patient_id", "id")
                .distinct("patient_id")
                .values_list("pk", flat=True)[:5000]
            )
            random.seed(17)
            chosen = random.sample(episodes, AGENDA)
            items = []
            for n, episode_id in enumerate(chosen):
                item = meeting_services.agenda_item_add(
                    meeting=meeting, by=member, episode_id=episode_id, question=f"Question {n}"
                )
                items.append(item)
                if n % 2:
                    meeting_services.decision_save(
                        item=item,
                        by=member,
                        recommendation="Lomustine at recurrence.",
                        plan=[MdtPlan.SYSTEMIC],
                        responsible=member,
                    )
            client = _sign_in(member)
            page = f"/registry/meetings/{meeting.pk}/"
            item_page = items[0].get_absolute_url()

            def meeting_page():
                _ok(client.get(page))

            def prepared_page():
                _ok(client.get(item_page))

            meeting_page()
            prepared_page()
            page_queries, item_queries = _queries(meeting_page), _queries(prepared_page)
            median, p95 = _timed(meeting_page, args.runs)
            item_median, item_p95 = _timed(prepared_page, args.runs)
            params = {
                "meeting": meeting.pk,
                "episodes": chosen,
                "user": member.pk,
                "patients": [i.patient_id for i in items],
            }

            def floor():
                with connection.cursor() as cursor:
                    for sql in FLOOR_SQL:
                        cursor.execute(sql, params)

            floor()
            floor_median, floor_p95 = _timed(floor, args.runs)
            print(
                f"  meeting page ({AGENDA} patients): median {median:.0f} ms, p95 {p95:.0f} ms, "
                f"{page_queries} queries (target p95 < 300 ms: "
                f"{'met' if p95 < 300 else 'NOT met'})"
            )
            print(
                f"  floor (bare SQL of the same reads, {len(FLOOR_SQL)} statements): "
                f"median {floor_median:.1f} ms, p95 {floor_p95:.1f} ms"
            )
            print(
                f"  prepared patient page: median {item_median:.0f} ms, p95 {item_p95:.0f} ms, "
                f"{item_queries} queries"
            )
            raise _Rollback
    except _Rollback:
        pass


if __name__ == "__main__":
    main()
