"""Shared fixtures: members of each role, real sign-in through allauth with a real TOTP
code, the seed document, and a clean cache (rate limits live in Redis) per test."""

import importlib
import os
import re
import time
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
)
from django.core.cache import cache

from consortium.models import Institution, Role, User

# Playwright's sync API runs an event loop in the test thread; Django must allow ORM calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

REPO_ROOT = Path(__file__).resolve().parents[1]
SEED = REPO_ROOT / "seeds" / "nordic-cancer-collaboration-overview.txt"
# Public ClinicalTrials.gov records, the same copy load_demo_trials imports (README there).
CTGOV = REPO_ROOT / "trials" / "demo_data" / "ctgov"

PASSWORD = "correct horse battery staple"


def pytest_collection_modifyitems(items):
    """Every test that drives Chromium (uses the `page` fixture, directly or through
    another fixture) carries the browser marker, so `-m "not browser"` skips all of them
    even where a test forgot @pytest.mark.browser."""
    for item in items:
        if "page" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Browser tests (pytest-playwright) run Debian's headless Chromium; `playwright install`
    is never run here."""
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "headless": True,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }


def _seed_reference_data() -> None:
    """What the data migrations seed (institutions, the screening library); idempotent."""
    from django.apps import apps

    from screening.library import seed as seed_library

    importlib.import_module("consortium.migrations.0002_seed_institutions").seed(apps, None)
    seed_library(apps)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """With --reuse-db the test database outlives the run, and the transactional tests at the
    end of the last run flushed every table, seeded rows too: put them back once per run."""
    with django_db_blocker.unblock():
        _seed_reference_data()


@pytest.fixture(scope="session", autouse=True)
def _flush_past_append_only_tables():
    """History and the access log refuse TRUNCATE (consortium/append_only.py), and Django
    empties the test database after each transactional test with one TRUNCATE of every
    table. That flush, and only it, runs with the guard lifted (pgtrigger.ignore) for
    its own statement: the test database is thrown away, the rule holds everywhere else.
    The flush also empties what the data migrations seeded (institutions, the screening
    library): they go back straight after it, so every later test, in a transaction or
    not, and whichever fixtures it asks for, starts from the migrated database."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    from consortium.append_only import truncate_allowed

    flush = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        with truncate_allowed():
            flushed = flush(self, sql_list)
        _seed_reference_data()
        return flushed

    DatabaseOperations.execute_sql_flush = execute_sql_flush
    yield
    DatabaseOperations.execute_sql_flush = flush


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


# allauth accepts the current 30-second window only (MFA_TOTP_TOLERANCE is 0): a code computed
# in a window's last seconds expires before the server checks it.
TOTP_FRESH_SECONDS = 3


def totp_code(secret: str, *, clock=time.time, sleep=time.sleep) -> str:
    """The TOTP code of a window with at least TOTP_FRESH_SECONDS left: near the window's end
    it waits for the next one first. Every test that types a code gets it here."""
    period = mfa_settings.TOTP_PERIOD
    left = period - clock() % period
    if left < TOTP_FRESH_SECONDS:
        sleep(left + 0.2)
    return format_hotp_value(hotp_value(secret, int(clock()) // period))


def browser_sign_in(page, base_url: str, user) -> None:
    """allauth's pages in a real browser: e-mail and password, then the TOTP code."""
    from playwright.sync_api import expect

    page.goto(f"{base_url}/accounts/login/")
    page.locator('input[name="login"]').fill(user.email)
    page.locator('input[name="password"]').fill(PASSWORD)
    page.locator('form button[type="submit"]').first.click()
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/$"))
    page.locator('input[name="code"]').fill(totp_code(user.totp_secret))
    page.locator('form button[type="submit"]').first.click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def watch_console(page, errors: list):
    """Collect console errors and uncaught exceptions (a CSP violation logs one)."""
    page.on(
        "console",
        lambda msg: (
            errors.append(f"{msg.text} ({msg.location.get('url')})")
            if msg.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page


def url_routes(app: str) -> list[tuple[str, str]]:
    """(full route, name) of every page and API route of an app, read from the URLconf, so
    the who-sees-what tests cover a new route the day it is added."""
    from django.urls import URLPattern, URLResolver, get_resolver

    found = []

    def walk(patterns, prefix):
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern) and prefix.startswith((f"{app}/", f"api/v1/{app}/")):
                found.append((prefix + str(p.pattern), p.name))

    walk(get_resolver().url_patterns, "")
    return found


def make_member(role: str, *, institutions=("OUS",), email=None, with_totp=False) -> User:
    email = email or f"{role}@example.no"
    user = User.objects.create_user(email, password=PASSWORD, role=role, full_name=role.title())
    user.institutions.set(Institution.objects.filter(code__in=institutions))
    EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
    if with_totp:
        user.totp_secret = generate_totp_secret()
        TOTP.activate(user, user.totp_secret)
    return user


@pytest.fixture
def member_factory(db):
    return make_member


def sign_in(client, user: User) -> None:
    """The real allauth flow: password, then the TOTP code when the member has one."""
    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.content[:500]
    if getattr(user, "totp_secret", None):
        assert response["Location"] == "/accounts/2fa/authenticate/"
        response = client.post("/accounts/2fa/authenticate/", {"code": totp_code(user.totp_secret)})
        assert response.status_code == 302


@pytest.fixture
def coordinator(db):
    return make_member(Role.COORDINATOR, with_totp=True)


@pytest.fixture
def researcher(db):
    return make_member(Role.RESEARCHER, institutions=("UIO-ICR",))


@pytest.fixture
def coordinator_client(client, coordinator):
    sign_in(client, coordinator)
    return client


@pytest.fixture
def researcher_client(client, researcher):
    sign_in(client, researcher)
    return client


@pytest.fixture
def directory(db, seed_text):
    from consortium.services import directory_import

    directory_import(text=seed_text, source="seed")
