# Developer entry points:
#   make run    serve the app at http://127.0.0.1:8000/ with a Celery worker and beat
#   make test   run the test suite
#   make stop   stop the local PostgreSQL and Redis that run/test started
# Both run and test set up whatever is missing (Python venv, Debian packages, local PostgreSQL
# and Redis under .local/) and reuse whatever exists. Set DATABASE_URL / REDIS_URL to use your
# own services instead of the local ones.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
# Inside the venv, so a recreated venv always reinstalls.
INSTALL_STAMP := $(VENV)/.installed-pyproject

DIRECTORY_SEED ?= seeds/nordic-cancer-collaboration-overview.txt
PYTEST_ARGS ?=

RUN_ENV := DJANGO_DEBUG=1 \
	DJANGO_SECRET_KEY=dev-only-insecure-key-for-make-run-never-use-in-production-0123456789 \
	DJANGO_ALLOWED_HOSTS=127.0.0.1,localhost
TEST_ENV := DJANGO_SETTINGS_MODULE=consortium.settings DJANGO_DEBUG=1 \
	DJANGO_SECRET_KEY=test-only-insecure-key-for-make-test-never-use-in-production-0123456789

.PHONY: help setup lint run test stop status psql

help:
	@echo "make run     serve http://127.0.0.1:8000/ (server, Celery worker and beat; Ctrl-C stops)"
	@echo "make test    lint, then run the test suite (PYTEST_ARGS='-k name' to pick tests)"
	@echo "make lint    ruff check, ruff format --check, lint-imports (app layering), django-upgrade"
	@echo "make stop    stop the local PostgreSQL and Redis"
	@echo "make setup   create .venv and install the project and the system packages"
	@echo "make status  show whether the local PostgreSQL and Redis run"
	@echo "make psql    open psql on the local database"

# `make test` also needs Chromium; asking for it here installs everything in one apt-get run.
setup: $(INSTALL_STAMP) .env
	@scripts/system-packages.sh $(SYSTEM_PACKAGES_FLAGS)

# Development values for a plain `python manage.py ...` in this checkout (git-ignored;
# settings read it only when DJANGO_DEBUG is not set in the environment).
.env:
	@printf 'DJANGO_DEBUG=1\nDJANGO_SECRET_KEY=dev-only-%s\n' "$$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')" > $@

# A missing (or broken: its interpreter gone) venv is made anew.
$(PY):
	@python=$$(scripts/find-python.sh); \
	echo "Creating $(VENV) with $$python"; \
	"$$python" -m venv --clear $(VENV)

# pip runs again only when pyproject.toml is newer than the stamp.
$(INSTALL_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --disable-pip-version-check --quiet --upgrade pip
	$(PY) -m pip install --disable-pip-version-check -e ".[test]"
	@touch $@

# services.sh prints `export DATABASE_URL=...` lines; a failing start stops the recipe here
# (the assignment carries its status, an eval of its output would not).
run: setup
	@env_lines=$$(scripts/services.sh start); eval "$$env_lines"; \
	export $(RUN_ENV); \
	$(PY) manage.py migrate --noinput; \
	if [[ -n "$(DIRECTORY_SEED)" ]]; then \
		$(PY) manage.py import_nordic_directory "$(DIRECTORY_SEED)"; \
	else \
		echo "No directory seed found; skipping import_nordic_directory"; \
	fi; \
	$(PY) manage.py load_demo; \
	$(PY) manage.py create_demo_data --patients 300 --seed 1 --if-empty; \
	$(PY) manage.py load_demo_trials; \
	DJANGO_EMAIL_BACKEND=django.core.mail.backends.locmem.EmailBackend $(PY) manage.py create_demo_screening --if-empty; \
	exec scripts/run.sh

# The habits the tools check (README: Code habits), before any test runs: a lint error, a
# formatting difference or an import against the app layering stops `make test` here.
lint: $(INSTALL_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	git ls-files -z '*.py' | xargs -0 $(VENV)/bin/django-upgrade --target-version 6.1 \
		--skip permalink --check

# Tests use Redis database 1, so they never touch the development data in 0. Locally the test
# database is reused between runs (pytest addopts --reuse-db); CI (CI=true) builds it afresh.
PYTEST_DB_FLAGS := $(if $(filter true 1,$(CI)),--create-db)
test: SYSTEM_PACKAGES_FLAGS := --browser
test: setup lint
	@env_lines=$$(REDIS_DB=1 scripts/services.sh start); eval "$$env_lines"; \
	export $(TEST_ENV); \
	exec $(PY) -m pytest $(PYTEST_DB_FLAGS) $(PYTEST_ARGS)

stop:
	@scripts/services.sh stop

status:
	@scripts/services.sh status

psql:
	@psql "$${DATABASE_URL:-postgres://postgres@127.0.0.1:54329/nbtc}"

# p50/p95 latency under 20 concurrent clients against gunicorn in production mode on
# 127.0.0.1:8010 (README: Benchmarks): the directory, then the register with 50,000 patients.
.PHONY: bench bench-directory bench-registry
bench: bench-directory bench-registry

bench-directory: setup
	@benchmarks/directory_latency.sh

bench-registry: setup
	@benchmarks/registry_latency.sh
