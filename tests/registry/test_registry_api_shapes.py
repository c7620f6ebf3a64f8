"""The register API answers in the shapes its schema documents: every list in the one
envelope {count, next, previous, results}, times of day with their UTC offset."""

from datetime import date, time

import pytest

from consortium.models import Role
from registry.models import Surgery
from tests.conftest import make_member, sign_in
from tests.registry.factories import (  # noqa: F401  (fast_password_hashing is autouse)
    complete_episode,
    fast_password_hashing,
    make_patient,
)

API = "/api/v1/registry"
ENVELOPE = {"count", "next", "previous", "results"}

pytestmark = pytest.mark.django_db


@pytest.fixture
def doctor():
    return make_member(Role.CLINICIAN, institutions=("OUS",), with_totp=True)


@pytest.fixture
def episode(doctor):
    return complete_episode(make_patient(doctor), doctor, diagnosis_date=date(2025, 1, 20))


@pytest.fixture
def api(client, doctor):
    sign_in(client, doctor)
    return client


def test_every_register_list_is_the_paginated_envelope(api, episode):
    number = episode.patient.register_number
    lists = {
        f"{API}/patients/": 1,
        f"{API}/patients/{number}/episodes/": 1,
        f"{API}/episodes/{episode.pk}/markers/": 2,  # IDH and MGMT
        f"{API}/episodes/{episode.pk}/surgeries/": 1,
        f"{API}/episodes/{episode.pk}/performance/": 1,
        f"{API}/episodes/{episode.pk}/radiotherapy/": 0,
        f"{API}/worklist/": 1,
    }
    for path, count in lists.items():
        body = api.get(path).json()
        assert ENVELOPE <= set(body), path
        assert body["count"] == count == len(body["results"]), path
        assert body["next"] is None and body["previous"] is None, path
    worklist = api.get(f"{API}/worklist/").json()
    assert worklist["institution"] == "OUS" and worklist["figures"]["total"] == 1
    assert worklist["results"][0]["episode"] == episode.pk


def test_a_list_past_its_last_page_is_a_404_in_the_error_shape(api, episode):
    response = api.get(f"{API}/episodes/{episode.pk}/surgeries/", {"page": 2})
    assert response.status_code == 404
    assert set(response.json()) == {"message", "extra"}


# Not "page": that is Playwright's fixture, and would make these browser tests.
@pytest.mark.parametrize("number", ["", "0", "abc", "last", "1.5", "-1"])
def test_a_page_number_that_is_not_a_whole_number_from_1_is_a_400_naming_it(api, episode, number):
    response = api.get(f"{API}/episodes/{episode.pk}/surgeries/", {"page": number})
    assert response.status_code == 400
    assert response.json()["extra"]["fields"] == {
        "page": ["A page number is a whole number from 1."]
    }


def test_a_page_number_on_a_list_paged_by_keyset_is_a_400_naming_it(api, episode):
    response = api.get(f"{API}/patients/", {"page": "2"})
    assert response.status_code == 400
    assert set(response.json()["extra"]["fields"]) == {"page"}


def _surgery(api, episode, **values):
    return api.post(
        f"{API}/episodes/{episode.pk}/surgeries/",
        {
            "procedure": "open_biopsy",
            **values,
        },
        content_type="application/json",
    )


def test_surgery_end_time_carries_its_utc_offset(api, episode):
    # complete_episode operated on 20.01.2025 ending 08:00 Norwegian time: winter, UTC+1.
    listed = api.get(f"{API}/episodes/{episode.pk}/surgeries/").json()["results"]
    assert listed[0]["surgery_end_time"] == "08:00:00+01:00"

    # Given with an offset: 10:00 UTC on 1 July is 12:00 in Norway (summer time, UTC+2).
    summer = _surgery(api, episode, surgery_date="2025-07-01", surgery_end_time="10:00:00Z")
    assert summer.status_code == 201, summer.json()
    assert summer.json()["surgery_end_time"] == "12:00:00+02:00"
    assert Surgery.objects.get(pk=summer.json()["id"]).surgery_end_time == time(12, 0)

    # Without an offset it is the time in Norway, as on the form.
    local = _surgery(api, episode, surgery_date="2025-07-02", surgery_end_time="14:30")
    assert local.json()["surgery_end_time"] == "14:30:00+02:00"

    # 23:30 UTC on 1 July is already 2 July in Norway: refused, naming the field.
    late = _surgery(api, episode, surgery_date="2025-07-01", surgery_end_time="23:30:00+00:00")
    assert late.status_code == 400
    assert "2025-07-02" in str(late.json()["extra"]["fields"]["surgery_end_time"])

    # A PATCH with only the time takes the row's date: 07:15-04:00 on 1 July is 13:15 in Norway.
    patched = api.patch(
        f"{API}/episodes/{episode.pk}/surgeries/{summer.json()['id']}/",
        {
            "surgery_end_time": "07:15:00-04:00",
            "version": summer.json()["version"],
        },
        content_type="application/json",
    )
    assert patched.status_code == 200, patched.json()
    assert patched.json()["surgery_end_time"] == "13:15:00+02:00"
