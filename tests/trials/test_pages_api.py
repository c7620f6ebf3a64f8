"""The pages and the API: the criteria editor without JSON, the API's one error format
(400 naming the field, 409 on a stale version), review steps and bulk actions, the
clinician's answer on the patient page, catalogue filters, the funnel and its CSV,
and query counts that do not grow with the rows shown."""

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from consortium.models import AccessLog, Role
from tests.conftest import make_member, sign_in
from tests.trials.factories import GBM, RECURRENT_GBM, episode, patient, tree, trial
from trials import engine
from trials.models import Match, ReviewEvent, Step, Trial, TrialArm

pytestmark = pytest.mark.django_db


@pytest.fixture
def coordinator_client(client):
    sign_in(
        client,
        make_member(
            Role.COORDINATOR, institutions=("OUS", "HUS"), with_totp=True, email="coord@example.no"
        ),
    )
    return client


def matched(n=1, institution="OUS", t=None):
    t = t or trial(RECURRENT_GBM, norwegian=True)
    for _ in range(n):
        p = patient(institutions=(institution,))
        episode(p, institution=institution, markers={"mgmt": "altered"}, ecog=1, follow_ups=[True])
    engine.match_trial(t.pk)
    return t


def row(i, **values) -> dict:
    return {f"rows-{i}-{k}": v for k, v in values.items()}


