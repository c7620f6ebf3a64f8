"""The results API names the reference set that made DSS selective, and says null (not
Python's repr of None's method) when the lab has none."""

import pytest

from screening.models import ReferenceSet
from tests.conftest import sign_in
from tests.screening.factories import analysed, make_world

pytestmark = pytest.mark.django_db


def test_a_run_without_a_reference_set_shows_null(client):
    world = make_world(with_totp=True)
    ReferenceSet.objects.all().update(active=False)
    request, upload, run = analysed(world)
    assert run.reference_set_id is None
    sign_in(client, world.lab)
    body = client.get(f"/api/v1/screening/requests/{request.pk}/results/").json()
    assert body["run"]["id"] == run.pk
    assert body["run"]["reference_set"] is None


def test_a_run_with_a_reference_set_names_it_and_its_version(client):
    world = make_world(with_totp=True)
    ReferenceSet.objects.all().update(active=False)
    ReferenceSet.objects.create(
        lab=world.uib, name="Glioma controls", version=3, scores={"Palbociclib": [4.0, 6.0]}
    )
    request, upload, run = analysed(world)
    sign_in(client, world.lab)
    body = client.get(f"/api/v1/screening/requests/{request.pk}/results/").json()
    assert body["run"]["reference_set"] == "Glioma controls v3"
