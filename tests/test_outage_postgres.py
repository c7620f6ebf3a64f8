"""PostgreSQL restarting: requests in that moment get 503 with Retry-After (a plain page, or
the API's one error shape), never a 500 with a traceback; once it is back the same session
carries on. The test stops and starts the suite's own cluster (scripts/services.sh) and
talks to a real HTTP server (live_server), whose connections work as in production."""

import json
import urllib.error
import urllib.request

import pytest
from django.conf import settings
from django.db import connections

from consortium.models import Role
from tests.conftest import make_member, sign_in
from tests.faults import SuiteDatabaseServer
from tests.trials.factories import patient

pytestmark = [pytest.mark.fault, pytest.mark.django_db(transaction=True)]


def _get(url: str, cookie: str, accept: str = "text/html"):
    # The live server's http:// URL only.
    request = urllib.request.Request(url, headers={"Cookie": cookie, "Accept": accept})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


def test_requests_while_postgresql_restarts_get_503_with_retry_after(live_server, client):
    server = SuiteDatabaseServer()
    if not server.usable():
        pytest.skip("the database is not a local cluster this test can stop (DATABASE_URL)")
    clinician = make_member(Role.CLINICIAN, with_totp=True, email="doc@example.no")
    p = patient()
    sign_in(client, clinician)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    page_url = f"{live_server.url}{p.get_absolute_url()}"
    api_url = f"{live_server.url}/api/v1/registry/patients/{p.register_number}/"
    assert _get(page_url, cookie)[0] == 200

    server.stop()
    try:
        status, headers, body = _get(page_url, cookie)
        assert (status, headers["Retry-After"]) == (503, "30"), body[:500]
        assert "Unavailable for a moment" in body and "Traceback" not in body
        status, headers, body = _get(api_url, cookie, accept="application/json")
        assert (status, headers["Retry-After"]) == (503, "30"), body[:500]
        assert headers["Content-Type"] == "application/json"
        assert json.loads(body) == {
            "message": "The database is unavailable for a moment. Try again in 30 seconds.",
            "extra": {},
        }
    finally:
        server.start()
        connections.close_all()  # this thread's connections ended with the old server

    status, _, body = _get(page_url, cookie)
    assert status == 200 and "Kari Nordmann" in body
    assert _get(api_url, cookie, accept="application/json")[0] == 200
