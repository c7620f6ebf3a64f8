"""Which client a sign-in limit, an API throttle and the access log count: the connection's
address when served directly (X-Forwarded-For is written by the client and ignored), the
address a trusted proxy appended when NBTC_TRUSTED_PROXY_COUNT says there is one."""

import os
import subprocess
import sys

import pytest
from django.test import RequestFactory
from rest_framework.throttling import AnonRateThrottle

from consortium.models import AccessLog, Role
from consortium.services import patient_access_log
from tests.conftest import PASSWORD, REPO_ROOT, make_member

pytestmark = pytest.mark.django_db

BLOCKED = b"Too many failed login attempts"


def fail_ten_sign_ins(client, forwarded_for):
    """Ten failed sign-ins for ten different addresses: only the per-client limit
    (10 a minute) is reached, never the per-account one (5 per 5 minutes)."""
    for n in range(10):
        response = client.post(
            "/accounts/login/",
            {"login": f"nobody{n}@example.no", "password": "wrong password"},
            headers={"X-Forwarded-For": forwarded_for(n)},
        )
        assert response.status_code == 200 and BLOCKED not in response.content


def sign_in_from(client, member, forwarded_for):
    return client.post(
        "/accounts/login/",
        {"login": member.email, "password": PASSWORD},
        headers={"X-Forwarded-For": forwarded_for},
    )


def test_served_directly_a_forged_forwarded_for_does_not_escape_the_sign_in_limit(client, settings):
    assert settings.ALLAUTH_TRUSTED_PROXY_COUNT == 0  # the default: direct serving
    member = make_member(Role.RESEARCHER)
    fail_ten_sign_ins(client, lambda n: f"198.51.100.{n}")  # a new forged address each time
    blocked = sign_in_from(client, member, "203.0.113.99")
    assert BLOCKED in blocked.content


def test_behind_one_proxy_two_clients_are_limited_separately(client, settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    member = make_member(Role.RESEARCHER)
    # The proxy (127.0.0.1, the test client's address) appends the address it saw.
    fail_ten_sign_ins(client, lambda n: "10.9.9.9, 198.51.100.7")
    assert BLOCKED in sign_in_from(client, member, "198.51.100.7").content
    other_client = sign_in_from(client, member, "203.0.113.5")
    assert other_client.status_code == 302 and BLOCKED not in other_client.content


@pytest.fixture
def three_anonymous_calls_a_minute(monkeypatch):
    monkeypatch.setitem(AnonRateThrottle.THROTTLE_RATES, "anon", "3/minute")


def call_the_public_api(client, forwarded_for):
    return client.get("/api/v1/directory/groups/", headers={"X-Forwarded-For": forwarded_for})


def test_served_directly_api_throttles_ignore_a_forged_forwarded_for(
    client, three_anonymous_calls_a_minute
):
    for n in range(3):
        assert call_the_public_api(client, f"198.51.100.{n}").status_code == 200
    throttled = call_the_public_api(client, "198.51.100.200")
    assert throttled.status_code == 429
    assert set(throttled.json()) == {"message", "extra"}


def test_behind_one_proxy_api_throttles_count_each_client(
    client, settings, three_anonymous_calls_a_minute
):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    for _ in range(3):
        assert call_the_public_api(client, "198.51.100.7").status_code == 200
    assert call_the_public_api(client, "198.51.100.7").status_code == 429
    assert call_the_public_api(client, "203.0.113.5").status_code == 200


def test_the_access_log_records_the_client_not_the_proxy(settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    request = RequestFactory().get(
        "/registry/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.7"
    )
    request.user = make_member(Role.CLINICIAN)
    patient_access_log(request, patient_ids=[5], page="registry:patient")
    assert AccessLog.objects.get().ip == "198.51.100.7"


def settings_with(environment):
    env = {k: v for k, v in os.environ.items() if k != "NBTC_TRUSTED_PROXY_COUNT"}
    env.update(environment)
    code = (
        "from django.conf import settings as s;"
        "print(s.ALLAUTH_TRUSTED_PROXY_COUNT, s.REST_FRAMEWORK['NUM_PROXIES'])"
    )
    result = subprocess.run(  # noqa: S603 (our own manage.py, fixed arguments)
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_one_environment_variable_sets_the_proxy_count_for_sign_in_and_the_api():
    assert settings_with({}) == ["0", "0"]
    assert settings_with({"NBTC_TRUSTED_PROXY_COUNT": "1"}) == ["1", "1"]
