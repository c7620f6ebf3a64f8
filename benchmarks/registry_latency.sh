#!/usr/bin/env bash
# One command: p50/p95 latency of the register's patient list, name search, patient page and
# API list for a signed-in clinician under 20 concurrent clients, against gunicorn with
# production settings (DEBUG off, manifest static files) on 127.0.0.1:8010.
#
#   benchmarks/registry_latency.sh [registry_latency.py options, e.g. --requests 500]
#
# Same database (nbtc_bench) and Redis database (2) as directory_latency.sh (set-up shared in
# _server.sh). While the register there has fewer than BENCH_PATIENTS (default 50000) patients,
# create_demo_data adds the rest (the first time: a few minutes). A clinician at OUS with a
# known password and TOTP secret (registry_latency.py) is made anew each run, and the patient
# page cycles through 50 random OUS patients.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=benchmarks/_server.sh
source benchmarks/_server.sh

export BENCH_PATIENTS=${BENCH_PATIENTS:-50000}
bench_prepare

log "demo patients (up to $BENCH_PATIENTS), the clinician and 50 OUS patients to visit"
# Synthetic national IDs are allowed for loading only; the server runs without them.
numbers=$(NBTC_ALLOW_SYNTHETIC_IDS=1 "$PY" - <<'PY'
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
from django.db import connection

from consortium.models import Institution, Role, User
from registry.models import Patient
from registry_latency import CLINICIAN_EMAIL, CLINICIAN_PASSWORD, CLINICIAN_TOTP_SECRET

missing = int(os.environ["BENCH_PATIENTS"]) - Patient.objects.count()
if missing > 0:  # progress to stderr: stdout carries the register numbers
    call_command("create_demo_data", patients=missing, seed=1 + Patient.objects.count(),
                 stdout=sys.stderr)
# The register as autovacuum keeps it, not just after a bulk load: the visibility map set (so
# index-only scans read no heap pages) and fresh statistics. Cheap when already done.
with connection.cursor() as cursor:
    cursor.execute("VACUUM (ANALYZE)")

user, _ = User.objects.update_or_create(
    email=CLINICIAN_EMAIL, defaults={"full_name": "Benchmark Clinician", "role": Role.CLINICIAN})
user.set_password(CLINICIAN_PASSWORD)
user.save()
user.institutions.set(Institution.objects.filter(code="OUS"))
EmailAddress.objects.update_or_create(user=user, email=CLINICIAN_EMAIL,
                                      defaults={"primary": True, "verified": True})
Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).delete()
TOTP.activate(user, CLINICIAN_TOTP_SECRET)

ous = Patient.objects.filter(patientinstitution__institution__code="OUS").order_by("?")
print(",".join(ous.values_list("register_number", flat=True)[:50]))
PY
)
[[ -n $numbers ]] || die "no OUS patients in the benchmark database"

bench_serve /accounts/login/
status=0
"$PY" benchmarks/registry_latency.py --base-url "$BASE_URL" --register-numbers "$numbers" "$@" \
  || status=$?
# The same patients in process beside their own SQL (the in-process vs SQL ratio), and the load.
"$PY" benchmarks/registry_in_process.py --register-numbers "$numbers" || status=$?
echo "load average: $(cut -d ' ' -f 1-3 /proc/loadavg) on $(nproc) cores"
exit "$status"
