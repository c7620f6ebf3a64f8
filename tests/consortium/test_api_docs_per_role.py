"""The API docs per role: /api/schema/ (which /api/docs/ shows) lists only the operations the
member's role can use, and links back to the app. Checked against the endpoints themselves:
every list endpoint is called as each role, and it is in that role's schema exactly when it
does not answer 403."""

import pytest
from drf_spectacular.generators import SchemaGenerator

from consortium import api_docs
from consortium.models import Role
from tests.conftest import make_member, sign_in

pytestmark = pytest.mark.django_db

ROLES = [Role.CLINICIAN, Role.COORDINATOR, Role.LAB_SCIENTIST, Role.RESEARCHER, Role.ADMIN]
HOME = {Role.LAB_SCIENTIST: ("UIB-LAB",), Role.RESEARCHER: ("UIO-ICR",)}


def full_schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def schema_as(client, role, email=None) -> dict:
    member = make_member(role, institutions=HOME.get(role, ("OUS",)), email=email, with_totp=True)
    sign_in(client, member)
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def operations(schema) -> set[str]:
    return {f"{m.upper()} {p}" for p, ops in schema["paths"].items() for m in ops}


@pytest.mark.parametrize("role", ROLES)
def test_each_list_endpoint_is_in_a_roles_schema_exactly_when_the_role_may_call_it(
    client, directory, role
):
    mine = operations(schema_as(client, role))
    checked = 0
    for path, ops in full_schema()["paths"].items():
        if "get" not in ops or "{" in path:
            continue
        status = client.get(path).status_code
        assert (status != 403) == (f"GET {path}" in mine), f"{role}: GET {path} -> {status}"
        checked += 1
    assert checked >= 15


def test_a_researcher_sees_the_research_api_and_not_the_patients(client):
    mine = operations(schema_as(client, Role.RESEARCHER))
    assert {"GET /api/v1/research/aggregates/", "GET /api/v1/me/"} <= mine
    assert "POST /api/v1/research/projects/" in mine
    for hidden in (
        "GET /api/v1/registry/patients/",
        "GET /api/v1/registry/patients/{register_number}/",
        "GET /api/v1/members/",
        "GET /api/v1/trials/matches/",
        "GET /api/v1/screening/requests/{request_id}/",
        "POST /api/v1/research/projects/{project_id}/decision/",
    ):
        assert hidden not in mine, hidden
    assert len(mine) < len(operations(full_schema())) / 2


def test_each_role_sees_its_own_writes(client):
    coordinator = operations(schema_as(client, Role.COORDINATOR))
    assert "GET /api/v1/registry/patients/" in coordinator
    assert "POST /api/v1/registry/patients/" not in coordinator  # clinicians register
    assert "POST /api/v1/registry/episodes/{episode_id}/reopen/" in coordinator
    assert "POST /api/v1/trials/matches/steps/" in coordinator
    client.logout()
    clinician = operations(schema_as(client, Role.CLINICIAN))
    assert "POST /api/v1/registry/patients/" in clinician
    assert "POST /api/v1/registry/patients/{register_number}/national-id/" in clinician
    assert "POST /api/v1/screening/reports/{report_id}/sign/" not in clinician
    assert "POST /api/v1/trials/matches/{id}/reply/" in clinician
    client.logout()
    lab = operations(schema_as(client, Role.LAB_SCIENTIST))
    assert "POST /api/v1/screening/reports/{report_id}/sign/" in lab
    assert "GET /api/v1/registry/patients/" not in lab
    client.logout()
    admin = operations(schema_as(client, Role.ADMIN))
    assert {"GET /api/v1/members/", "POST /api/v1/members/{member_id}/deactivate/"} <= admin
    assert "GET /api/v1/screening/requests/" not in admin


def test_the_schema_says_whose_it_is_and_links_back_to_the_app(client):
    schema = schema_as(client, Role.RESEARCHER)
    description = schema["info"]["description"]
    assert "the **Researcher** role can use" in description
    assert "[Back to the NBTC platform](/)" in description


def test_a_visitor_who_is_not_signed_in_sees_the_public_endpoints(client):
    mine = operations(client.get("/api/schema/", {"format": "json"}).json())
    assert "GET /api/v1/directory/groups/" in mine and "GET /api/v1/registry/indicators/" in mine
    assert "GET /api/v1/me/" not in mine and "GET /api/v1/registry/patients/" not in mine


def test_the_schema_is_built_once_per_role(client):
    api_docs._SCHEMAS.clear()
    first = schema_as(client, Role.RESEARCHER)
    assert list(api_docs._SCHEMAS) == [(Role.RESEARCHER, None)]
    cached = api_docs._SCHEMAS[(Role.RESEARCHER, None)]
    client.logout()
    again = schema_as(client, Role.RESEARCHER, email="other@uio.no")  # same role
    assert again == first and api_docs._SCHEMAS[(Role.RESEARCHER, None)] is cached
    client.logout()
    schema_as(client, Role.ADMIN)
    assert set(api_docs._SCHEMAS) == {(Role.RESEARCHER, None), (Role.ADMIN, None)}
