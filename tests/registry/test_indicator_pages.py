"""The indicators page and API: who sees exact figures, small-cell suppression worked by
hand, the clinician's own patients who missed an indicator, and a constant number of
queries whatever the register's size."""

import re
from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from consortium.models import AccessLog, Role
from registry import indicator_services
from registry.indicator_selectors import published_year
from registry.models import IndicatorSnapshot
from tests.conftest import make_member, sign_in
from tests.registry.indicator_cohorts import episode, patient

pytestmark = pytest.mark.django_db

YEAR = published_year()
API = "/api/v1/registry/indicators/"


def cohort(sizes: dict[str, tuple[int, int]], year: int = YEAR):
    """Per hospital (complete, draft) reports diagnosed in `year`."""
    for code, (complete, draft) in sizes.items():
        for status in ["complete"] * complete + ["draft"] * draft:
            episode(patient(at=(code,)), reporting=code, diagnosed=date(year, 3, 1), status=status)


def snapshot() -> IndicatorSnapshot:
    return indicator_services.snapshot_compute(indicator_services.snapshot_request().pk)


@pytest.fixture
def five_hospitals():
    # Coverage denominators: OUS 10, HUS 3, SUS 12, STOLAV 6, UNN 8.
    cohort({"OUS": (7, 3), "HUS": (2, 1), "SUS": (6, 6), "STOLAV": (3, 3), "UNN": (8, 0)})
    return snapshot()


def coverage_rows(client, **params):
    response = client.get(API, {"code": "coverage", "year": YEAR, **params})
    assert response.status_code == 200, response.content
    return {(r["institution"], r["region"]): r for r in response.json()["results"]}


def test_small_cells_are_suppressed_with_their_neighbour_in_the_region(client, five_hospitals):
    researcher = make_member(Role.RESEARCHER, institutions=("UIO-ICR",))
    sign_in(client, researcher)
    rows = coverage_rows(client)
    # HUS has 3 (< 5): hidden. It is the only hidden cell of Helse Vest, whose total is
    # shown, so the region's next smallest, SUS (12), is hidden too. Nationally two cells
    # are then hidden, so nothing more: OUS, STOLAV, UNN are shown.
    assert {code for (code, _), r in rows.items() if r["suppressed"]} == {"HUS", "SUS"}
    hus = rows[("HUS", "")]
    assert hus["numerator"] is hus["denominator"] is hus["value"] is hus["ci_low"] is None
    # The national figure is always shown: 26 complete of 39.
    national = rows[(None, "")]
    assert (national["numerator"], national["denominator"]) == (26, 39)
    assert national["value"] == pytest.approx(26 / 39)
    assert 0 < national["ci_low"] < national["value"] < national["ci_high"] < 1
    assert national["target_moderate"] == 0.6 and national["target_high"] == 0.8
    assert national["attainment"] == "moderate"  # 66.7 %
    stolav = rows[("STOLAV", "")]
    assert (stolav["numerator"], stolav["denominator"], stolav["attainment"]) == (3, 6, "low")
    # The regional total is shown with a region filter.
    west = coverage_rows(client, region="west")[(None, "west")]
    assert (west["numerator"], west["denominator"]) == (8, 15)


def test_one_small_cell_alone_in_its_region_takes_the_nations_next_smallest(client):
    # UNN 3 is the only hospital of Helse Nord: nothing to pair it with there, so the
    # nation's next smallest shown cell, STOLAV (6), is hidden with it.
    cohort({"OUS": (10, 0), "HUS": (5, 5), "SUS": (6, 6), "STOLAV": (3, 3), "UNN": (1, 2)})
    snapshot()
    sign_in(client, make_member(Role.RESEARCHER, institutions=("UIO-ICR",)))
    rows = coverage_rows(client)
    assert {code for (code, _), r in rows.items() if r["suppressed"]} == {"UNN", "STOLAV"}


def test_own_hospital_and_admins_see_exact_figures(client, five_hospitals):
    clinician = make_member(Role.CLINICIAN, institutions=("HUS",), with_totp=True)
    sign_in(client, clinician)
    rows = coverage_rows(client)
    assert rows[("HUS", "")]["suppressed"] is False
    assert (rows[("HUS", "")]["numerator"], rows[("HUS", "")]["denominator"]) == (2, 3)
    assert rows[("SUS", "")]["suppressed"] is True  # not their hospital
    client.logout()
    sign_in(client, make_member(Role.ADMIN, institutions=(), with_totp=True, email="a@x.no"))
    assert not any(r["suppressed"] for r in coverage_rows(client).values())


