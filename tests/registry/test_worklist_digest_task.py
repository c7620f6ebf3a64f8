"""The nightly digest through a real Celery worker and Redis: each clinician with open
items gets one mail; running the beat task again the same day sends nothing more."""

import datetime

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail

from consortium.celery import app as celery_app
from consortium.models import Institution, Role
from registry.models import Patient, PatientInstitution, TumourEpisode
from registry.tasks import send_worklist_digests
from tests.conftest import make_member


@pytest.mark.django_db(transaction=True)
def test_beat_task_sends_each_clinician_one_digest_a_day():
    ous = Institution.objects.get(code="OUS")
    with_items = make_member(Role.CLINICIAN, institutions=("OUS",), email="ous@example.no")
    make_member(
        Role.CLINICIAN, institutions=("SUS",), email="sus@example.no"
    )  # nothing open at SUS
    make_member(Role.RESEARCHER, institutions=("OUS",), email="res@example.no")  # not a clinician
    patient = Patient.objects.create(
        national_id="12829499914",
        full_name="Per Digest",
        search_name="per digest",
        sex="male",
        birth_date=datetime.date(1994, 2, 12),
    )
    PatientInstitution.objects.create(patient=patient, institution=ous)
    TumourEpisode.objects.create(
        patient=patient, institution=ous, diagnosis_date=datetime.date(2025, 3, 1)
    )

    with start_worker(celery_app, perform_ping_check=False, pool="solo", concurrency=1):
        assert send_worklist_digests.delay().get(timeout=30) == 2
        _wait_for_mail(1)
        send_worklist_digests.delay().get(timeout=30)  # again the same night: nothing new
        # The second run's per-clinician tasks are queued after the first's; wait for them.
        from registry.models import WorklistDigest

        _wait(lambda: WorklistDigest.objects.count() == 2)
    assert [m.to for m in mail.outbox] == [[with_items.email]]
    body = mail.outbox[0].body
    assert (
        patient.register_number in body
        and "Per Digest" not in body
        and patient.national_id not in body
    )
    assert "Surgery or biopsy" in body  # says what is missing


def _wait(predicate, timeout=20.0):
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the worker"
        time.sleep(0.1)


def _wait_for_mail(count):
    _wait(lambda: len(mail.outbox) >= count)
