"""A change to a stored register row must name the version it was loaded at: a PATCH or
PUT without `version` is 400 naming `version` and changes nothing (it used to overwrite a
newer edit unseen); the same for the pages' forms. Creating a row needs no version."""

import pytest

from consortium.models import Role
from registry.models import MolecularMarker, Patient, Surgery, TumourEpisode
from tests.conftest import make_member, sign_in
from tests.registry.factories import days_ago, gbm_episode, make_patient

pytestmark = pytest.mark.django_db
API = "/api/v1/registry"


@pytest.fixture
def world(client):
    clinician = make_member(
        Role.CLINICIAN, institutions=("OUS",), email="clin@ous.no", with_totp=True
    )
    patient = make_patient(clinician, full_name="Kari Nordmann")
    episode = gbm_episode(patient, clinician)
    sign_in(client, clinician)
    return client, patient, episode


def _missing_version(response):
    assert response.status_code == 400, response.content
    body = response.json()
    assert "version" in body["extra"]["fields"]
    assert "version" in body["message"]


def test_patch_of_the_patient_without_version_is_refused(world):
    client, patient, _ = world
    url = f"{API}/patients/{patient.register_number}/"
    _missing_version(client.patch(url, {"full_name": "Kari N."}, content_type="application/json"))
    patient.refresh_from_db()
    assert patient.full_name == "Kari Nordmann" and patient.version == 1
    ok = client.patch(url, {"full_name": "Kari N.", "version": 1}, content_type="application/json")
    assert ok.status_code == 200 and ok.json()["version"] == 2
    stale = client.patch(
        url, {"full_name": "Kari X.", "version": 1}, content_type="application/json"
    )
    assert stale.status_code == 409
    assert Patient.objects.get().full_name == "Kari N."


def test_patch_of_the_diagnosis_without_version_is_refused(world):
    client, _, episode = world
    url = f"{API}/episodes/{episode.pk}/"
    _missing_version(client.patch(url, {"laterality": "right"}, content_type="application/json"))
    episode.refresh_from_db()
    assert episode.laterality == "left"


def test_put_of_the_markers_without_version_is_refused(world):
    client, _, episode = world
    before = set(episode.markers.values_list("marker", "result"))
    response = client.put(
        f"{API}/episodes/{episode.pk}/markers/",
        {"markers": [{"marker": "idh", "result": "altered"}]},
        content_type="application/json",
    )
    _missing_version(response)
    assert set(MolecularMarker.objects.filter(episode=episode).values_list("marker", "result")) == (
        before
    )


def test_patch_of_a_section_entry_without_version_is_refused_but_creating_needs_none(world):
    client, _, episode = world
    created = client.post(
        f"{API}/episodes/{episode.pk}/surgeries/",
        {"surgery_date": str(days_ago(20)), "procedure": "resection"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    url = f"{API}/episodes/{episode.pk}/surgeries/{created.json()['id']}/"
    _missing_version(
        client.patch(url, {"procedure": "open_biopsy"}, content_type="application/json")
    )
    assert Surgery.objects.get().procedure == "resection"


def test_the_edit_form_without_version_is_refused(world):
    client, patient, episode = world
    response = client.post(
        f"{patient.get_absolute_url()}episodes/{episode.pk}/",
        {"diagnosis": episode.diagnosis, "laterality": "right"},
    )
    assert response.status_code == 200
    assert "version" in response.context["form"].errors
    assert TumourEpisode.objects.get().laterality == "left"


def test_trial_writes_require_the_version_too(client):
    from tests.trials.factories import trial

    t = trial(title="A trial")
    sign_in(
        client,
        make_member(Role.COORDINATOR, institutions=("OUS",), with_totp=True, email="c@ous.no"),
    )
    _missing_version(
        client.patch(
            f"/api/v1/trials/{t.pk}/",
            {"coordinator_notes": "x"},
            content_type="application/json",
        )
    )
    _missing_version(
        client.put(
            f"/api/v1/trials/{t.pk}/criteria/",
            {"criteria": {"version": 1, "criteria": {"all": []}}},
            content_type="application/json",
        )
    )
