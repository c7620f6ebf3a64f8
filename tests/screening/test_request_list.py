"""The screening requests list: newest first or by planned surgery, both ways, ties by id;
filtered by state, priority and lab; keyset pages both ways; a bad filter is a 400."""

from datetime import timedelta

import pytest
from django.utils import timezone

from screening.models import ScreeningRequest
from tests.conftest import sign_in
from tests.screening.factories import make_request, make_world

API = "/api/v1/screening/requests/"
pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    world = make_world(with_totp=True)
    world.requests = [
        make_request(world, planned_surgery_date=timezone.localdate() + timedelta(days=days))
        for days in (9, 3, 3, 3, 12)  # three on the same day: the id orders them
    ]
    ScreeningRequest.objects.filter(pk=world.requests[4].pk).update(priority="urgent")
    return world


def _ids(body) -> list[int]:
    return [r["id"] for r in body["results"]]


def test_sorted_both_ways_ties_by_id(client, world):
    sign_in(client, world.clinician)
    made = [r.pk for r in world.requests]
    assert _ids(client.get(API).json()) == made[::-1]  # newest first
    assert _ids(client.get(API, {"sort": "requested"}).json()) == made
    by_surgery = [made[1], made[2], made[3], made[0], made[4]]
    assert _ids(client.get(API, {"sort": "surgery"}).json()) == by_surgery
    assert _ids(client.get(API, {"sort": "-surgery"}).json()) == by_surgery[::-1]
    page = client.get("/screening/", {"sort": "surgery"}).content.decode()
    positions = [page.index(f'href="/screening/requests/{pk}/"') for pk in by_surgery]
    assert positions == sorted(positions) and 'aria-sort="ascending"' in page


def test_keyset_pages_and_filters(client, world):
    sign_in(client, world.clinician)
    first = client.get(API, {"sort": "surgery", "page_size": 2}).json()
    second = client.get(first["next"]).json()
    third = client.get(second["next"]).json()
    assert _ids(first) + _ids(second) + _ids(third) == _ids(
        client.get(API, {"sort": "surgery"}).json()
    )
    assert third["next"] is None and _ids(client.get(third["previous"]).json()) == _ids(second)
    assert _ids(client.get(API, {"priority": "urgent"}).json()) == [world.requests[4].pk]
    assert _ids(client.get(API, {"lab": "UIO-LAB"}).json()) == []
    assert len(_ids(client.get(API, {"state": "requested"}).json())) == 5


@pytest.mark.parametrize(
    ("params", "field"),
    [({"state": "lost"}, "state"), ({"sort": "patient"}, "sort"), ({"lab": "OUS"}, "lab")],
)
def test_a_bad_filter_is_a_400_naming_it(client, world, params, field):
    sign_in(client, world.clinician)
    response = client.get(API, params)
    assert response.status_code == 400 and set(response.json()["extra"]["fields"]) == {field}
    page = client.get("/screening/", params)
    assert page.status_code == 400 and 'role="alert"' in page.content.decode()
