"""The demo command gives the lab dashboard requests in every state."""

import pytest
from django.core.management import call_command

from screening.models import ScreeningRequest, ShipmentAlert, State


@pytest.mark.django_db
def test_demo_screening_has_requests_in_every_state(settings):
    settings.ALLOW_SYNTHETIC_NATIONAL_IDS = True
    settings.DEBUG = True  # load_demo (the demo members) runs only in development
    call_command("load_demo", verbosity=0)
    call_command("create_demo_data", "--patients", "120", "--seed", "1", verbosity=0)
    call_command("create_demo_screening", verbosity=0)
    states = set(ScreeningRequest.objects.values_list("state", flat=True))
    assert states == set(State.values)
    assert ScreeningRequest.objects.filter(lab__code="UIB-LAB").count() == 30
    assert ShipmentAlert.objects.exists()  # a shipment near its window or with an excursion
    from screening.models import DrugResult, Report

    report = Report.objects.get(status="released")
    assert (
        report.request.state == State.REPORTED
        and DrugResult.objects.filter(run=report.run).count() == 30
    )
    call_command("create_demo_screening", "--if-empty", verbosity=0)
    assert ScreeningRequest.objects.count() == 30
    call_command("create_demo_screening", "--reset", verbosity=0)
    assert ScreeningRequest.objects.count() == 30
