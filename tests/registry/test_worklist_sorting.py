"""The worklist sorts by diagnosis date (undated first) or by when the report was
registered, both ways; filters by diagnosis; a bad sort or filter is a 400 naming it."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from consortium.models import Institution, Role
from registry.models import TumourEpisode
from tests.conftest import make_member, sign_in
from tests.registry.factories import fast_password_hashing, make_patient  # noqa: F401

API = "/api/v1/registry/worklist/"
pytestmark = pytest.mark.django_db


@pytest.fixture
def drafts():
    member = make_member(Role.CLINICIAN, institutions=("OUS",), email="wl@ous.no", with_totp=True)
    ous = Institution.objects.get(code="OUS")
    made = []
    for i, (diagnosed, diagnosis) in enumerate(
        [
            (date(2025, 3, 1), "glioblastoma_idh_wildtype"),
            (None, ""),  # undated: first in the default order, last the other way
            (date(2024, 11, 5), "glioblastoma_idh_wildtype"),
            (date(2025, 6, 9), "meningioma"),
        ]
    ):
        patient = make_patient(member, birth_date=date(1960, 1, 1 + i))
        made.append(
            TumourEpisode.objects.create(
                patient=patient,
                institution=ous,
                diagnosis_date=diagnosed,
                diagnosis=diagnosis,
                created_at=timezone.now() - timedelta(days=10 - i),
            )
        )
    return member, made


def _episodes(body) -> list[int]:
    return [item["episode"] for item in body["results"]]


def test_sorted_both_ways(client, drafts):
    member, (march, undated, november, june) = drafts
    sign_in(client, member)
    by_date = [undated.pk, november.pk, march.pk, june.pk]
    assert _episodes(client.get(API).json()) == by_date
    # Newest diagnosis first, the undated ones last (NULLS LAST when descending).
    assert _episodes(client.get(API, {"sort": "-diagnosed"}).json()) == [
        june.pk,
        march.pk,
        november.pk,
        undated.pk,
    ]
    registered = [march.pk, undated.pk, november.pk, june.pk]
    assert _episodes(client.get(API, {"sort": "registered"}).json()) == registered
    assert _episodes(client.get(API, {"sort": "-registered"}).json()) == registered[::-1]
    page = client.get("/registry/worklist/", {"sort": "-diagnosed"}).content.decode()
    assert 'aria-sort="descending"' in page
    numbers = [e.patient.register_number for e in (june, march, november, undated)]
    assert [page.index(n) for n in numbers] == sorted(page.index(n) for n in numbers)


def test_filtered_by_diagnosis_and_bad_values_refused(client, drafts):
    member, (march, undated, november, june) = drafts
    sign_in(client, member)
    body = client.get(API, {"diagnosis": "glioblastoma_idh_wildtype"}).json()
    assert _episodes(body) == [november.pk, march.pk] and body["count"] == 2
    for params, field in (({"sort": "name"}, "sort"), ({"diagnosis": "flu"}, "diagnosis")):
        response = client.get(API, params)
        assert response.status_code == 400
        assert set(response.json()["extra"]["fields"]) == {field}
        page = client.get("/registry/worklist/", params)
        assert page.status_code == 400 and 'role="alert"' in page.content.decode()
