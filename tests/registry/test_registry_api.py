"""The register's API: the same rules and permissions as the pages, 400s naming the
field, 409 on a conflicting edit, and a constant number of queries per request."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from consortium.models import AccessLog, Institution, Role
from registry.models import Patient, PatientInstitution, TumourEpisode
from tests.conftest import make_member, sign_in

TENOR_ID = "29822099635"  # 29.02.2020, Skatteetaten Tenor synthetic (docs/registry-rules.md §4)
API = "/api/v1/registry"


@pytest.fixture
def clinician(db):
    return make_member(Role.CLINICIAN, institutions=("OUS",), email="api@ous.no", with_totp=True)


@pytest.fixture
def api(client, clinician):
    sign_in(client, clinician)
    return client


def post(client, path, data, method="post"):
    return getattr(client, method)(path, data, content_type="application/json")


def create_patient(api, **overrides):
    data = {
        "national_id": TENOR_ID,
        "full_name": "Nora Berg",
        "health_region": "south_east",
        "institutions": ["OUS"],
        "treats_patient": True,  # every registration declares the care relationship
        "care_reason": "Diagnosed at OUS",
        **overrides,
    }
    return post(api, f"{API}/patients/", data)


def test_register_patient_and_read_it_back(api):
    response = create_patient(api)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["birth_date"] == "2020-02-29" and body["sex"] == "female"
    assert body["national_id"] == TENOR_ID and body["synthetic_id"].startswith("Tenor")
    detail = api.get(f"{API}/patients/{body['register_number']}/").json()
    assert detail["register_number"] == body["register_number"]


def test_errors_are_400_with_the_field_and_nothing_is_saved(api):
    response = create_patient(api, national_id="29822099636")
    assert response.status_code == 400
    assert "national_id" in response.json()["extra"]["fields"]
    assert "control digit" in response.json()["message"]
    assert not Patient.objects.exists()


def test_national_id_is_refused_in_the_query_string_and_found_by_post(api):
    number = create_patient(api).json()["register_number"]
    refused = api.get(f"{API}/patients/", {"search": TENOR_ID})
    assert refused.status_code == 400 and "search" in refused.json()["extra"]["fields"]
    found = post(api, f"{API}/patients/search/", {"query": TENOR_ID}).json()
    assert [p["register_number"] for p in found["results"]] == [number]


def test_episode_rules_warnings_conflicts_and_lock(api, client):
    number = create_patient(api, national_id="12829499914").json()["register_number"]  # born 1994
    episode = {
        "diagnosis_date": "2025-01-10",
        "basis": "histology",
        "diagnosis": "astrocytoma_idh_mutant",
        "who_grade": 4,
        "topography": "C71.2",
        "laterality": "right",
        "mdt_dates": ["2025-01-14"],
        "trial_offered": "no",
    }
    bad = post(api, f"{API}/patients/{number}/episodes/", {**episode, "who_grade": 1})
    assert bad.status_code == 400 and "who_grade" in bad.json()["extra"]["fields"]
    created = post(api, f"{API}/patients/{number}/episodes/", episode)
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["morphology"] == "9445/3"
    episode_id = body["id"]

    # An IDH-mutant astrocytoma cannot have IDH wildtype recorded.
    markers = {
        "markers": [{"marker": "idh", "result": "wildtype", "method": "sequencing"}],
        "version": body["markers_version"],
    }
    refused = post(api, f"{API}/episodes/{episode_id}/markers/", markers, "put")
    assert refused.status_code == 400 and "idh" in refused.json()["extra"]["fields"]
    # Oligodendroglioma needs 1p/19q codeletion: with it recorded as absent the diagnosis is
    # refused.
    markers = {
        "markers": [
            {"marker": "idh", "result": "altered", "method": "sequencing"},
            {"marker": "codeletion_1p19q", "result": "wildtype", "method": "fish"},
        ],
        "version": body["markers_version"],
    }
    assert post(api, f"{API}/episodes/{episode_id}/markers/", markers, "put").status_code == 200
    oligo = post(
        api,
        f"{API}/episodes/{episode_id}/",
        {
            "diagnosis": "oligodendroglioma_idh_mutant_codeleted",
            "who_grade": 2,
            "version": body["version"],
        },
        "patch",
    )
    assert oligo.status_code == 400 and "diagnosis" in oligo.json()["extra"]["fields"]

    # A warning must be acknowledged: MRI 80 hours after surgery.
    surgery = {
        "surgery_date": "2025-01-20",
        "surgery_end_time": "12:00",
        "procedure": "resection",
        "extent_of_resection": "subtotal",
        "postoperative_mri_at": "2025-01-23T20:00:00+01:00",
    }
    warned = post(api, f"{API}/episodes/{episode_id}/surgeries/", surgery)
    assert warned.status_code == 400
    assert "mri_after_72h" in warned.json()["message"]
    saved = post(
        api,
        f"{API}/episodes/{episode_id}/surgeries/",
        {**surgery, "acknowledge_warnings": ["mri_after_72h"]},
    )
    assert saved.status_code == 201 and saved.json()["acknowledged_warnings"] == ["mri_after_72h"]
    surgery_id = saved.json()["id"]

    # Two edits from version 1: the second is refused with 409 and names the field.
    first = post(
        api,
        f"{API}/episodes/{episode_id}/surgeries/{surgery_id}/",
        {
            "extent_of_resection": "gross_total",
            "version": 1,
            "acknowledge_warnings": ["mri_after_72h"],
        },
        "patch",
    )
    assert first.status_code == 200
    second = post(
        api,
        f"{API}/episodes/{episode_id}/surgeries/{surgery_id}/",
        {"extent_of_resection": "partial", "version": 1, "acknowledge_warnings": ["mri_after_72h"]},
        "patch",
    )
    assert second.status_code == 409 and "extent of resection" in second.json()["message"]
    assert (
        api.get(f"{API}/episodes/{episode_id}/surgeries/{surgery_id}/").json()[
            "extent_of_resection"
        ]
        == "gross_total"
    )

    # Submit: refused while items are missing, with the list.
    refused = post(api, f"{API}/episodes/{episode_id}/submit/", {"confirm": True})
    assert refused.status_code == 400 and "Performance status" in refused.json()["message"]
    assert (
        post(
            api,
            f"{API}/episodes/{episode_id}/performance/",
            {"assessed_on": "2025-01-15", "karnofsky": 90},
        ).status_code
        == 201
    )
    markers = {
        "markers": [
            {"marker": m, "result": r}
            for m, r in [
                ("idh", "altered"),
                ("cdkn2ab", "altered"),
                ("atrx", "altered"),
                ("mgmt", "altered"),
            ]
        ],
        "version": TumourEpisode.objects.get(pk=episode_id).markers_version,
    }
    assert post(api, f"{API}/episodes/{episode_id}/markers/", markers, "put").status_code == 200
    done = post(api, f"{API}/episodes/{episode_id}/submit/", {"confirm": True})
    assert done.status_code == 200 and done.json()["status"] == "complete"
    locked = post(
        api, f"{API}/episodes/{episode_id}/performance/", {"assessed_on": "2025-02-15", "ecog": 1}
    )
    assert locked.status_code == 400 and "locked" in locked.json()["message"]

    # A clinician cannot reopen; a coordinator of the hospital can, with a reason.
    assert post(api, f"{API}/episodes/{episode_id}/reopen/", {"reason": "typo"}).status_code == 403
    client.logout()
    coordinator = make_member(
        Role.COORDINATOR, institutions=("OUS",), email="coord@ous.no", with_totp=True
    )
    sign_in(client, coordinator)
    assert post(client, f"{API}/episodes/{episode_id}/reopen/", {"reason": ""}).status_code == 400
    reopened = post(client, f"{API}/episodes/{episode_id}/reopen/", {"reason": "Wrong laterality"})
    assert reopened.status_code == 200 and reopened.json()["status"] == "draft"
    # The coordinator works by register number: national ID masked, no name.
    seen = client.get(f"{API}/patients/{number}/").json()
    assert seen["national_id"] == "128294*****" and seen["full_name"] == ""


def test_admin_sees_the_national_id_masked(client, db):
    patient = Patient.objects.create(
        national_id="12829499914",
        full_name="A B",
        search_name="a b",
        sex="male",
        birth_date="1994-02-12",
    )
    PatientInstitution.objects.create(
        patient=patient, institution=Institution.objects.get(code="UNN")
    )
    admin = make_member(
        Role.ADMIN, institutions=("UIO-ICR",), email="admin@nbtc.no", with_totp=True
    )
    sign_in(client, admin)
    assert (
        client.get(f"{API}/patients/{patient.register_number}/").json()["national_id"]
        == "128294*****"
    )
    assert AccessLog.objects.filter(
        user=admin, patient_id=patient.pk, page="api:registry_patient"
    ).exists()


def test_schema_lists_the_register_endpoints(api):
    schema = api.get("/api/schema/?format=json").json()
    for path in (
        "/api/v1/registry/patients/",
        "/api/v1/registry/episodes/{episode_id}/markers/",
        "/api/v1/registry/episodes/{episode_id}/radiotherapy/{id}/",
        "/api/v1/registry/worklist/",
    ):
        assert path in schema["paths"], path


def _make_patients(n, start=0):
    ous = Institution.objects.get(code="OUS")
    patients = Patient.objects.bulk_create(
        Patient(
            national_id=f"9{i:010d}",
            full_name=f"Hansen {i}",
            search_name=f"hansen {i}",
            sex="male",
            birth_date="1960-01-01",
        )
        for i in range(start, start + n)
    )
    PatientInstitution.objects.bulk_create(
        PatientInstitution(patient=p, institution=ous) for p in patients
    )
    episodes = TumourEpisode.objects.bulk_create(
        TumourEpisode(patient=p, institution=ous, diagnosis="meningioma", who_grade=1)
        for p in patients
    )
    return patients, episodes


def _queries(client, method, path, data=None):
    """Queries of a request after a first one: the first may renew the session (once a
    minute, consortium.middleware.SessionActivityMiddleware)."""
    getattr(client, method)(path, data or {})
    with CaptureQueriesContext(connection) as captured:
        response = getattr(client, method)(path, data or {})
        assert response.status_code == 200, response.content[:300]
    return len(captured)


@pytest.mark.parametrize(
    "method,path,data",
    [
        ("get", "/registry/", None),
        ("get", "/registry/", {"q": "hansen"}),
        ("post", "/registry/", {"q": "hansen 1"}),
        ("get", f"{API}/patients/", None),
        ("get", f"{API}/patients/", {"search": "hansen"}),
        ("get", "/registry/worklist/", None),
        ("get", f"{API}/worklist/", None),
    ],
)
def test_lists_and_search_take_a_constant_number_of_queries(api, method, path, data):
    _make_patients(5)
    few = _queries(api, method, path, data)
    _make_patients(60, start=100)
    assert _queries(api, method, path, data) == few


def test_patient_page_takes_a_constant_number_of_queries(api):
    patients, episodes = _make_patients(2)
    small, large = patients
    from registry.models import MolecularMarker, Surgery

    def page(patient):
        return _queries(api, "get", patient.get_absolute_url())

    before = page(large)
    # Many entries in every section of the large patient's episode, and a second episode.
    MolecularMarker.objects.bulk_create(
        MolecularMarker(episode=episodes[1], marker=m, result="not_tested")
        for m in ("idh", "mgmt", "tert", "egfr")
    )
    Surgery.objects.bulk_create(
        Surgery(episode=episodes[1], surgery_date=f"2025-0{i}-01", procedure="resection")
        for i in range(1, 6)
    )
    TumourEpisode.objects.create(
        patient=large, institution=episodes[1].institution, diagnosis="schwannoma"
    )
    assert page(large) == before == page(small)
