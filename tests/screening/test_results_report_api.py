"""The tumour-board report and the QC override through the API, with the same rules as
the pages: only the lab writes and signs (password re-entered), a released report is
frozen and changes only through a new version, a stale version is 409, and the
patient's clinician sees released versions only."""

import pytest

from screening.models import AnalysisRun, LabQcSettings, Plate, Report
from tests.conftest import PASSWORD, sign_in
from tests.screening.factories import analysed, bring_to, make_world, upload_two_plates

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return make_world(with_totp=True)


def test_the_lab_drafts_signs_and_versions_a_report_by_api(client, world):
    request, upload, run = analysed(world)
    sign_in(client, world.lab)
    reports_url = f"/api/v1/screening/requests/{request.pk}/reports/"
    draft = client.post(
        reports_url,
        {"interpretation": "Palbociclib stands out.", "top_drugs": 3},
        content_type="application/json",
    )
    assert draft.status_code == 200, draft.content
    body = draft.json()
    assert body["number"] == 1 and body["status"] == "draft" and len(body["top_ranked"]) == 3
    assert body["register_number"] == request.patient.register_number
    ranked = [d["dss2"] for d in body["top_ranked"]]
    assert ranked == sorted(ranked, reverse=True)

    stale = client.post(
        reports_url,
        {"interpretation": "Overwrite?", "version": body["version"] - 1},
        content_type="application/json",
    )
    assert stale.status_code == 409

    sign_url = f"/api/v1/screening/reports/{body['id']}/sign/"
    wrong = client.post(sign_url, {"password": "not-it"}, content_type="application/json")
    assert wrong.status_code == 400 and "password" in wrong.json()["extra"]["fields"]
    assert Report.objects.get(pk=body["id"]).status == "draft"
    signed = client.post(
        sign_url,
        {"password": PASSWORD, "version": body["version"]},
        content_type="application/json",
    )
    assert signed.status_code == 200 and signed.json()["status"] == "released"
    assert signed.json()["signed_by"] == world.lab.email
    request.refresh_from_db()
    assert request.state == "reported"

    again = client.post(sign_url, {"password": PASSWORD}, content_type="application/json")
    assert again.status_code == 400 and "new version" in str(
        again.json()["extra"]["fields"]["report"]
    )
    second = client.post(
        reports_url,
        {"interpretation": "Version 2: add the reference set."},
        content_type="application/json",
    ).json()
    assert second["number"] == 2 and second["status"] == "draft"
    assert (
        Report.objects.get(pk=body["id"]).interpretation == "Palbociclib stands out."
    )  # v1 frozen
    versions = client.get(reports_url).json()["results"]
    assert [(r["number"], r["status"]) for r in versions] == [(2, "draft"), (1, "released")]


def test_the_clinician_sees_released_reports_only_and_cannot_write_them(client, world):
    request, upload, run = analysed(world)
    sign_in(client, world.lab)
    reports_url = f"/api/v1/screening/requests/{request.pk}/reports/"
    first = client.post(
        reports_url, {"interpretation": "CDK4/6."}, content_type="application/json"
    ).json()
    client.post(
        f"/api/v1/screening/reports/{first['id']}/sign/",
        {"password": PASSWORD},
        content_type="application/json",
    )
    second = client.post(
        reports_url, {"interpretation": "Draft v2."}, content_type="application/json"
    ).json()

    client.logout()
    sign_in(client, world.clinician)
    assert [r["number"] for r in client.get(reports_url).json()["results"]] == [1]
    assert (
        client.get(f"/api/v1/screening/reports/{second['id']}/").status_code == 404
    )  # the lab's draft
    released = client.get(f"/api/v1/screening/reports/{first['id']}/").json()
    assert released["interpretation"] == "CDK4/6." and released["pdf"].endswith("/pdf/")
    assert (
        client.post(
            reports_url, {"interpretation": "Mine."}, content_type="application/json"
        ).status_code
        == 403
    )
    assert (
        client.post(
            f"/api/v1/screening/reports/{second['id']}/sign/",
            {"password": PASSWORD},
            content_type="application/json",
        ).status_code
        == 404
    )
    assert Report.objects.get(pk=second["id"]).interpretation == "Draft v2."


def test_a_failed_plate_is_scored_by_api_override_with_a_reason(client, world):
    LabQcSettings.objects.create(
        lab=world.uib, z_prime_warn=0.99, z_prime_pass=0.995
    )  # every plate fails
    request = bring_to(world, "in_culture")
    upload = upload_two_plates(world, request)
    from screening import services

    services.analysis_run(run_id=AnalysisRun.objects.get(upload=upload).pk)
    plate = Plate.objects.get(upload=upload, name="P1")
    sign_in(client, world.clinician)
    url = f"/api/v1/screening/plates/{plate.pk}/override/"
    assert client.post(url, {"reason": "Mine."}, content_type="application/json").status_code == 403
    client.logout()
    sign_in(client, world.lab)
    blank = client.post(url, {"reason": " "}, content_type="application/json")
    assert blank.status_code == 400 and "reason" in blank.json()["extra"]["fields"]
    done = client.post(
        url, {"reason": "Controls drifted; curves consistent."}, content_type="application/json"
    )
    assert done.status_code == 202 and done.json()["status"] == "queued"
    plate.refresh_from_db()
    assert (
        plate.override_reason == "Controls drifted; curves consistent."
        and plate.override_by == world.lab
    )
    assert AnalysisRun.objects.filter(upload=upload).count() == 2