def test_coordinator_encodes_criteria_in_the_form(coordinator_client):
    t = trial(None, encoded=False)
    arm = TrialArm.objects.create(trial=t, label="Cohort B")
    page = coordinator_client.get(f"/trials/{t.pk}/criteria/")
    assert page.status_code == 200
    data = {
        "rows-TOTAL_FORMS": "6",
        "rows-INITIAL_FORMS": "0",
        "version": t.version,
        "check_by_hand": "Adequate bone marrow\nNo active infection",
        **row(0, must="must", kind="diagnosis", diagnoses=[GBM]),
        **row(1, must="must", kind="marker", marker="idh", marker_result="wildtype"),
        **row(2, must="must", kind="setting", setting="recurrent", low="1", high="1"),
        **row(3, must="must", kind="performance", scale="ecog", high="1", group="A"),
        **row(4, must="must", kind="performance", scale="karnofsky", low="70", group="A"),
        **row(5, must="must_not", kind="prior_treatment", regimen="bevacizumab", scope=str(arm.pk)),
    }
    for i in range(6):
        data.setdefault(f"rows-{i}-must", "must")
    response = coordinator_client.post(f"/trials/{t.pk}/criteria/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    t.refresh_from_db()
    arm.refresh_from_db()
    assert t.criteria_encoded_at and t.diagnoses == [GBM]
    assert t.criteria["check_by_hand"] == ["Adequate bone marrow", "No active infection"]
    assert t.criteria["criteria"]["all"][3] == {
        "any": [
            {"type": "performance", "scale": "ecog", "min": None, "max": 1},
            {"type": "performance", "scale": "karnofsky", "min": 70, "max": None},
        ]
    }
    assert arm.criteria["criteria"] == {
        "all": [{"not": {"type": "prior_treatment", "regimen": "bevacizumab"}}]
    }
    detail = coordinator_client.get(f"/trials/{t.pk}/").content.decode()
    assert (
        "Glioblastoma, IDH-wildtype, IDH1/2 mutation: wildtype (negative), first recurrence, "
        "(ECOG ≤ 1 or "
        "Karnofsky ≥ 70)" in detail
    )
    assert "Cohort B:</strong> no prior bevacizumab" in detail
    # The saved rows come back into the editor.
    again = coordinator_client.get(f"/trials/{t.pk}/criteria/").content.decode()
    assert 'value="bevacizumab" selected' in again


def test_criteria_form_names_the_missing_field(coordinator_client):
    t = trial(None, encoded=False)
    data = {
        "rows-TOTAL_FORMS": "1",
        "rows-INITIAL_FORMS": "0",
        "version": t.version,
        **row(0, must="must", kind="marker"),
    }
    response = coordinator_client.post(f"/trials/{t.pk}/criteria/", data)
    assert response.status_code == 200
    assert "Choose the marker this criterion checks." in response.content.decode()
    t.refresh_from_db()
    assert t.criteria_encoded_at is None


def test_api_criteria_errors_and_conflicts(coordinator_client):
    t = trial(RECURRENT_GBM)
    url = f"/api/v1/trials/{t.pk}/criteria/"
    bad = {"version": t.version, "criteria": tree({"type": "grade", "grades": [7]})}
    response = coordinator_client.put(url, bad, content_type="application/json")
    assert response.status_code == 400
    body = response.json()
    assert "criteria/all/0" in body["extra"]["fields"]["criteria"][0] and body[
        "message"
    ].startswith("Invalid input.")
    good = {"version": t.version, "criteria": tree({"type": "grade", "grades": [4]})}
    assert coordinator_client.put(url, good, content_type="application/json").status_code == 200
    stale = coordinator_client.put(url, good, content_type="application/json")
    assert stale.status_code == 409 and "changed by someone else" in stale.json()["message"]


def test_api_catalogue_filters(coordinator_client):
    norwegian = trial(RECURRENT_GBM, norwegian=True, title="Nordic GBM")
    trial(None, status="COMPLETED", title="Old breast trial")

    def api(query):
        response = coordinator_client.get(f"/api/v1/trials/{query}")
        return [t["id"] for t in response.json()["results"]]

    assert api("?country=NO") == [norwegian.pk]
    assert len(api("?status=COMPLETED")) == 1
    assert api("?search=nordic") == [norwegian.pk]
    one = coordinator_client.get(f"/api/v1/trials/{norwegian.pk}/").json()
    assert one["sites"][0]["country"] == "Norway" and one["criteria"]["version"] == 1
    assert coordinator_client.get("/api/v1/trials/?status=BOGUS").status_code == 400
    page = coordinator_client.get(f"/trials/?norwegian=on&diagnosis={GBM}").content.decode()
    assert "Nordic GBM" in page and "Old breast trial" not in page


def test_moving_a_match_records_each_step(coordinator_client):
    matched()
    match = Match.objects.get()
    url = f"/api/v1/trials/matches/{match.pk}/steps/"
    no_reason = coordinator_client.post(
        url, {"step": "closed", "version": match.version}, content_type="application/json"
    )
    assert no_reason.status_code == 400 and "close_reason" in no_reason.json()["extra"]["fields"]
    reviewed = coordinator_client.post(
        url, {"step": "under_review", "version": match.version}, content_type="application/json"
    )
    assert reviewed.status_code == 201
    moved = coordinator_client.post(
        url,
        {"step": "contacted", "note": "Mailed Dr. Berg", "version": reviewed.json()["version"]},
        content_type="application/json",
    )
    assert moved.status_code == 201
    assert (
        moved.json()["steps"][1]["step"] == "contacted"
        and moved.json()["steps"][1]["note"] == "Mailed Dr. Berg"
    )
    stale = coordinator_client.post(
        url, {"step": "screening", "version": match.version}, content_type="application/json"
    )
    assert stale.status_code == 409
    closed = coordinator_client.post(
        url,
        {"step": "closed", "close_reason": "declined", "version": moved.json()["version"]},
        content_type="application/json",
    )
    assert closed.status_code == 201 and closed.json()["close_reason"] == "declined"
    assert AccessLog.objects.filter(
        patient_id=match.patient_id, page="api:trials_match_steps"
    ).exists()


def test_bulk_action_in_the_queue(coordinator_client):
    t = matched(3)
    ids = list(Match.objects.values_list("pk", flat=True))
    response = coordinator_client.post(
        "/trials/matches/", {"match_ids": ids[:2], "step": "under_review", "note": ""}
    )
    assert response.status_code == 302
    assert Match.objects.filter(step=Step.UNDER_REVIEW).count() == 2
    assert ReviewEvent.objects.filter(step=Step.UNDER_REVIEW).count() == 2
    assert coordinator_client.post(
        "/api/v1/trials/matches/steps/",
        {"matches": ids, "step": "closed", "close_reason": "not_pursued"},
        content_type="application/json",
    ).json() == {"moved": 3}
    funnel = coordinator_client.get(f"/trials/{t.pk}/funnel.csv")
    rows = list(csv.reader(io.StringIO(funnel.content.decode())))
    assert [r[1:] for r in rows[1:6]] == [
        ["matched", "3"],
        ["reviewed", "3"],
        ["contacted", "0"],
        ["screened", "0"],
        ["enrolled", "0"],
    ]
    assert [t.nct_id, "not enrolled: not pursued", "3"] in rows


def test_clinician_sees_the_request_on_the_patient_page_and_answers(client):
    matched()
    match = Match.objects.get()
    coordinator = make_member(Role.COORDINATOR, institutions=("OUS",), email="c2@example.no")
    from trials import services

    services.match_move(match=match, by=coordinator, step=Step.UNDER_REVIEW)
    services.match_move(match=match, by=coordinator, step=Step.CONTACTED, note="Could she join?")
    clinician = make_member(
        Role.CLINICIAN, institutions=("OUS",), with_totp=True, email="doc@example.no"
    )
    sign_in(client, clinician)
    page = client.get(f"/registry/patients/{match.patient.register_number}/").content.decode()
    assert "Candidate trials" in page and "Contact request" in page and "Could she join?" in page
    assert "MGMT promoter methylation: methylated" in page
    response = client.post(
        f"/trials/matches/{match.pk}/reply/", {"answer": "interested", "note": "Yes, ask her"}
    )
    assert response.status_code == 302
    assert ReviewEvent.objects.get(kind="reply").answer == "interested"
    assert client.post(f"/trials/matches/{match.pk}/reply/", {"answer": "maybe"}).status_code == 302
    assert ReviewEvent.objects.filter(kind="reply").count() == 1


def test_coordinator_adds_a_trial_by_hand(coordinator_client):
    response = coordinator_client.post(
        "/api/v1/trials/",
        {
            "brief_title": "NORDIC-GBM-2",
            "overall_status": "NOT_YET_RECRUITING",
            "minimum_age": "18 Years",
        },
        content_type="application/json",
    )
    assert response.status_code == 201
    t = Trial.objects.get()
    assert t.source == "manual" and t.nct_id == ""
    assert t.criteria["criteria"]["all"] == [{"type": "age", "min_years": 18.0, "max_years": None}]
    page = coordinator_client.post(
        "/trials/new/", {"brief_title": "", "overall_status": "RECRUITING"}
    )
    assert "This field is required" in page.content.decode()


def _queries(client, path) -> int:
    client.get(path)  # the first request after sign-in also updates the member's session rows
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries)


