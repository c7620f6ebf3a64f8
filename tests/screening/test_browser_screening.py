"""The screening flow in a real headless Chromium, through the pages only: a clinician
requests a screen from the patient page, a lab scientist accepts it, the sending
hospital registers the sample, dispatches it and enters a hand-over, the lab records
the receipt with viability, and the request's timeline shows each step. Any console
error (a CSP violation logs one) fails the test. Each member has their own browser
context, so nobody signs in twice with the same TOTP code."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from screening.models import ScreeningRequest, State
from tests.conftest import browser_sign_in, watch_console
from tests.screening.factories import fresh_tissue, make_world


def _local(at) -> str:
    return timezone.localtime(at).strftime("%Y-%m-%dT%H:%M")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_screen_from_request_to_receipt(live_server, browser):
    base = live_server.url
    errors: list[str] = []
    world = make_world(with_totp=True)
    clinician = watch_console(browser.new_context().new_page(), errors)
    lab = watch_console(browser.new_context().new_page(), errors)

    # 1. The clinician requests a screen from the patient page (first without consent).
    browser_sign_in(clinician, base, world.clinician)
    clinician.goto(f"{base}{world.patient.get_absolute_url()}")
    clinician.get_by_role("link", name="Request drug screening").click()
    form = clinician.locator("form.stacked")
    form.locator('[name="lab"]').select_option(
        label="University of Bergen, Department of Biomedicine (UIB-LAB)"
    )
    form.locator('[name="indication"]').fill("Recurrent glioblastoma; no standard option left.")
    form.locator('[name="planned_surgery_date"]').fill(
        (timezone.localdate() + timedelta(days=2)).isoformat()
    )
    form.locator('[name="panel"]').select_option(label="UIB-LAB: Glioma standard of care")
    clinician.get_by_role("button", name="Request screening").click()
    expect(
        clinician.locator("form.stacked div.field.invalid").filter(
            has=clinician.locator('[name="consent_date"]')
        )
    ).to_contain_text("consent is required")
    assert not ScreeningRequest.objects.exists()
    form.locator('[name="consent_date"]').fill(timezone.localdate().isoformat())
    form.locator('[name="consent_form_version"]').fill("NBTC-DS v2.1")
    form.locator('[name="consent_scope"]').select_option("screening_biobank")
    clinician.get_by_role("button", name="Request screening").click()
    expect(clinician.locator("#request-state")).to_have_text("Requested")
    request = ScreeningRequest.objects.get()
    request_url = f"{base}/screening/requests/{request.pk}/"
    expect(clinician).to_have_url(request_url)

    # 2. The lab scientist finds it on the dashboard and accepts it.
    browser_sign_in(lab, base, world.lab)
    lab.goto(f"{base}/screening/lab/")
    lab.locator("#waiting").get_by_role("link", name=f"Request {request.pk}").click()
    expect(lab).to_have_url(request_url)
    accept = lab.locator("form.move-accepted")
    accept.locator('[name="expected_sample_date"]').fill(
        (timezone.localdate() + timedelta(days=2)).isoformat()
    )
    accept.get_by_role("button", name="Accept").click()
    expect(lab.locator("#request-state")).to_have_text("Accepted")

    # 3. The sending hospital registers the sample, dispatches it and enters a hand-over.
    clinician.reload()
    expect(clinician.locator("#request-state")).to_have_text("Accepted")
    clinician.get_by_role("link", name="Register the sample").click()
    collected = timezone.now() - timedelta(hours=3)
    form = clinician.locator("form.stacked")
    form.locator('[name="sample_type"]').select_option(str(fresh_tissue().pk))
    form.locator('[name="amount"]').fill("120")
    form.locator('[name="medium"]').fill("Hibernate-A")
    form.locator('[name="collected_at"]').fill(_local(collected))
    clinician.get_by_role("button", name="Register sample").click()
    expect(clinician.locator("#request-state")).to_have_text("Sample collected")
    clinician.get_by_role("link", name="Dispatch the sample").click()
    form = clinician.locator("form.stacked")
    form.locator('[name="courier"]').fill("Bring Express")
    form.locator('[name="tracking_reference"]').fill("BX-2231")
    form.locator('[name="dispatched_at"]').fill(_local(collected + timedelta(minutes=30)))
    form.locator('[name="expected_arrival"]').fill(_local(collected + timedelta(hours=5)))
    clinician.get_by_role("button", name="Dispatch").click()
    expect(clinician.get_by_role("heading", name=re.compile("Shipment of S-"))).to_be_visible()
    expect(clinician.locator("#clock")).to_contain_text("of 24 h since collection")
    handover = clinician.locator("#handover-form")
    handover.locator('[name="giver"]').fill("Nurse Berg")
    handover.locator('[name="receiver"]').fill("Courier Lie")
    handover.locator('[name="place"]').fill("OUS Rikshospitalet, neurosurgery")
    handover.locator('[name="at"]').fill(_local(collected + timedelta(minutes=30)))
    handover.get_by_role("button", name="Add hand-over").click()
    expect(clinician.locator("table.handovers")).to_contain_text("Courier Lie")

    # 4. The lab records the receipt with viability.
    lab.reload()
    expect(lab.locator("#request-state")).to_have_text("In transit")
    lab.get_by_role("link", name="Record receipt").click()
    form = lab.locator("form.stacked")
    form.locator('[name="arrived_at"]').fill(_local(timezone.now() - timedelta(minutes=10)))
    form.locator('[name="arrival_celsius"]').fill("5.5")
    form.locator('[name="viable_cell_count"]').fill("2400000")
    form.locator('[name="viability_percent"]').fill("87.5")
    form.locator('[name="decision"]').select_option("accept")
    lab.get_by_role("button", name="Record receipt").click()
    expect(lab.locator("#request-state")).to_have_text("Received")

    # 5. The timeline shows each step (by when it happened); the clinician sees the same.
    clinician.goto(request_url)
    timeline = clinician.locator("#custody-timeline li")
    expect(timeline).to_have_count(8)
    texts = [t.strip() for t in timeline.all_inner_texts()]
    for words in [
        "Requested",
        "Requested → Accepted",
        "collected (Fresh tumour tissue",
        "Accepted → Sample collected",
        "Sample collected → In transit: Bring Express BX-2231",
        "Hand-over at OUS Rikshospitalet, neurosurgery: Nurse Berg → Courier Lie",
        # Norwegian numbers: decimal comma, U+00A0 between digit groups and before the unit.
        "received: Intact, 5,5\u00a0°C on arrival, viability 87,5\u00a0%",
        "In transit → Received: Viability 87,5\u00a0%, 2\u00a0400\u00a0000 viable cells",
    ]:
        assert words in "\n".join(texts), (words, texts)
    assert clinician.locator("#custody-timeline li.error").count() == 0
    request.refresh_from_db()
    assert request.state == State.RECEIVED
    assert errors == []
    clinician.context.close()
    lab.context.close()
