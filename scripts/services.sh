#!/usr/bin/env bash
# Project-local PostgreSQL and Redis for `make run` and `make test`, kept under .local/.
#
#   scripts/services.sh start   start what is not running; print `export DATABASE_URL=...` and
#                               `export REDIS_URL=...` lines (eval them; also written to .local/env)
#   scripts/services.sh stop    stop both
#   scripts/services.sh status  say what runs where
#
# A service whose URL is already set in the environment (DATABASE_URL, REDIS_URL) is the user's:
# it is neither started, stopped nor installed here. REDIS_DB picks the Redis database number in
# the printed REDIS_URL (tests use 1, so they never flush the development data in 0).
# NBTC_PG_PORT and NBTC_REDIS_PORT move the services off their usual ports (54329, 63799).
# Only the export lines go to stdout; everything else goes to stderr.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOCAL="$ROOT/.local"
# Fixed ports, so the URLs never change; override them to run a second checkout beside this one.
PG_PORT=${NBTC_PG_PORT:-54329}
PG_DB=nbtc
REDIS_PORT=${NBTC_REDIS_PORT:-63799}
REDIS_DB=${REDIS_DB:-0}
REDIS_DIR="$LOCAL/redis"

log() { echo "services: $*" >&2; }
die() {
  echo "services: error: $*" >&2
  exit 1
}

# --- PostgreSQL -------------------------------------------------------------------------------

pg_bin() {
  # Debian keeps server binaries off PATH, one folder per major version; take the newest.
  local dir
  dir=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  [[ -x $dir/initdb ]] || die "PostgreSQL server binaries not found (run scripts/system-packages.sh)"
  echo "$dir"
}

