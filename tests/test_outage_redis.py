"""Redis (cache and Celery broker) goes down: a signed-in clinician still opens and saves a
patient, sign-in and the API's throttles still answer, and the re-match the save calls for
is kept in PostgreSQL (the outbox) until Redis is back, then a real worker runs it.

The test runs its own redis-server and SIGKILLs it; the app reaches it over TCP as ever."""

from datetime import date

import pytest

from consortium.models import OutboxMessage, Role
from consortium.tasks import relay_outbox
from tests import faults
from tests.conftest import make_member, sign_in
from tests.faults import wait_for, worker
from tests.trials.factories import RECURRENT_GBM, episode, patient, trial
from trials.models import Match

pytestmark = [pytest.mark.fault, pytest.mark.django_db(transaction=True)]
own_redis = faults.own_redis  # the fixture


def test_with_redis_down_a_clinician_opens_and_saves_and_the_rematch_runs_when_it_is_back(
    own_redis, client
):
    clinician = make_member(Role.CLINICIAN, with_totp=True, email="doc@example.no")
    t = trial(RECURRENT_GBM)
    p = patient()
    e = episode(
        p,
        markers={"idh": "wildtype", "mgmt": "wildtype"},
        ecog=1,
        follow_ups=[True],
        regimens=["tmz_concomitant"],
        radiotherapy_end=date(2025, 3, 14),
    )
    sign_in(client, clinician)

    own_redis.kill()

    page = client.get(p.get_absolute_url())
    assert page.status_code == 200 and "Kari Nordmann" in page.content.decode()
    api = client.get(f"/api/v1/registry/patients/{p.register_number}/")  # DRF throttles
    assert api.status_code == 200, api.content[:300]
    # MGMT re-tested: methylated, which makes the patient eligible for the trial.
    saved = client.post(
        f"{p.get_absolute_url()}episodes/{e.pk}/markers/",
        {
            "version": e.markers_version,
            "idh_result": "wildtype",
            "idh_method": "ihc",
            "mgmt_result": "altered",
            "mgmt_method": "pcr",
            "reason": "Re-tested",
        },
    )
    assert saved.status_code == 302, saved.content[:500]
    e.refresh_from_db()
    assert e.markers.get(marker="mgmt").result == "altered"
    # A second member signs in meanwhile: the rate limits fail open, not closed.
    other = make_member(Role.CLINICIAN, with_totp=True, email="other@example.no")
    sign_in(client.__class__(), other)

    # The re-match the save calls for waits in PostgreSQL: the after-commit send failed.
    message = OutboxMessage.objects.get(task_name="trials.tasks.rematch_patient")
    assert message.args == [p.pk] and message.sent_at is None
    assert message.attempts == 1 and "connect" in message.last_error.lower()
    assert not Match.objects.exists()

    own_redis.start()  # an empty Redis: nothing of the outage survives in it
    assert relay_outbox() == 1  # the beat task's body
    message.refresh_from_db()
    assert message.sent_at is not None
    assert relay_outbox() == 0  # sent once

    with worker(own_redis.url) as w:
        wait_for(
            lambda: Match.objects.filter(trial=t, episode=e, outcome="eligible").exists(),
            what="the worker's re-match",
            log=w.output,
        )
