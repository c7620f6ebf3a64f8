"""Matching through a real Celery worker on the real Redis broker: a register change
(registry.signals.register_changed, after commit) re-matches that patient; saving a
trial's criteria re-matches the trial after commit; the nightly task is idempotent."""

import time
from datetime import date

import pytest
from celery.contrib.testing.worker import start_worker

from consortium.celery import app as celery_app
from consortium.models import Role
from registry import services as registry_services
from registry.models import MarkerResult
from tests.conftest import make_member
from tests.trials.factories import RECURRENT_GBM, episode, patient, tree, trial
from trials import services
from trials.models import Match
from trials.tasks import rematch_all


def _wait(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the worker"
        time.sleep(0.1)


@pytest.mark.django_db(transaction=True)
def test_register_change_and_criteria_change_rematch_in_the_worker():
    celery_app.control.purge()  # nothing left over from other runs on this broker
    clinician = make_member(Role.CLINICIAN, institutions=("OUS",), email="doc@example.no")
    coordinator = make_member(Role.COORDINATOR, institutions=("OUS",), email="coord@example.no")
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
    other = trial(tree({"type": "grade", "grades": [3]}))
    with start_worker(celery_app, perform_ping_check=False, pool="solo", concurrency=1):
        # MGMT re-tested: methylated. The register tells us after commit; the worker matches.
        registry_services.markers_save(
            episode=e,
            by=clinician,
            expected_version=e.markers_version,
            results={"mgmt": (MarkerResult.ALTERED, "pcr")},
        )
        _wait(lambda: Match.objects.filter(trial=t, episode=e, outcome="eligible").exists())
        # A coordinator widens the other trial to grade 4: re-matched after commit.
        services.trial_criteria_save(
            trial=other,
            by=coordinator,
            tree=tree({"type": "grade", "grades": [3, 4]}),
            expected_version=other.version,
        )
        _wait(lambda: Match.objects.filter(trial=other, episode=e).exists())
        # The nightly run changes nothing now: idempotent.
        result = rematch_all.delay().get(timeout=30)
        assert (result["created"], result["updated"], result["deactivated"]) == (0, 0, 0)
    assert Match.objects.count() == 2
