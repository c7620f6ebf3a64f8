#!/usr/bin/env bash
# One command: p50/p95 latency of the directory's list, search and detail pages under 20
# concurrent clients, against gunicorn with production settings (DEBUG off, manifest static
# files) on 127.0.0.1:8010.
#
#   benchmarks/directory_latency.sh [directory_latency.py options, e.g. --requests 500]
#
# Uses the local PostgreSQL and Redis (scripts/services.sh), in their own database (nbtc_bench)
# and Redis database (2), so the development data is left alone; the seed is imported there.
# gunicorn is stopped on exit; PostgreSQL and Redis keep running (`make stop` stops them).
# The set-up shared with registry_latency.sh is in _server.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=benchmarks/_server.sh
source benchmarks/_server.sh

SEED=seeds/nordic-cancer-collaboration-overview.txt
[[ -f $SEED ]] || die "directory seed not found ($SEED)"

bench_prepare
log "importing the directory"
"$PY" manage.py import_nordic_directory "$SEED"

bench_serve /directory/
status=0
"$PY" benchmarks/directory_latency.py --base-url "$BASE_URL" "$@" || status=$?
exit "$status"
