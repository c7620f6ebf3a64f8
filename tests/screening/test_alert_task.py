"""The beat task through a real Celery worker and Redis: a shipment past 75 % of its
window alerts the sender and the lab once, by e-mail and in the app; a second run sends
nothing more."""

import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail

from consortium.celery import app as celery_app
from consortium.models import InboxItem
from screening.models import ShipmentAlert
from screening.tasks import check_open_shipments
from tests.screening.factories import bring_to, make_world


@pytest.mark.django_db(transaction=True)
def test_beat_task_alerts_the_sender_and_the_lab_once():
    world = make_world()
    bring_to(world, "in_transit", collected_hours_ago=20)  # 83 % of fresh tissue's 24 h
    mail.outbox.clear()
    with start_worker(celery_app, perform_ping_check=False, pool="solo", concurrency=1):
        assert check_open_shipments.delay().get(timeout=30) == 1
        assert check_open_shipments.delay().get(timeout=30) == 0
    assert list(ShipmentAlert.objects.values_list("kind", flat=True)) == ["window_near"]
    deadline = time.monotonic() + 10
    while len(mail.outbox) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sorted(m.to[0] for m in mail.outbox) == sorted([world.clinician.email, world.lab.email])
    assert InboxItem.objects.filter(kind="alert", key__startswith="screening.alert:").count() == 2
    assert all("Kari Nordmann" not in m.body for m in mail.outbox)
