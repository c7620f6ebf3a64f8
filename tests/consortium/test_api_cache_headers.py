"""Every API endpoint, read from the URLconf, answers `Cache-Control: no-store, private`
and `Vary: Authorization, Cookie`, whatever its app and status: an answer that shows a
patient must never be kept by a browser or shared proxy, nor served to someone else."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from tests.conftest import sign_in
from tests.registry.factories import fast_password_hashing  # noqa: F401 (autouse fixture)
from tests.screening.factories import analysed, make_world

pytestmark = pytest.mark.django_db


def api_routes() -> list[str]:
    found = []

    def walk(patterns, prefix):
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern) and prefix.startswith("api/"):
                found.append(prefix + str(p.pattern))

    walk(get_resolver().url_patterns, "")
    return found


def _fill(route: str, values: dict) -> str:
    return "/" + re.sub(
        r"<(?:\w+:)?(\w+)>", lambda m: str(values.get(m.group(1), 1)), route
    ).lstrip("^").rstrip("$")


def _assert_never_cached(response, path):
    cache_control = {d.strip() for d in response.get("Cache-Control", "").split(",")}
    vary = {v.strip().lower() for v in response.get("Vary", "").split(",")}
    assert {"no-store", "private"} <= cache_control, (path, response.get("Cache-Control"))
    assert {"authorization", "cookie"} <= vary, (path, response.get("Vary"))


def test_every_api_endpoint_is_never_cached_and_varies_on_the_credentials(client):
    world = make_world(with_totp=True)
    request, upload, run = analysed(world)
    values = {
        "register_number": world.patient.register_number,
        "episode_id": world.episode.pk,
        "request_id": request.pk,
        "sample_id": request.samples.first().pk,
        "shipment_id": request.samples.first().shipment.pk,
        "plate_id": run.upload.plates.first().pk,
        "slug": "x",
    }
    routes = api_routes()
    assert "api/v1/registry/patients/<str:register_number>/" in routes
    anonymous = {}
    for route in routes:
        path = _fill(route, values)
        anonymous[path] = client.get(path)
        _assert_never_cached(anonymous[path], path)
    sign_in(client, world.clinician)
    statuses = {}
    for route in routes:
        path = _fill(route, values)
        response = client.get(path)
        statuses[path] = response.status_code
        _assert_never_cached(response, path)
    # The walk reached answers that show the patient, not only refusals.
    patient_path = f"/api/v1/registry/patients/{world.patient.register_number}/"
    assert statuses[patient_path] == 200
    assert statuses[f"/api/v1/screening/requests/{request.pk}/"] == 200


def test_writes_and_refusals_are_never_cached_either(client):
    world = make_world(with_totp=True)
    sign_in(client, world.clinician)
    path = f"/api/v1/registry/patients/{world.patient.register_number}/"
    response = client.patch(path, {"full_name": ""}, content_type="application/json")
    assert response.status_code == 400
    _assert_never_cached(response, path)
