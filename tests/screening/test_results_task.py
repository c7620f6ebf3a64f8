"""The upload starts the analysis through a real Celery worker and Redis: after commit
the task runs, the run is done with every drug scored, and a redelivered task changes
nothing (acks_late; idempotent)."""

import time

import pytest
from celery.contrib.testing.worker import start_worker

from consortium.celery import app as celery_app
from screening.models import AnalysisRun, DrugResult
from screening.tasks import analyse_plates
from tests.screening.factories import bring_to, make_world, upload_two_plates


@pytest.mark.django_db(transaction=True)
def test_an_upload_is_analysed_by_the_worker():
    world = make_world()
    request = bring_to(world, "in_culture")
    with start_worker(celery_app, perform_ping_check=False, pool="solo", concurrency=1):
        upload = upload_two_plates(world, request)  # commits: the task is sent
        run = AnalysisRun.objects.get(upload=upload)
        deadline = time.monotonic() + 60
        while AnalysisRun.objects.get(pk=run.pk).status not in ("done", "failed"):
            assert time.monotonic() < deadline, "timed out waiting for the worker"
            time.sleep(0.2)
        run.refresh_from_db()
        assert run.status == "done", run.error
        first = list(
            DrugResult.objects.filter(run=run)
            .order_by("drug_name")
            .values_list("drug_name", "dss2")
        )
        assert len(first) == 30
        assert analyse_plates.delay(run.pk).get(timeout=30) == "done"  # redelivered: left as it is
    assert (
        list(
            DrugResult.objects.filter(run=run)
            .order_by("drug_name")
            .values_list("drug_name", "dss2")
        )
        == first
    )
