"""Research projects and their extracts: the application, four eyes, refusals naming what
is outside the approval, and the delivered files themselves (read back and scanned byte by
byte): no name, national ID or register number, pseudonyms stable within a project and
different between two, dates as days from diagnosis worked out by hand, the delivery log's
SHA-256, expiry, and who may download."""

import csv
import hashlib
import io
from datetime import date, datetime, time, timedelta

import pyarrow.parquet as pq
import pytest
from django.test import Client
from django.utils import timezone

from consortium.models import Institution, Role
from registry import research_dictionary, research_extracts, research_selectors, services
from registry.models import ExtractDownload, ResearchExtract, ResearchProject
from registry.research_services import extract_request, project_apply, project_decide
from tests.conftest import make_member, sign_in
from tests.registry.factories import clinician, fast_password_hashing, make_episode, make_patient

__all__ = ["fast_password_hashing"]

DIAGNOSED = date(2024, 6, 1)


@pytest.fixture(autouse=True)
def extract_root(settings, tmp_path):
    settings.NBTC_EXTRACT_ROOT = tmp_path / "extracts"
    return settings.NBTC_EXTRACT_ROOT


@pytest.fixture
def register(db):
    """Two patients at OUS with known dates; one has died."""
    by = clinician("OUS")
    first = make_patient(
        by,
        birth_date=date(1960, 3, 1),
        full_name="Ingrid Solbakken",
        sex="female",
        health_region="south_east",
    )
    episode = make_episode(
        first,
        by,
        referral_date=date(2024, 5, 20),
        diagnosis_date=DIAGNOSED,
        basis="histology",
        diagnosis="glioblastoma_idh_wildtype",
        who_grade=4,
        mdt_dates=[date(2024, 6, 5), date(2024, 6, 3)],
    )
    services.section_save(
        section="surgeries",
        episode=episode,
        by=by,
        surgery_date=date(2024, 6, 10),
        surgery_end_time=time(11, 0),
        procedure="resection",
        extent_of_resection="gross_total",
        postoperative_mri_at=timezone.make_aware(datetime(2024, 6, 11, 8, 0)),
        complications_within_30_days="yes",
        complications="Ingrid Solbakken had a wound infection",
    )
    services.section_save(
        section="radiotherapy",
        episode=episode,
        by=by,
        start_date=date(2024, 7, 1),
        end_date=date(2024, 8, 10),
        total_dose_gy=60,
        fractions=30,
        acknowledge=["radiotherapy_guideline", "lead_time"],
    )
    services.patient_update(
        patient=first,
        by=by,
        expected_version=first.version,
        vital_status="dead",
        date_of_death=date(2025, 1, 15),
        reason="died",
    )
    second = make_patient(by, birth_date=date(1980, 11, 30), full_name="Ola Fjellheim", sex="male")
    make_episode(
        second,
        by,
        diagnosis_date=date(2023, 2, 1),
        diagnosis="meningioma",
        who_grade=1,
    )
    return by, [first, second]


def _researcher(email="forsker@uio.no"):
    return make_member(Role.RESEARCHER, institutions=("UIO-ICR",), with_totp=True, email=email)


def _admin(email="admin@nbtc.no"):
    return make_member(Role.ADMIN, institutions=("OUS",), with_totp=True, email=email)


def _apply(researcher, **changes):
    values = dict(
        by=researcher,
        title="Survival after gross total resection",
        purpose="Compare survival by extent of resection.",
        institution=Institution.objects.get(code="UIO-ICR"),
        rek_number="REK 2026/12345",
        rek_date=date(2026, 1, 15),
        legal_basis="exemption",
        end_date=timezone.localdate() + timedelta(days=365),
        variables=research_dictionary.default_variables(),
    )
    values.update(changes)
    return project_apply(**values)


def _approved(researcher, admin=None, **changes):
    project = _apply(researcher, **changes)
    return project_decide(
        project=project, by=admin or _admin(), approve=True, reason="REK approval checked"
    )


def _build(project, by, **request):
    extract = extract_request(project=project, by=by, **request)
    return research_extracts.extract_build(extract.pk)


def _files(extract):
    return {f.table + "." + f.format: research_extracts.file_path(f) for f in extract.files.all()}


