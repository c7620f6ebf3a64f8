#!/usr/bin/env bash
# Runs the development server, the Celery worker and Celery beat together in the foreground.
# Ctrl-C (or any one of them exiting) stops all three. PostgreSQL and Redis keep running:
# `make stop` stops those. Called by `make run`, which sets the environment first.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BIN=.venv/bin
pids=()

start() {
  local name=$1
  shift
  "$@" &
  pids+=($!)
  echo "run: started $name (pid $!)"
}

# shellcheck disable=SC2317  # called by the trap
stop_all() {
  trap - INT TERM EXIT
  echo "run: stopping server, worker and beat"
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait || true
}
trap stop_all EXIT
# Leave through the EXIT trap; these are the shell's usual statuses for the two signals.
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p .local
echo
echo "  NBTC platform: http://127.0.0.1:8000/   (Ctrl-C stops it)"
echo
start server "$BIN/python" manage.py runserver 127.0.0.1:8000
start worker "$BIN/celery" -A consortium worker -l info --concurrency 2
start beat "$BIN/celery" -A consortium beat -l info --schedule .local/celerybeat-schedule

status=0
wait -n || status=$?
echo "run: a process exited (status $status)"
exit "$status"