def test_queue_and_panels_take_constant_queries(client):
    t = matched(2)
    coordinator = make_member(
        Role.COORDINATOR, institutions=("OUS",), with_totp=True, email="q@example.no"
    )
    sign_in(client, coordinator)
    few = _queries(client, "/trials/matches/")
    few_detail = _queries(client, f"/trials/{t.pk}/")
    few_api = _queries(client, "/api/v1/trials/matches/")
    matched(10, t=t)
    assert _queries(client, "/trials/matches/") == few
    assert _queries(client, f"/trials/{t.pk}/") == few_detail
    assert _queries(client, "/api/v1/trials/matches/") == few_api


def test_patient_page_panel_takes_constant_queries(client):
    p = patient()
    episode(p, markers={"mgmt": "altered"}, ecog=1, follow_ups=[True])
    trial(RECURRENT_GBM)
    engine.match_patient(p.pk)
    sign_in(
        client,
        make_member(
            Role.CLINICIAN, institutions=("OUS",), with_totp=True, email="panel@example.no"
        ),
    )
    path = f"/registry/patients/{p.register_number}/"
    one = _queries(client, path)
    for _ in range(4):
        trial(RECURRENT_GBM)
    engine.match_patient(p.pk)
    assert Match.objects.filter(patient=p).count() == 5
    assert _queries(client, path) == one


def test_researcher_reads_the_catalogue_but_no_matches(client):
    t = matched()
    sign_in(client, make_member(Role.RESEARCHER, institutions=("UIO-ICR",), email="r@example.no"))
    page = client.get(f"/trials/{t.pk}/").content.decode()
    assert t.brief_title in page and "Funnel" not in page and "Encode criteria" not in page
    assert client.get("/trials/matches/").status_code == 403
    assert client.get("/api/v1/trials/matches/").status_code == 403