as_pg() {
  # initdb and postgres refuse to run as root, so as root they run as the `postgres` user.
  # From /, since `postgres` may not be allowed into the current folder.
  if [[ $EUID -eq 0 ]]; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

pg_root() {
  # The cluster lives in .local/postgres. If the `postgres` user cannot reach the checkout
  # (say it was cloned into a 0700 temporary folder), it lives in /var/tmp instead, under a
  # name derived from the checkout's path so start, stop and status all find the same one.
  mkdir -p "$LOCAL"
  if [[ $EUID -eq 0 ]] && ! runuser -u postgres -- test -x "$LOCAL"; then
    echo "/var/tmp/nbtc-postgres-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)"
  else
    echo "$LOCAL/postgres"
  fi
}

pg_running() {
  local data=$1
  [[ -f $data/PG_VERSION ]] && as_pg "$(pg_bin)/pg_ctl" status -D "$data" >/dev/null 2>&1
}

pg_init() {
  local root=$1 data=$1/data
  mkdir -p "$root"
  [[ $EUID -eq 0 ]] && chown postgres:postgres "$root"
  log "creating PostgreSQL cluster in $data"
  # --no-sync: a throwaway cluster need not wait for the disk.
  as_pg "$(pg_bin)/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
    --no-instructions --no-sync >&2
  # Our settings live in their own file, rewritten at every start (see pg_configure).
  echo "include_if_exists = 'nbtc.conf'" >>"$data/postgresql.conf"
}

pg_configure() {
  # Rewritten at every start so a moved checkout still gets a valid socket folder.
  local root=$1
  mkdir -p "$root/run"
  [[ $EUID -eq 0 ]] && chown postgres:postgres "$root/run"
  cat >"$root/data/nbtc.conf" <<CONF
# Written by scripts/services.sh at every start; edits here are lost.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$root/run'
# A throwaway development and test cluster: durability costs time and buys nothing here.
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
  [[ $EUID -eq 0 ]] && chown postgres:postgres "$root/data/nbtc.conf"
  return 0
}

pg_psql() {
  # Trust authentication over TCP: any OS user may connect as the `postgres` role.
  PGCONNECT_TIMEOUT=5 "$(pg_bin)/psql" -X -q -v ON_ERROR_STOP=1 \
    -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres "$@"
}

pg_start() {
  local root data
  root=$(pg_root)
  data=$root/data
  [[ -f $data/PG_VERSION ]] || pg_init "$root"
  if pg_running "$data"; then
    log "PostgreSQL already running in $data (port $PG_PORT); reusing it"
  else
    pg_configure "$root"
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    if ! as_pg "$(pg_bin)/pg_ctl" start -D "$data" -l "$root/postgres.log" -w -t 60 >&2; then
      tail -n 20 "$root/postgres.log" >&2 || true
      die "PostgreSQL did not start (log: $root/postgres.log)"
    fi
  fi
  if [[ -z $(pg_psql -tAc "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'") ]]; then
    log "creating database $PG_DB"
    pg_psql -c "CREATE DATABASE $PG_DB OWNER postgres"
  fi
}

pg_stop() {
  local data
  data=$(pg_root)/data
  if pg_running "$data"; then
    log "stopping PostgreSQL ($data)"
    as_pg "$(pg_bin)/pg_ctl" stop -D "$data" -m fast -w >&2
  else
    log "PostgreSQL is not running"
  fi
}

# --- Redis ------------------------------------------------------------------------------------

redis_pid() {
  # The pid of the Redis we started, if it still runs.
  local pid
  pid=$(cat "$REDIS_DIR/redis.pid" 2>/dev/null) || return 1
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

redis_answers() {
  [[ $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]
}

redis_start() {
  if redis_answers; then
    log "Redis already running on 127.0.0.1:$REDIS_PORT; reusing it"
    return
  fi
  mkdir -p "$REDIS_DIR"
  log "starting Redis on 127.0.0.1:$REDIS_PORT"
  # No persistence: development queues and caches are disposable.
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize yes --pidfile "$REDIS_DIR/redis.pid" --dir "$REDIS_DIR" \
    --logfile "$REDIS_DIR/redis.log" >&2

  for _ in {1..50}; do
    redis_answers && return
    sleep 0.1
  done
  tail -n 20 "$REDIS_DIR/redis.log" >&2 || true
  die "Redis did not answer on port $REDIS_PORT (log: $REDIS_DIR/redis.log)"
}

redis_stop() {
  local pid
  if ! pid=$(redis_pid); then
    if redis_answers; then
      log "a Redis on port $REDIS_PORT was not started here; leaving it"
    else
      log "Redis is not running"
    fi
    return
  fi
  log "stopping Redis (pid $pid)"
  kill "$pid"
  for _ in {1..50}; do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  die "Redis (pid $pid) did not stop"
}

# --- Commands ---------------------------------------------------------------------------------

cmd_start() {
  "$ROOT/scripts/system-packages.sh"
  local lines=()
  if [[ -z ${DATABASE_URL:-} ]]; then
    pg_start
    lines+=("export DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/$PG_DB")
  else
    log "DATABASE_URL is set; using that database"
  fi
  if [[ -z ${REDIS_URL:-} ]]; then
    redis_start
    lines+=("export REDIS_URL=redis://127.0.0.1:$REDIS_PORT/$REDIS_DB")
  else
    log "REDIS_URL is set; using that Redis"
  fi
  ((${#lines[@]} == 0)) && return
  printf '%s\n' "${lines[@]}" >"$LOCAL/env"
  printf '%s\n' "${lines[@]}"
}

cmd_stop() {
  # Stops what this script manages, whatever the environment says: a stop should always stop.
  pg_stop
  redis_stop
}

cmd_status() {
  local data pid
  data=$(pg_root)/data
  if pg_running "$data"; then
    echo "postgres: running on 127.0.0.1:$PG_PORT, database $PG_DB ($data)"
  else
    echo "postgres: not running ($data)"
  fi
  if pid=$(redis_pid); then
    echo "redis: running on 127.0.0.1:$REDIS_PORT (pid $pid)"
  elif redis_answers; then
    echo "redis: something not started here answers on 127.0.0.1:$REDIS_PORT"
  else
    echo "redis: not running"
  fi
}

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