def _csv(path):
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_no_byte_of_an_extract_names_or_identifies_a_patient(register):
    _, patients = register
    researcher = _researcher()
    # Every variable a project can be approved for, the exact dates included: even then
    # the name, national ID and register number are not in the files, nor the free text
    # that names the patient (never delivered).
    project = _approved(researcher, variables=list(research_dictionary.variable_map()))
    extract = _build(project, researcher)
    assert extract.status == "done" and extract.rows == 2
    forbidden = []
    for p in patients:
        forbidden += [p.full_name, p.national_id, p.register_number, p.search_name]
        forbidden.append(p.full_name.split()[-1])  # the surname alone too
    blobs = {name: path.read_bytes() for name, path in _files(extract).items()}
    assert set(blobs) >= {
        "episodes.csv",
        "episodes.parquet",
        "surgeries.csv",
        "data-dictionary.csv",
    }
    for name, blob in blobs.items():
        for text in forbidden:
            assert text.encode() not in blob, f"{text!r} in {name}"
    assert b"wound infection" not in b"".join(blobs.values())
    assert b"1960-03-01" in blobs["episodes.csv"]  # the approved exact birth date


def test_by_default_dates_are_days_from_diagnosis_and_age_replaces_the_birth_date(register):
    researcher = _researcher()
    project = _approved(researcher)
    extract = _build(project, researcher)
    files = _files(extract)
    episodes = {row["diagnosis"]: row for row in _csv(files["episodes.csv"])}
    gbm = episodes["glioblastoma_idh_wildtype"]
    # Born 1 March 1960, diagnosed 1 June 2024: 64. Referral 20 May: 12 days before.
    # Died 15 January 2025: 30 + 31 + 31 + 30 + 31 + 30 + 31 + 15 - 1 = 228 days after.
    # MDT meetings 3 and 5 June: two, the first 2 days after.
    assert gbm["age_at_diagnosis"] == "64"
    assert gbm["referral_days"] == "-12"
    assert gbm["death_days"] == "228"
    assert gbm["mdt_count"] == "2" and gbm["first_mdt_days"] == "2"
    assert gbm["diagnosis_year"] == "2024"
    for restricted in ("birth_date", "diagnosis_date", "referral_date", "date_of_death"):
        assert restricted not in gbm
    surgery = _csv(files["surgeries.csv"])[0]
    # Surgery 10 June (9 days), MRI 11 June 08:00 (10 days); no exact dates, no free text.
    assert surgery["surgery_days"] == "9" and surgery["postoperative_mri_days"] == "10"
    assert "surgery_date" not in surgery and "complications" not in surgery
    assert surgery["instance"] == "1" and surgery["pseudonym"] == gbm["pseudonym"]
    radiotherapy = _csv(files["radiotherapy.csv"])[0]
    assert (radiotherapy["start_days"], radiotherapy["end_days"]) == ("30", "70")
    blob = b"".join(path.read_bytes() for path in files.values())
    for day in ("2024-06-01", "1960-03-01", "2024-06-10", "2025-01-15", "01.06.2024"):
        assert day.encode() not in blob
    # The Parquet files hold the same rows, typed.
    table = pq.read_table(files["episodes.parquet"]).to_pylist()
    by_diagnosis = {row["diagnosis"]: row for row in table}
    assert by_diagnosis["glioblastoma_idh_wildtype"]["referral_days"] == -12
    assert by_diagnosis["glioblastoma_idh_wildtype"]["pseudonym"] == gbm["pseudonym"]
    assert len(table) == 2


def test_exact_dates_only_when_the_approval_names_them(register):
    researcher = _researcher()
    project = _approved(
        researcher, variables=["sex", "diagnosis", "diagnosis_date", "surgeries.surgery_date"]
    )
    files = _files(_build(project, researcher))
    gbm = next(
        r for r in _csv(files["episodes.csv"]) if r["diagnosis"] == "glioblastoma_idh_wildtype"
    )
    assert gbm["diagnosis_date"] == "2024-06-01"
    assert set(gbm) == {"pseudonym", "episode", "sex", "diagnosis", "diagnosis_date"}
    assert _csv(files["surgeries.csv"])[0]["surgery_date"] == "2024-06-10"
    assert "radiotherapy.csv" not in files  # nothing of it approved


