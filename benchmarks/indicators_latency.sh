#!/usr/bin/env bash
# One command: p50/p95 latency of the quality-indicators page and API for a signed-in
# clinician under 20 concurrent clients, against gunicorn with production settings on
# 127.0.0.1:8010, printed beside its floor in the same run: the bare SQL read of the same
# snapshot's cells by 20 concurrent PostgreSQL connections.
#
#   benchmarks/indicators_latency.sh [indicators_latency.py options, e.g. --requests 500]
#
# Same database (nbtc_bench) and Redis database (2) as the other latency benchmarks
# (_server.sh). While the register there has fewer than BENCH_PATIENTS (default 50000)
# patients, create_demo_data adds the rest (and computes a snapshot); otherwise a snapshot
# is computed when there is none. The clinician at OUS is registry_latency.py's.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=benchmarks/_server.sh
source benchmarks/_server.sh

export BENCH_PATIENTS=${BENCH_PATIENTS:-50000}
bench_prepare

log "demo patients (up to $BENCH_PATIENTS), an indicator snapshot and the clinician"
NBTC_ALLOW_SYNTHETIC_IDS=1 "$PY" - <<'PY'
import os
import sys

import django

sys.path.insert(0, "benchmarks")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "consortium.settings")
django.setup()

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from django.core.management import call_command

from consortium.models import Institution, Role, User
from registry import indicator_services
from registry.indicator_selectors import newest_snapshot
from registry.models import Patient
from registry_latency import CLINICIAN_EMAIL, CLINICIAN_PASSWORD, CLINICIAN_TOTP_SECRET

missing = int(os.environ["BENCH_PATIENTS"]) - Patient.objects.count()
if missing > 0:
    call_command("create_demo_data", patients=missing, seed=1 + Patient.objects.count(),
                 stdout=sys.stderr)
if newest_snapshot() is None:
    indicator_services.snapshot_compute(indicator_services.snapshot_request().pk)

user, _ = User.objects.update_or_create(
    email=CLINICIAN_EMAIL, defaults={"full_name": "Benchmark Clinician", "role": Role.CLINICIAN})
user.set_password(CLINICIAN_PASSWORD)
user.save()
user.institutions.set(Institution.objects.filter(code="OUS"))
EmailAddress.objects.update_or_create(user=user, email=CLINICIAN_EMAIL,
                                      defaults={"primary": True, "verified": True})
Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).delete()
TOTP.activate(user, CLINICIAN_TOTP_SECRET)
print(f"{Patient.objects.count()} patients; snapshot {newest_snapshot().pk}", file=sys.stderr)
PY

bench_serve /registry/indicators/
status=0
"$PY" benchmarks/indicators_latency.py --base-url "$BASE_URL" "$@" || status=$?
exit "$status"