def test_anonymous_visitors_see_the_published_year_only(client):
    cohort({"OUS": (5, 5)})
    cohort({"OUS": (1, 0)}, year=YEAR - 1)
    snapshot()
    assert client.get(API, {"code": "coverage", "year": YEAR}).status_code == 200
    refused = client.get(API, {"year": YEAR - 1})
    assert refused.status_code == 403 and str(YEAR) in refused.json()["message"]
    page = client.get("/registry/indicators/", {"year": YEAR - 1})
    assert page.status_code == 200
    assert re.search(rf'<option value="{YEAR}" selected>', page.content.decode())
    assert f'<option value="{YEAR - 1}"' not in page.content.decode()


def test_bad_filters_name_the_field(client, five_hospitals):
    response = client.get(API, {"region": "atlantis", "year": "soon"})
    assert response.status_code == 400
    assert set(response.json()["extra"]["fields"]) == {"region", "year"}


def test_the_page_draws_the_funnel_with_the_members_hospital_marked(client, five_hospitals):
    clinician = make_member(Role.CLINICIAN, institutions=("SUS",), with_totp=True)
    sign_in(client, clinician)
    body = client.get("/registry/indicators/", {"year": YEAR}).content.decode()
    coverage = body[body.index('id="coverage"') : body.index('id="gbm_survival_1y"')]
    assert '<svg class="funnel"' in coverage
    assert '<g class="hospital own">' in coverage and ">SUS</text>" in coverage
    assert "&lt;5" in coverage  # HUS for this member
    assert "style=" not in body  # the CSP forbids inline styles
    # Targets are drawn and each number explains itself.
    assert 'class="target target-high"' in coverage and "kreftregisteret.no" in body
    assert "Data as of" in body


def test_the_page_takes_the_same_queries_whatever_the_register_holds(client):
    clinician = make_member(Role.CLINICIAN, institutions=("OUS",), with_totp=True)
    sign_in(client, clinician)
    cohort({"OUS": (1, 1)})
    snapshot()
    # The session's first request records the session (another page: this one's figures,
    # once rendered, are cached per snapshot and view).
    client.get("/registry/worklist/")
    with CaptureQueriesContext(connection) as small:
        assert client.get("/registry/indicators/", {"year": YEAR}).status_code == 200
    cohort({"OUS": (5, 5), "HUS": (6, 2), "SUS": (3, 3), "UNN": (7, 1), "STOLAV": (2, 9)})
    cohort({"OUS": (5, 5), "HUS": (6, 2)}, year=YEAR - 1)
    snapshot()
    with CaptureQueriesContext(connection) as large:
        assert client.get("/registry/indicators/", {"year": YEAR}).status_code == 200
    with CaptureQueriesContext(connection) as cached:
        assert client.get("/registry/indicators/", {"year": YEAR}).status_code == 200
    assert len(cached) < len(large) == len(small) <= 12, (len(cached), len(large), len(small))


def test_clinicians_list_their_own_patients_who_missed_an_indicator(client, five_hospitals):
    clinician = make_member(Role.CLINICIAN, institutions=("HUS",), with_totp=True)
    sign_in(client, clinician)
    page = client.get("/registry/indicators/coverage/missed/", {"year": YEAR, "institution": "HUS"})
    assert page.status_code == 200
    numbers = re.findall(r">(NB-[0-9A-Z]{4}-[0-9A-Z]{4})</a>", page.content.decode())
    assert len(numbers) == 1  # HUS: one draft report of three
    logged = AccessLog.objects.filter(user=clinician, page="registry:indicator_missed")
    assert logged.count() == 1
    # Another hospital's list is not theirs: they get their own.
    other = client.get(
        "/registry/indicators/coverage/missed/", {"year": YEAR, "institution": "OUS"}
    )
    assert re.findall(r">(NB-[0-9A-Z]{4}-[0-9A-Z]{4})</a>", other.content.decode()) == numbers


@pytest.mark.parametrize("role", [Role.RESEARCHER, Role.COORDINATOR])
def test_everyone_else_sees_counts_only(client, five_hospitals, role):
    member = make_member(role, institutions=("HUS",), with_totp=role != Role.RESEARCHER)
    sign_in(client, member)
    response = client.get("/registry/indicators/coverage/missed/", {"year": YEAR})
    assert response.status_code == 403
    assert "Patients not met" not in client.get("/registry/indicators/").content.decode()


def test_admins_start_a_computation(client, django_capture_on_commit_callbacks):
    admin = make_member(Role.ADMIN, institutions=(), with_totp=True)
    sign_in(client, admin)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post("/registry/indicators/snapshots/")
    # After commit: the task is sent, and the page's cached view of the snapshots renewed.
    assert response.status_code == 302 and len(callbacks) == 2
    assert IndicatorSnapshot.objects.get().status == "queued"
    client.logout()
    sign_in(client, make_member(Role.CLINICIAN, institutions=("OUS",), with_totp=True))
    assert client.post("/registry/indicators/snapshots/").status_code == 403


def test_the_api_is_in_the_openapi_schema(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/registry/indicators/"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {
        "year",
        "institution",
        "region",
        "diagnosis_group",
    }