def test_pseudonyms_are_stable_within_a_project_and_differ_between_projects(register):
    researcher = _researcher()
    admin = _admin()
    first = _approved(researcher, admin)
    second = _approved(researcher, admin)

    def pseudonyms(project):
        rows = _csv(_files(_build(project, researcher))["episodes.csv"])
        return {r["diagnosis"]: (r["pseudonym"], r["episode"]) for r in rows}

    once, again, other = pseudonyms(first), pseudonyms(first), pseudonyms(second)
    assert once == again
    assert len({p for p, _ in once.values()}) == 2  # two patients, two pseudonyms
    assert not {x for pair in once.values() for x in pair} & {
        x for pair in other.values() for x in pair
    }


def test_the_delivery_log_holds_each_files_rows_and_sha256(register):
    researcher = _researcher()
    extract = _build(_approved(researcher), researcher)
    for file in extract.files.all():
        path = research_extracts.file_path(file)
        assert file.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert file.size == path.stat().st_size
        if file.format == "csv" and file.table != "data-dictionary":
            assert file.rows == len(_csv(path))
    assert extract.files.get(table="episodes", format="csv").rows == 2
    assert extract.expires_at == extract.finished_at + timedelta(days=30)
    assert extract.requested_by == researcher and set(extract.variables) == set(
        research_dictionary.default_variables()
    )


def test_a_variable_or_cohort_outside_the_approval_is_refused_naming_it(register, client):
    researcher = _researcher()
    project = _approved(
        researcher,
        variables=["sex", "diagnosis", "age_at_diagnosis"],
        cohort_diagnoses=["glioblastoma_idh_wildtype"],
    )
    sign_in(client, researcher)
    url = f"/api/v1/research/projects/{project.pk}/extracts/"
    response = client.post(
        url, {"variables": ["sex", "birth_date"]}, content_type="application/json"
    )
    assert response.status_code == 400
    assert "birth_date" in " ".join(response.json()["extra"]["fields"]["variables"])
    response = client.post(
        url, {"cohort_diagnoses": ["meningioma"]}, content_type="application/json"
    )
    assert response.status_code == 400
    assert "meningioma" in " ".join(response.json()["extra"]["fields"]["cohort_diagnoses"])
    assert not ResearchExtract.objects.exists()
    # Inside the approval: accepted (202), built in the background.
    response = client.post(url, {"variables": ["sex"]}, content_type="application/json")
    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    # The cohort of the approval is what is delivered: the meningioma is not in it.
    extract = research_extracts.extract_build(response.json()["id"])
    assert extract.rows == 1


def test_four_eyes_an_admin_never_decides_their_own_application(register, client):
    applicant = _admin("forskende.admin@nbtc.no")
    project = _apply(applicant, institution=Institution.objects.get(code="OUS"))
    sign_in(client, applicant)
    response = client.post(
        f"/api/v1/research/projects/{project.pk}/decision/",
        {"decision": "approve", "reason": "fine", "version": project.version},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert "four eyes" in response.json()["message"]
    page = client.get(f"/research/projects/{project.pk}/").content.decode()
    assert 'id="four-eyes"' in page and 'id="decision-form"' not in page
    project.refresh_from_db()
    assert project.status == "submitted"
    other = _admin()
    client.logout()
    sign_in(client, other)
    response = client.post(
        f"/api/v1/research/projects/{project.pk}/decision/",
        {"decision": "approve", "reason": "REK 2026/12345 checked", "version": project.version},
        content_type="application/json",
    )
    assert response.status_code == 200 and response.json()["status"] == "approved"
    assert response.json()["decided_by"] == other.email
    # Decided once: a second decision is refused.
    again = client.post(
        f"/api/v1/research/projects/{project.pk}/decision/",
        {"decision": "decline", "reason": "no", "version": project.version + 1},
        content_type="application/json",
    )
    assert again.status_code == 400
    history = research_selectors.project_history(ResearchProject.objects.get(pk=project.pk))
    assert [h["status"] for h in history] == ["Waiting for a decision", "Approved"]
    assert history[1]["by"] == other and "REK 2026/12345 checked" in history[1]["reason"]


def test_declined_and_ended_projects_get_nothing(register):
    researcher = _researcher()
    admin = _admin()
    declined = project_decide(
        project=_apply(researcher), by=admin, approve=False, reason="No REK approval attached"
    )
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied, match="declined"):
        extract_request(project=declined, by=researcher)
    with pytest.raises(PermissionDenied, match="not approved"):
        extract_request(project=_apply(researcher), by=researcher)
    project = _approved(researcher, admin)
    extract = _build(project, researcher)
    ResearchProject.objects.filter(pk=project.pk).update(
        end_date=timezone.localdate() - timedelta(days=1)
    )
    project.refresh_from_db()
    with pytest.raises(PermissionDenied, match="ended"):
        extract_request(project=project, by=researcher)
    extract.refresh_from_db()
    assert "ended" in research_selectors.may_download(researcher, extract)


