"""Reproducing a snapshot from the change history, in the browser and the API: an admin
starts it on the snapshot's page (or POSTs it), a Celery task rebuilds the register as the
snapshot read it and compares every cell, the page shows its progress and then whether the
reproduction equals the stored figures, naming each indicator that differs."""

import time

import pytest
from celery.contrib.testing.worker import start_worker

from consortium.celery import app as celery_app
from consortium.models import Institution, Role
from registry import indicator_services
from registry.models import IndicatorCell, IndicatorReproduction, IndicatorSnapshot
from tests.conftest import make_member, sign_in
from tests.registry.test_indicator_pages import YEAR, cohort, snapshot

pytestmark = pytest.mark.django_db


def page(snapshot_id: int) -> str:
    return f"/registry/indicators/snapshots/{snapshot_id}/"


def api(snapshot_id: int) -> str:
    return f"/api/v1/registry/indicator-snapshots/{snapshot_id}/reproductions/"


def tamper(done: IndicatorSnapshot, code: str, hospital: str, numerator: int) -> None:
    """A stored cell altered by hand: what a reproduction must find."""
    changed = IndicatorCell.objects.filter(
        snapshot=done,
        indicator=code,
        year=YEAR,
        institution=Institution.objects.get(code=hospital),
        diagnosis_group="",
    ).update(numerator=numerator)
    assert changed == 1


@pytest.mark.django_db(transaction=True)
def test_an_admin_reproduces_a_snapshot_on_its_page_through_a_real_worker(client):
    cohort({"OUS": (7, 3), "HUS": (2, 1), "SUS": (6, 6)})
    done = snapshot()
    tamper(done, "coverage", "OUS", 6)  # stored 6 of 10; the register says 7 of 10
    admin = make_member(Role.ADMIN, institutions=(), with_totp=True)
    sign_in(client, admin)
    indicators = client.get("/registry/indicators/").content.decode()
    assert f'href="{page(done.pk)}"' in indicators  # the snapshot's page, from "Data as of"
    body = client.get(page(done.pk)).content.decode()
    assert 'id="reproduce-form"' in body and 'id="no-reproductions"' in body
    with start_worker(celery_app, perform_ping_check=False, pool="solo", concurrency=1):
        response = client.post(f"{page(done.pk)}reproduce/")
        assert response.status_code == 302 and response["Location"] == page(done.pk)
        reproduction = IndicatorReproduction.objects.get()
        deadline = time.monotonic() + 90
        while reproduction.status not in ("done", "failed"):
            assert time.monotonic() < deadline, "timed out waiting for the worker"
            time.sleep(0.3)
            reproduction.refresh_from_db()
    assert reproduction.status == "done", reproduction.error
    assert reproduction.exact is True and reproduction.equal is False
    assert reproduction.cells == done.cells.count()
    assert reproduction.differing_indicators == ["coverage"]
    ous = Institution.objects.get(code="OUS").pk
    assert reproduction.differences_total == 1
    assert reproduction.differences == [
        f"('coverage', {YEAR}, {ous}, '', ''): stored (6, 10, {{}}), again (7, 10, {{}})"
    ]
    body = client.get(page(done.pk)).content.decode()
    assert "Different</strong>: 1 of" in body and '<span class="code">coverage</span>' in body
    assert "stored (6, 10, {}), again (7, 10, {})" in body  # admins see the cell
    rows = client.get(api(done.pk)).json()["results"]
    assert [(r["equal"], r["differing_indicators"], r["progress"]["percent"]) for r in rows] == [
        (False, ["coverage"], 100)
    ]
    assert rows[0]["differences"] == reproduction.differences
    # Other members see the verdict and the indicator, not the counts.
    client.logout()
    sign_in(client, make_member(Role.CLINICIAN, institutions=("HUS",), with_totp=True))
    body = client.get(page(done.pk)).content.decode()
    assert "Different</strong>" in body and "stored (6, 10" not in body
    assert 'id="reproduce-form"' not in body
    detail = client.get(f"/api/v1/registry/indicator-reproductions/{reproduction.pk}/").json()
    assert detail["differing_indicators"] == ["coverage"] and detail["differences"] is None


def test_an_untouched_snapshot_reproduces_equal_with_its_progress_shown(client):
    cohort({"OUS": (7, 3), "HUS": (2, 1)})
    done = snapshot()
    sign_in(client, make_member(Role.ADMIN, institutions=(), with_totp=True))
    answer = client.post(api(done.pk))
    assert answer.status_code == 202
    queued = answer.json()
    assert queued["status"] == "queued" and queued["equal"] is None
    assert queued["progress"] == {"percent": 0, "text": "Waiting for a worker"}
    # The page polls the queued row until it is done.
    body = client.get(page(done.pk)).content.decode()
    assert f'hx-get="/registry/indicators/reproductions/{queued["id"]}/"' in body
    # Asked again while it waits: the same one, not a second.
    again = client.post(api(done.pk))
    assert again.status_code == 200 and again.json()["id"] == queued["id"]
    # The task's body (registry.tasks.reproduce_indicator_snapshot), twice: a redelivery
    # leaves the finished result as it is.
    first = indicator_services.reproduction_run(queued["id"])
    second = indicator_services.reproduction_run(queued["id"])
    assert first.equal is second.equal is True and second.finished_at == first.finished_at
    detail = client.get(f"/api/v1/registry/indicator-reproductions/{queued['id']}/").json()
    assert detail["equal"] is True and detail["differing_indicators"] == []
    assert detail["cells"] == done.cells.count() > 0 and detail["progress"]["percent"] == 100
    row = client.get(f"/registry/indicators/reproductions/{queued['id']}/").content.decode()
    assert "Equal</strong>: all" in row and "hx-get" not in row  # no more polling


def test_only_admins_reproduce_and_only_a_finished_snapshot_of_these_definitions(client):
    cohort({"OUS": (3, 2)})
    done = snapshot()
    clinician = make_member(Role.CLINICIAN, institutions=("OUS",), with_totp=True)
    sign_in(client, clinician)
    assert client.post(api(done.pk)).status_code == 403
    assert client.post(f"{page(done.pk)}reproduce/").status_code == 403
    assert client.get(api(done.pk)).status_code == 200  # members see the results
    client.logout()
    sign_in(client, make_member(Role.ADMIN, institutions=(), with_totp=True))
    queued = indicator_services.snapshot_request()
    refused = client.post(api(queued.pk))
    assert refused.status_code == 400
    assert "not done" in refused.json()["extra"]["fields"]["snapshot"][0]
    IndicatorSnapshot.objects.filter(pk=done.pk).update(definitions_version="2019.1")
    refused = client.post(api(done.pk))
    assert refused.status_code == 400
    assert "2019.1" in refused.json()["extra"]["fields"]["snapshot"][0]
    body = client.get(page(done.pk)).content.decode()
    assert 'id="reproduce-refused"' in body and 'id="reproduce-form"' not in body
    assert client.post(api(999999)).status_code == 404
    assert not IndicatorReproduction.objects.exists()
