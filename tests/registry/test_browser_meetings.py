"""A tumour board in a real headless Chromium: a clinician schedules a meeting, adds two
patients, opens the prepared patient page (markers, the released screening report's top
drugs with curves, the candidate trials), records a decision that refers the patient to
a trial, and the trial coordinator sees the referral. Any console error (a CSP violation
logs one) fails the test."""

from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from registry.models import MdtDecision, MdtMeeting, TumourEpisode
from tests.conftest import browser_sign_in, watch_console
from tests.registry.meeting_factories import patient_with_episode
from tests.registry.meeting_world import make_board
from trials.models import TrialReferral


def _meeting_times():
    """Started ten minutes ago (so the board may decide), on today's date in Norway."""
    now = timezone.localtime()
    day_start = datetime.combine(now.date(), time(0, 0), tzinfo=now.tzinfo)
    starts = max(now - timedelta(minutes=10), day_start)
    ends = min(starts + timedelta(hours=2), datetime.combine(now.date(), time(23, 59), now.tzinfo))
    return now.date(), starts.strftime("%H:%M"), ends.strftime("%H:%M")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_clinician_prepares_the_board_decides_a_trial_referral_and_the_coordinator_sees_it(
    live_server, browser
):
    base = live_server.url
    errors: list[str] = []
    board = make_board(with_totp=True)
    world = board.world
    second, _ = patient_with_episode(world.clinician, name="Per Hansen")
    clinician = watch_console(browser.new_context().new_page(), errors)
    browser_sign_in(clinician, base, world.clinician)

    clinician.get_by_role("link", name="Tumour boards").click()
    clinician.get_by_role("link", name="Schedule a meeting").click()
    day, starts, ends = _meeting_times()
    clinician.locator('select[name="institution"]').select_option(
        label="Oslo universitetssykehus (OUS)"
    )
    clinician.locator('select[name="kind"]').select_option("local")
    clinician.locator('input[name="day"]').fill(day.isoformat())
    clinician.locator('input[name="starts"]').fill(starts)
    clinician.locator('input[name="ends"]').fill(ends)
    clinician.locator('input[name="title"]').fill("Neuro-oncology MDT")
    clinician.locator('select[name="oncology"]').select_option(str(world.clinician.pk))
    clinician.get_by_role("button", name="Schedule the meeting").click()
    expect(clinician.locator("h1")).to_contain_text("Local tumour board")
    meeting = MdtMeeting.objects.get()
    assert meeting.participants.get().member == world.clinician

    for patient, question in (
        (world.patient, "Recurrence after Stupp: which option?"),
        (second, "Postoperative radiotherapy?"),
    ):
        clinician.locator('input[name="register_number"]').fill(patient.register_number)
        clinician.locator('textarea[name="question"]').fill(question)
        clinician.get_by_role("button", name="Add to the agenda").click()
        expect(clinician.locator("ul.messages")).to_contain_text("Patient added to the agenda.")
    expect(clinician.locator("table.agenda tbody tr")).to_have_count(2)
    expect(clinician.locator("table.agenda")).to_contain_text("1 candidate trial")

    clinician.get_by_role("link", name=world.patient.register_number).click()
    expect(clinician.locator("#markers")).to_contain_text("MGMT promoter methylation: methylated")
    expect(clinician.locator("#screening li.drug-card")).to_have_count(3)
    expect(clinician.locator("#screening li.drug-card svg.curve")).to_have_count(3)
    expect(clinician.locator("#trials")).to_contain_text("MGMT-methylated GBM study")
    expect(clinician.locator("#trials")).to_contain_text("Adequate bone marrow function")

    clinician.locator('textarea[name="recommendation"]').fill(
        "Refer to the MGMT-methylated GBM study; lomustine if not included."
    )
    clinician.get_by_label("Referral to a trial").check()
    clinician.locator('textarea[name="follow_up_actions"]').fill("Blood counts before screening.")
    clinician.get_by_role("button", name="Record the decision").click()
    expect(clinician.locator("dd.plan")).to_have_text("Referral to a trial")
    episode = TumourEpisode.objects.get(pk=world.episode.pk)
    assert episode.mdt_dates == [day]

    clinician.get_by_role("link", name="Refer to a trial").click()
    expect(clinician.locator('select[name="trial"] option:checked')).to_contain_text(
        "MGMT-methylated GBM study"
    )
    clinician.get_by_role("button", name="Refer to the trial").click()
    expect(clinician.locator("ul.messages")).to_contain_text("Referred")
    referral = TrialReferral.objects.get()
    assert referral.decision == MdtDecision.objects.get() and referral.trial == board.trial

    coordinator = watch_console(browser.new_context().new_page(), errors)
    browser_sign_in(coordinator, base, world.coordinator)
    coordinator.get_by_role("link", name="Referrals").click()
    row = coordinator.locator(f"#referral-{referral.pk}")
    expect(row).to_contain_text(world.patient.register_number)
    expect(row).to_contain_text("MGMT-methylated GBM study")
    expect(coordinator.locator("body")).not_to_contain_text("Kari Nordmann")
    assert errors == []