def test_downloads_are_for_the_projects_researchers_until_the_delivery_expires(
    register, client, extract_root
):
    researcher = _researcher()
    admin = _admin()
    extract = _build(_approved(researcher, admin), researcher)
    episodes = extract.files.get(table="episodes", format="csv")
    url = f"/research/extracts/{extract.pk}/files/{episodes.pk}/"
    sign_in(client, researcher)
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b'"pseudonym","episode"')
    assert ExtractDownload.objects.filter(file=episodes, by=researcher).count() == 1
    api = client.get(f"/api/v1/research/extracts/{extract.pk}/files/{episodes.pk}/")
    assert api.status_code == 200
    # Another researcher does not see the extract; an admin lists it but downloads nothing.
    other = Client()
    sign_in(other, _researcher("annen@uib.no"))
    assert other.get(url).status_code == 404
    office = Client()
    sign_in(office, admin)
    assert office.get(url).status_code == 403
    deliveries = office.get("/api/v1/research/deliveries/").json()
    assert deliveries["count"] == 1
    assert deliveries["results"][0]["files"][0]["sha256"] == extract.files.first().sha256
    assert "nbtc-project" in office.get("/research/deliveries/").content.decode()
    assert other.get("/research/deliveries/").status_code == 403
    # Thirty days later the delivery has expired: refused, then its files are removed.
    ResearchExtract.objects.filter(pk=extract.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    response = client.get(url)
    assert response.status_code == 403
    assert "expired" in client.get(f"/research/extracts/{extract.pk}/").content.decode()
    assert research_extracts.expire_extracts() == 1
    assert not research_extracts.extract_folder(extract).exists()
    extract.refresh_from_db()
    assert extract.status == "expired" and extract.files.count() == 13  # the log stays


def test_researchers_need_two_factor_sign_in_for_projects(register, client):
    researcher = make_member(Role.RESEARCHER, institutions=("UIO-ICR",), email="r@uio.no")
    sign_in(client, researcher)
    assert client.get("/research/").status_code == 200  # aggregates: no patient data
    response = client.get("/research/projects/")
    assert response.status_code == 302 and "/accounts/2fa/" in response["Location"]
    api = client.get("/api/v1/research/projects/")
    assert api.status_code == 403 and "two-factor" in api.json()["message"]


def test_a_researcher_applies_in_the_browser_form(register, client):
    researcher = _researcher()
    sign_in(client, researcher)
    icr = Institution.objects.get(code="UIO-ICR")
    response = client.post(
        "/research/projects/apply/",
        {
            "title": "MGMT and survival",
            "purpose": "Survival by MGMT status.",
            "institution": icr.pk,
            "rek_number": "REK 2026/555",
            "rek_date": "2026-02-01",
            "legal_basis": "consent",
            "end_date": (timezone.localdate() + timedelta(days=200)).isoformat(),
            "variables": ["sex", "mgmt_result", "surgeries.surgery_days"],
            "cohort_diagnoses": ["glioblastoma_idh_wildtype"],
            "cohort_year_from": "2020",
            "cohort_regions": ["south_east"],
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    project = ResearchProject.objects.get()
    assert project.variables == ["sex", "mgmt_result", "surgeries.surgery_days"]
    assert project.dictionary_version == research_dictionary.version()
    assert project.cohort_regions == ["south_east"] and project.status == "submitted"
    bad = client.post("/research/projects/apply/", {"title": "x", "variables": ["national_id"]})
    assert bad.status_code == 200 and "national_id" in bad.content.decode()
