"""Who reaches which page: checked over every URL the project serves, so a page added
later without a guard fails here."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from consortium.models import Role
from tests.conftest import make_member, sign_in

pytestmark = pytest.mark.django_db

# Pages anyone may open. Everything else needs a signed-in member.
PUBLIC = [
    r"^$",
    r"^directory/$",
    r"^directory/<slug:slug>/$",
    r"^accounts/",  # allauth guards its own pages (sign-in, reset, MFA stage)
    r"^api/v1/directory/",
    # The published quality indicators are public (aggregates, small cells suppressed; the
    # registry's indicator tests pin what an anonymous caller sees).
    r"^registry/indicators/$",
    r"^api/v1/registry/indicators/$",
    r"^api/schema/$",
    r"^api/docs/$",
    r"^static/",
]
# Pages only coordinators and admins (directory editors) or admins reach.
EDITORS_ONLY = ["directory/suggestions/", "directory/{slug}/edit/"]
ADMINS_ONLY = [
    "members/",
    "api/v1/members/",
    "members/invite/",
    "admin/",
    "admin/consortium/user/",
]


def all_routes(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from all_routes(entry, route)
        elif isinstance(entry, URLPattern):
            yield route


def as_path(route: str) -> str:
    """A concrete path for a route, with sample values in place of its parameters."""
    path = route.lstrip("^").rstrip("$").replace("\\Z", "")
    path = re.sub(r"<int:\w+>|<path:\w+>|\(\?P<\w+>[^)]*\)", "1", path)
    path = re.sub(r"<(?:slug|str|uuid):?\w*>", "sample", path)
    path = path.replace("\\", "")
    return "/" + path


def member_only_paths():
    paths = []
    for route in all_routes():
        if any(re.match(p, route.lstrip("^")) for p in PUBLIC):
            continue
        if "(?P<" in route and "admin" in route and "<" not in route.split("(?P<")[0]:
            continue
        paths.append(as_path(route))
    return sorted(set(paths))


def test_the_route_list_covers_the_member_pages():
    paths = member_only_paths()
    assert "/account/" in paths and "/members/invite/" in paths and "/api/v1/me/" in paths
    assert "/directory/sample/edit/" in paths and "/directory/suggestions/" in paths


@pytest.mark.parametrize("path", member_only_paths())
def test_an_anonymous_visitor_reaches_no_member_page(client, path):
    response = client.get(path, follow=True)
    if path.startswith("/api/"):
        assert response.status_code in (401, 403), path
    elif response.status_code == 200:
        # Redirected in the end to a sign-in page, never shown the member page.
        final = response.redirect_chain[-1][0] if response.redirect_chain else path
        assert "/accounts/login/" in final, path
    else:
        assert response.status_code in (404, 405), path


@pytest.mark.parametrize("path", EDITORS_ONLY + ADMINS_ONLY)
def test_a_researcher_reaches_no_editor_or_admin_page(client, directory, path):
    researcher = make_member(Role.RESEARCHER)
    sign_in(client, researcher)
    response = client.get("/" + path.format(slug="nordic-lymphoma-group"))
    assert response.status_code in (302, 403), path
    if response.status_code == 302:
        assert "login" in response["Location"]


@pytest.mark.parametrize("path", ADMINS_ONLY[:3])
def test_a_coordinator_reaches_no_admin_page(coordinator_client, path):
    assert coordinator_client.get("/" + path).status_code == 403


def test_an_admin_reaches_member_management(client):
    admin = make_member(Role.ADMIN, with_totp=True)
    sign_in(client, admin)
    assert client.get("/members/").status_code == 200
    assert client.get("/api/v1/members/").status_code == 200
    assert client.get("/members/invite/").status_code == 200
