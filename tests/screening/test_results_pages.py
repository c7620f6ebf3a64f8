"""The results pages and API as each party sees them: the lab uploads, follows progress
and sees QC, ranked drugs with curves and heat maps; the clinician sees nothing before a
release and the signed report (web and PDF) after, from the patient page. Access is
logged; never the name or the national ID."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from consortium.models import AccessLog
from screening import services
from screening.models import Report
from tests.conftest import PASSWORD, sign_in
from tests.screening.factories import analysed, bring_to, make_world, results_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return make_world(with_totp=True)


def test_the_lab_uploads_in_the_browser_form_and_sees_progress(client, world):
    request = bring_to(world, "in_culture")
    sign_in(client, world.lab)
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post(
        f"/screening/requests/{request.pk}/plates/",
        {
            "layout": SimpleUploadedFile("layout.csv", results_file("layout_two_plates.csv")),
            "readouts": [
                SimpleUploadedFile("grid.csv", results_file("readout_two_plates_grid.csv"))
            ],
            "plate_format": "384",
            "save_template_as": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    page = client.get(response.url).content.decode()
    # Progress without reloading the page: htmx polls for the part that changes.
    assert 'id="progress"' in page and 'http-equiv="refresh"' not in page
    assert 'hx-trigger="every 2s" hx-select="#run-body"' in page


def test_a_bad_file_is_named_on_the_upload_page(client, world):
    request = bring_to(world, "in_culture")
    sign_in(client, world.lab)
    from django.core.files.uploadedfile import SimpleUploadedFile

    bad = results_file("readout_two_plates_grid.csv").replace(b"Plate: P2", b"Plate: P7")
    response = client.post(
        f"/screening/requests/{request.pk}/plates/",
        {
            "layout": SimpleUploadedFile("layout.csv", results_file("layout_two_plates.csv")),
            "readouts": [SimpleUploadedFile("grid.csv", bad)],
            "plate_format": "384",
        },
    )
    assert response.status_code == 200
    assert "plate P7 is not in the layout" in response.content.decode()


def test_the_lab_sees_qc_heat_maps_and_ranked_curves_in_constant_queries(client, world):
    request, upload, run = analysed(world)
    sign_in(client, world.lab)
    with CaptureQueriesContext(connection) as queries:
        page = client.get(f"/screening/requests/{request.pk}/results/").content.decode()
    assert len(queries) <= 25, len(queries)
    assert page.count('class="curve"') == 30 and page.count('class="heatmap"') == 2
    assert page.index("Palbociclib") < page.index("Birinapant")  # ranked by DSS2
    assert "Kari Nordmann" not in page and request.patient.national_id not in page
    filtered = client.get(
        f"/screening/requests/{request.pk}/results/?class=CDK4/6 inhibitor"
    ).content.decode()
    assert filtered.count('class="curve"') == 2
    assert AccessLog.objects.filter(page="screening:results", user=world.lab).exists()


def test_the_clinician_sees_results_only_through_a_released_report(client, world):
    request, upload, run = analysed(world)
    sign_in(client, world.clinician)
    page = client.get(f"/screening/requests/{request.pk}/results/").content.decode()
    assert 'id="no-results"' in page and 'class="curve"' not in page
    api = client.get(f"/api/v1/screening/requests/{request.pk}/results/").json()
    assert api["run"] is None and api["drugs"] == []
    draft = services.report_save(
        screening_request=request, by=world.lab, interpretation="CDK4/6 stands out."
    )
    assert client.get(f"/screening/reports/{draft.pk}/").status_code == 404  # a draft is the lab's
    services.report_sign(report=draft, by=world.lab, password=PASSWORD)
    patient_page = client.get(request.patient.get_absolute_url()).content.decode()
    assert f'href="/screening/reports/{draft.pk}/"' in patient_page
    report = client.get(f"/screening/reports/{draft.pk}/").content.decode()
    assert request.patient.register_number in report and "CDK4/6 stands out." in report
    assert "Kari Nordmann" not in report and request.patient.national_id not in report
    pdf = client.get(f"/screening/reports/{draft.pk}/pdf/")
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert b"Kari Nordmann" not in pdf.content
    assert "no-cache" in pdf["Cache-Control"] or "no-store" in pdf["Cache-Control"]
    api = client.get(f"/api/v1/screening/requests/{request.pk}/results/").json()
    assert len(api["drugs"]) == 30 and api["released_reports"] == [draft.pk]


def test_the_results_api_gives_parameters_scores_and_flags(client, world):
    request, upload, run = analysed(world)
    sign_in(client, world.lab)
    body = client.get(f"/api/v1/screening/requests/{request.pk}/results/").json()
    assert body["run"]["status"] == "done" and [p["qc_status"] for p in body["plates"]] == [
        "pass",
        "pass",
    ]
    top = body["drugs"][0]
    assert {
        "ic50_nm",
        "slope",
        "top",
        "bottom",
        "auc",
        "r_squared",
        "dss1",
        "dss2",
        "dss3",
        "selective_dss",
        "fit_flags",
        "qc_flags",
        "errors",
    } <= set(top)
    assert top["dss2"] == max(d["dss2"] or 0 for d in body["drugs"])


def test_the_upload_api_refuses_a_bad_line_with_the_one_error_format(client, world):
    request = bring_to(world, "in_culture")
    sign_in(client, world.lab)
    from django.core.files.uploadedfile import SimpleUploadedFile

    bad = results_file("readout_two_plates_long.csv").replace(b"P1,B5,", b"P1,B5,abc")
    response = client.post(
        f"/api/v1/screening/requests/{request.pk}/plates/",
        {
            "layout": SimpleUploadedFile("layout.csv", results_file("layout_two_plates.csv")),
            "readouts": [SimpleUploadedFile("long.csv", bad)],
        },
    )
    assert response.status_code == 400
    body = response.json()
    assert "message" in body and "is not a numeric signal" in str(
        body["extra"]["fields"]["readout"]
    )
    good = client.post(
        f"/api/v1/screening/requests/{request.pk}/plates/",
        {
            "layout": SimpleUploadedFile("layout.csv", results_file("layout_two_plates.csv")),
            "readouts": [
                SimpleUploadedFile("long.csv", results_file("readout_two_plates_long.csv"))
            ],
        },
    )
    assert good.status_code == 202 and good.json()["plates"] == ["P1", "P2"]


def test_signing_in_the_browser_needs_the_password(client, world):
    request, upload, run = analysed(world)
    sign_in(client, world.lab)
    url = f"/screening/requests/{request.pk}/report/"
    client.post(url, {"action": "save", "interpretation": "Palbociclib.", "top_drugs": 5})
    draft = Report.objects.get(request=request)
    wrong = client.post(url, {"action": "sign", "password": "nope", "version": draft.version})
    assert "The password is not right" in wrong.content.decode()
    right = client.post(url, {"action": "sign", "password": PASSWORD, "version": draft.version})
    assert right.status_code == 302
    draft.refresh_from_db()
    assert draft.status == "released"


def test_the_signature_field_comes_after_the_report_it_releases(client, world):
    """The scientist reads the saved draft, as the board will, before the password field:
    in the page's order the interpretation and the ranked drugs precede the signature."""
    request, upload, run = analysed(world)
    sign_in(client, world.lab)
    url = f"/screening/requests/{request.pk}/report/"
    client.post(url, {"action": "save", "interpretation": "Palbociclib first.", "top_drugs": 5})
    page = client.get(url).content.decode()
    preview = page.index('id="report-preview"')
    # (the draft's form at the top holds the interpretation too: the preview's copy follows)
    assert page.index('<p class="interpretation">Palbociclib first.', preview) < page.index(
        'name="password"'
    )
    assert page.index('class="drug-card', preview) < page.index('name="password"')
    assert page.index('name="password"') < page.index('id="sign-report"')
    assert "Sign and release version 1" in page
