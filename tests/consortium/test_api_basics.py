"""The API for scripts: token authentication, the schema, and the docs under the CSP."""

import re

import pytest

from consortium.models import Role
from tests.conftest import make_member, sign_in

pytestmark = pytest.mark.django_db


def test_a_member_creates_a_token_and_a_script_uses_it(client):
    researcher = make_member(Role.RESEARCHER)
    sign_in(client, researcher)
    response = client.post("/account/api-token/", {"name": "my script", "days": 30})
    assert response.status_code == 201
    token = re.search(r'id="new-api-token">(\w+)<', response.content.decode()).group(1)

    from django.test import Client

    script = Client()
    me = script.get("/api/v1/me/", headers={"Authorization": f"Token {token}"})
    assert me.status_code == 200
    assert me.json() == {
        "email": researcher.email,
        "full_name": "Researcher",
        "role": "researcher",
        "institutions": ["OUS"],
    }
    assert script.get("/api/v1/me/", headers={"Authorization": "Token " + "0" * 64}).json() == {
        "message": "Invalid token.",
        "extra": {},
    }

    client.post(f"/account/api-token/{token[:15]}/revoke/")
    assert script.get("/api/v1/me/", headers={"Authorization": f"Token {token}"}).status_code == 401


def test_the_openapi_schema_lists_the_endpoints(client):
    # A visitor who is not signed in is shown the public endpoints; a member also theirs.
    schema = client.get("/api/schema/", headers={"Accept": "application/json"}).content.decode()
    assert "/api/v1/directory/groups/" in schema and "/api/v1/me/" not in schema
    sign_in(client, make_member(Role.RESEARCHER, institutions=("UIO-ICR",)))
    schema = client.get("/api/schema/", headers={"Accept": "application/json"}).content.decode()
    assert "/api/v1/directory/groups/" in schema and "/api/v1/me/" in schema


def test_the_openapi_schema_generates_without_warnings(tmp_path):
    """Every endpoint of every app documented: drf-spectacular's own validation, failing on
    any warning (an undocumented response, an enum name collision)."""
    from django.core.management import call_command

    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml")
    )
    schema = (tmp_path / "schema.yml").read_text()
    for path in (
        "/api/v1/registry/patients/",
        "/api/v1/trials/",
        "/api/v1/screening/requests/{request_id}/results/",
        "/api/v1/screening/reports/{report_id}/sign/",
    ):
        assert path + ":" in schema, path


def test_the_api_docs_load_only_local_assets_under_the_csp(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert (
        "default-src 'self'" in csp
        and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    )
    html = response.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    # Paths on this site, or a fragment of the page itself (the skip link).
    assert sources and all(s.startswith(("/", "#")) for s in sources), sources
    assert any("swagger-ui" in s for s in sources)
    assert "<script>" not in html.replace(" ", "")  # no inline script for the CSP to block
