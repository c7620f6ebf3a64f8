"""Who sees what on EVERY research URL and API endpoint (read from the URLconf, so a new
route is covered the day it is added): a project and its extract are 404 for every member
outside it (any role, any method) and nothing changes; the aggregates and the dictionary
answer every signed-in member; the project's researcher and a deciding admin reach every
route they own."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from consortium.models import Institution, Role
from registry import research_dictionary, research_extracts
from registry.models import ExtractDownload, ResearchExtract, ResearchProject
from registry.research_services import extract_request, project_apply, project_decide
from tests.conftest import make_member, sign_in, url_routes
from tests.registry.factories import clinician, fast_password_hashing, make_episode, make_patient

__all__ = ["fast_password_hashing"]

ROUTES = url_routes("research")
# Pages about no particular project: any signed-in member may get an answer (or be refused
# by role); they are checked below for not showing the project.
OPEN_PAGES = {
    "aggregates",
    "markers",
    "dictionary",
    "dictionary_csv",
    "projects",
    "project_apply",
    "deliveries",
    "research_aggregates",
    "research_markers",
    "research_dictionary",
    "research_projects",
    "research_deliveries",
}
TITLE = "Secret cohort of Tromsø gliomas"


@pytest.fixture(autouse=True)
def extract_root(settings, tmp_path):
    settings.NBTC_EXTRACT_ROOT = tmp_path


@pytest.fixture
def delivered(db):
    by = clinician("OUS")
    patient = make_patient(by, full_name="Hedda Gabler", birth_date=date(1970, 1, 2))
    make_episode(patient, by, diagnosis_date=date(2024, 1, 1), diagnosis="meningioma", who_grade=1)
    researcher = make_member(
        Role.RESEARCHER, institutions=("UIO-ICR",), with_totp=True, email="owner@uio.no"
    )
    decider = make_member(Role.ADMIN, institutions=("OUS",), with_totp=True, email="d@nbtc.no")
    project = project_apply(
        by=researcher,
        title=TITLE,
        purpose="p",
        institution=Institution.objects.get(code="UIO-ICR"),
        rek_number="REK 1",
        rek_date=date(2026, 1, 1),
        legal_basis="consent",
        end_date=timezone.localdate() + timedelta(days=30),
        variables=research_dictionary.default_variables(),
    )
    approved = project_decide(project=project, by=decider, approve=True, reason="ok")
    extract = research_extracts.extract_build(extract_request(project=approved, by=researcher).pk)
    # A second application, still waiting, for the decision route.
    waiting = project_apply(
        by=researcher,
        title=TITLE + " 2",
        purpose="p",
        institution=Institution.objects.get(code="UIO-ICR"),
        rek_number="REK 2",
        rek_date=date(2026, 1, 1),
        legal_basis="consent",
        end_date=timezone.localdate() + timedelta(days=30),
        variables=["sex"],
    )
    return researcher, decider, approved, waiting, extract, patient


def _fill(route: str, project, extract) -> str:
    path = (
        route.replace("<int:project_id>", str(project.pk))
        .replace("<int:extract_id>", str(extract.pk))
        .replace("<int:file_id>", str(extract.files.first().pk))
    )
    assert "<" not in path, route
    return "/" + path


def _snapshot():
    return [
        list(m.objects.order_by("pk").values())
        for m in (ResearchProject, ResearchExtract, ExtractDownload)
    ]


@pytest.mark.parametrize(
    "role,institutions",
    [
        (Role.CLINICIAN, ("OUS",)),
        (Role.COORDINATOR, ("OUS",)),
        (Role.LAB_SCIENTIST, ("UIB-LAB",)),
        (Role.RESEARCHER, ("UIO-ICR",)),
        (Role.RESEARCHER, ("UIB-LAB",)),
    ],
)
def test_no_research_url_shows_or_changes_another_members_project(
    client, delivered, role, institutions
):
    _, _, project, _, extract, patient = delivered
    member = make_member(role, institutions=institutions, with_totp=True)
    sign_in(client, member)
    before = _snapshot()
    checked = 0
    for route, name in ROUTES:
        path = _fill(route, project, extract)
        allowed = {200, 302, 400, 403} if name in OPEN_PAGES else {404}
        for method in ("get", "post", "put", "patch", "delete"):
            response = getattr(client, method)(
                path,
                data={} if method in ("get", "post") else "{}",
                **({} if method in ("get", "post") else {"content_type": "application/json"}),
            )
            assert response.status_code in allowed | {405}, (
                f"{method.upper()} {path} -> {response.status_code}"
            )
            body = (
                b"".join(response.streaming_content)
                if getattr(response, "streaming", False)
                else response.content
            ).decode(errors="replace")
            assert TITLE not in body, f"{method.upper()} {path} shows the project"
            assert patient.full_name not in body and patient.national_id not in body
            checked += 1
    assert _snapshot()[:2] == before[:2]
    assert checked == 5 * len(ROUTES) and len(ROUTES) >= 20


def test_anonymous_visitors_reach_no_research_url(client, delivered):
    _, _, project, _, extract, _ = delivered
    for route, _name in ROUTES:
        response = client.get(_fill(route, project, extract))
        assert response.status_code in (302, 401, 403), route


def test_every_research_route_answers_its_owner(client, delivered):
    """The project's researcher reaches every route but the admin's (decision, deliveries);
    the deciding admin those, so the test above proves the rule, not broken URLs."""
    from django.test import Client

    researcher, decider, project, waiting, extract, _ = delivered
    sign_in(client, researcher)
    admin = Client()
    sign_in(admin, decider)
    admin_routes = {"project_decide", "research_project_decision", "deliveries"}
    admin_routes |= {"research_deliveries"}
    posts = {"project_decide", "research_project_decision", "extract_start", "research_extracts"}
    walked = 0
    for route, name in ROUTES:
        owner = admin if name in admin_routes else client
        target = waiting if name in {"project_decide", "research_project_decision"} else project
        path = _fill(route, target, extract)
        if name in posts:
            response = owner.post(path, {}, content_type="application/json")
            # Past the permission check: the missing decision or nothing to refuse.
            assert response.status_code in (202, 302, 400), f"POST {path} -> {response.status_code}"
        else:
            query = {"diagnosis": "meningioma"} if name == "research_markers" else {}
            response = owner.get(path, query)
            assert response.status_code == 200, f"GET {path} -> {response.status_code}"
        walked += 1
    assert walked == len(ROUTES)
