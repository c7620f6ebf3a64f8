# shellcheck shell=bash
# What the benchmark scripts share (sourced by directory_latency.sh and registry_latency.sh,
# from the repository root): the local PostgreSQL and Redis (scripts/services.sh) with the
# benchmark's own database (<dev db>_bench, i.e. nbtc_bench) and Redis database (2), so the
# development data is left alone; production settings; gunicorn on 127.0.0.1:8010 (BENCH_PORT), stopped
# on exit. PostgreSQL and Redis keep running (`make stop` stops them).

PY=.venv/bin/python
PORT=${BENCH_PORT:-8010}  # several checkouts on one machine benchmark side by side
BASE_URL=http://127.0.0.1:$PORT
LOG=.local/benchmark-gunicorn.log

log() { echo "benchmark: $*" >&2; }
die() {
  echo "benchmark: error: $*" >&2
  exit 1
}

# The benchmark database, migrated, with static files collected; production settings exported.
bench_prepare() {
  [[ -x $PY ]] || die "no $PY; run 'make setup' first"
  local env_lines dev_db
  # As in the Makefile: the assignment carries the status, so a failing start stops here.
  env_lines=$(REDIS_DB=2 scripts/services.sh start)
  eval "$env_lines"
  : "${DATABASE_URL:?scripts/services.sh printed no DATABASE_URL}"

  # The benchmark's own database beside the development one (same server, name + _bench).
  dev_db=$(basename "${DATABASE_URL%%\?*}")
  export DATABASE_URL="${DATABASE_URL%/*}/${dev_db}_bench"
  "$PY" - <<'PY'
import os
import environ
import psycopg2
from psycopg2 import sql

cfg = environ.Env.db_url_config(os.environ["DATABASE_URL"])
conn = psycopg2.connect(dbname="postgres", user=cfg["USER"], password=cfg["PASSWORD"] or None,
                        host=cfg["HOST"], port=cfg["PORT"] or None)
conn.autocommit = True
with conn.cursor() as cur:
    cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [cfg["NAME"]])
    if cur.fetchone() is None:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(cfg["NAME"])))
conn.close()
PY

  # Production settings: DEBUG off. No TLS on loopback, so no redirect to HTTPS.
  export DJANGO_DEBUG=0
  export DJANGO_SECRET_KEY=bench-only-Kq7vR2mX9pLw4Tz8Nc3Hf6Jd1Bs5Gy0Ua-never-use-in-production
  export DJANGO_ALLOWED_HOSTS=127.0.0.1,localhost
  export DJANGO_SECURE_SSL_REDIRECT=0
  # The TOTP secrets' encryption key, required with DEBUG off (benchmark database only).
  export NBTC_MFA_ENCRYPTION_KEY=${NBTC_MFA_ENCRYPTION_KEY:-bench-only-mfa-key-Zr8Qw2Lx5Vn9Tb4Hk7Jc1Md6}
  export DJANGO_LOG_LEVEL=WARNING

  log "preparing database $(basename "$DATABASE_URL") and static files"
  "$PY" manage.py migrate --noinput >/dev/null
  "$PY" manage.py collectstatic --noinput >/dev/null
}

# shellcheck disable=SC2317  # called by the trap
stop_gunicorn() {
  trap - EXIT INT TERM
  if kill -0 "$GUNICORN_PID" 2>/dev/null; then
    log "stopping gunicorn (pid $GUNICORN_PID)"
    kill -TERM "$GUNICORN_PID" 2>/dev/null || true
    wait "$GUNICORN_PID" 2>/dev/null || true
  fi
}

answers() {
  "$PY" -c 'import sys, urllib.request as u
u.build_opener(u.ProxyHandler({})).open(sys.argv[1], timeout=2).read()' \
    "$BASE_URL$1" 2>/dev/null
}

# bench_serve PATH: start gunicorn (stopped on exit) and wait until PATH answers 200.
bench_serve() {
  local probe=$1
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    die "something already listens on 127.0.0.1:$PORT; stop it first"
  fi

  mkdir -p .local
  log "starting gunicorn on $BASE_URL (log: $LOG)"
  .venv/bin/gunicorn consortium.wsgi:application --bind "127.0.0.1:$PORT" \
    --workers "${BENCH_WORKERS:-$(nproc)}" --threads "${BENCH_THREADS:-1}" >"$LOG" 2>&1 &
  GUNICORN_PID=$!
  trap stop_gunicorn EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  for _ in {1..100}; do
    answers "$probe" && return 0
    kill -0 "$GUNICORN_PID" 2>/dev/null || {
      tail -n 30 "$LOG" >&2
      die "gunicorn exited before answering"
    }
    sleep 0.2
  done
  answers "$probe" || {
    tail -n 30 "$LOG" >&2
    die "gunicorn did not answer $BASE_URL$probe within 20 s"
  }
}
