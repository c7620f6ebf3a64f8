"""Submit as complete asks first: the page (no script needed) and the API's preview list
what the report still lacks (which blocks) and what the patient's candidate trials find
unknown in the register (which does not: a radiotherapy end date, say), reached through
registry.panels so the register never imports trials. Only a confirmed submit locks."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from consortium.models import Role
from registry import selectors, services
from registry.models import TumourEpisode
from tests.conftest import browser_sign_in, make_member, sign_in, watch_console
from tests.registry.factories import complete_episode, gbm_episode, make_patient
from tests.trials.factories import GBM, tree, trial
from trials import engine

pytestmark = pytest.mark.django_db
API = "/api/v1/registry"
AFTER_RADIOTHERAPY = tree(
    {"type": "diagnosis", "codes": [GBM]}, {"type": "radiotherapy_ended", "min_weeks": 4}
)
ANOTHER_TUMOUR = tree({"type": "diagnosis", "codes": ["oligodendroglioma_idh_mutant_codeleted"]})


def _report_awaiting_radiotherapy_end():
    """An OUS clinician's complete GBM report with a radiotherapy course whose end is not
    recorded, matched against a trial that asks for 4 weeks since radiotherapy ended (so
    the match is possible, the end date unknown) and a trial for another tumour."""
    clin = make_member(Role.CLINICIAN, institutions=("OUS",), email="doc@ous.no", with_totp=True)
    patient = make_patient(clin)
    episode = complete_episode(patient, clin)
    services.section_save(
        section="radiotherapy",
        episode=episode,
        by=clin,
        start_date=episode.diagnosis_date + timedelta(days=21),
        total_dose_gy=60,
        fractions=30,
    )
    asking = trial(AFTER_RADIOTHERAPY, norwegian=True, title="Regorafenib after chemoradiation")
    trial(ANOTHER_TUMOUR, title="Oligodendroglioma vaccine")
    engine.match_patient(patient.pk)
    return clin, patient, TumourEpisode.objects.get(pk=episode.pk), asking


@pytest.fixture
def report(db):
    return _report_awaiting_radiotherapy_end()


def _submit_url(patient, episode) -> str:
    return f"{patient.get_absolute_url()}episodes/{episode.pk}/submit/"


def test_the_preview_lists_what_candidate_trials_find_unknown_without_blocking(report):
    clin, patient, episode, asking = report
    preview = selectors.submit_preview(user=clin, episode=episode)
    assert preview.blocking == [] and preview.ready
    assert [(w.item, w.asked_by, w.app) for w in preview.wanted] == [
        (
            "Record when radiotherapy ended.",
            (f"{asking.nct_id} Regorafenib after chemoradiation",),
            "trials",
        )
    ]


def test_the_page_asks_before_locking_and_locks_only_when_confirmed(client, report):
    clin, patient, episode, asking = report
    sign_in(client, clin)
    detail = client.get(patient.get_absolute_url()).content.decode()
    assert f'href="{_submit_url(patient, episode)}"' in detail  # a link to the step, not a POST
    page = client.get(_submit_url(patient, episode))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Record when radiotherapy ended." in text and asking.nct_id in text
    assert "Oligodendroglioma vaccine" not in text
    assert 'name="confirm" value="yes"' in text
    # A POST without the confirmation (an old form, a double click) shows the step again.
    again = client.post(_submit_url(patient, episode))
    assert again.status_code == 200 and "Record when radiotherapy ended." in again.content.decode()
    episode.refresh_from_db()
    assert episode.status == TumourEpisode.Status.DRAFT
    locked = client.post(_submit_url(patient, episode), {"confirm": "yes"})
    assert locked.status_code == 302
    episode.refresh_from_db()
    assert episode.status == TumourEpisode.Status.COMPLETE and episode.completed_by == clin
    # Locked: the step has nothing left to confirm and goes back to the patient.
    assert client.get(_submit_url(patient, episode)).status_code == 302


def test_an_incomplete_report_lists_what_it_lacks_and_offers_no_confirmation(client, report):
    clin, patient, _, _ = report
    episode = gbm_episode(patient, clin)
    sign_in(client, clin)
    text = client.get(_submit_url(patient, episode)).content.decode()
    for item in ("MDT meeting date", "Surgery or biopsy", "Performance status"):
        assert item in text
    assert 'name="confirm"' not in text
    refused = client.post(_submit_url(patient, episode), {"confirm": "yes"})
    assert refused.status_code == 400 and "Performance status" in refused.content.decode()
    episode.refresh_from_db()
    assert episode.status == TumourEpisode.Status.DRAFT


def test_the_api_previews_and_submits_only_with_confirm(client, report):
    clin, patient, episode, asking = report
    sign_in(client, clin)
    url = f"{API}/episodes/{episode.pk}/submit/"
    preview = client.get(url).json()
    assert preview == {
        "episode": episode.pk,
        "status": "draft",
        "ready": True,
        "blocking": [],
        "wanted": [
            {
                "item": "Record when radiotherapy ended.",
                "asked_by": [f"{asking.nct_id} Regorafenib after chemoradiation"],
                "app": "trials",
            }
        ],
    }
    for body in ({}, {"confirm": False}):
        refused = client.post(url, body, content_type="application/json")
        assert refused.status_code == 400
        assert list(refused.json()["extra"]["fields"]) == ["confirm"]
    episode.refresh_from_db()
    assert episode.status == TumourEpisode.Status.DRAFT
    done = client.post(url, {"confirm": True}, content_type="application/json")
    assert done.status_code == 200 and done.json()["status"] == "complete"
    after = client.get(url).json()
    assert (after["status"], after["blocking"], after["wanted"]) == ("complete", [], [])


def test_the_api_lists_what_blocks_an_incomplete_report(client, report):
    clin, patient, _, _ = report
    episode = gbm_episode(patient, clin)
    sign_in(client, clin)
    url = f"{API}/episodes/{episode.pk}/submit/"
    preview = client.get(url).json()
    assert not preview["ready"] and "Performance status" in preview["blocking"]
    refused = client.post(url, {"confirm": True}, content_type="application/json")
    assert refused.status_code == 400 and "Performance status" in refused.json()["message"]


def test_a_coordinator_sees_no_submit_step(client, report):
    """Only the treating clinicians submit; the coordinator of the hospital gets 403."""
    _, patient, episode, _ = report
    coordinator = make_member(
        Role.COORDINATOR, institutions=("OUS",), email="coord@ous.no", with_totp=True
    )
    sign_in(client, coordinator)
    assert client.get(_submit_url(patient, episode)).status_code == 403
    assert client.get(f"{API}/episodes/{episode.pk}/submit/").status_code == 403


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_confirmation_in_a_browser_without_javascript(live_server, browser):
    """In headless Chromium with scripts off: the patient page's Submit as complete opens
    the step, which names the trial's question; going back leaves the report a draft; the
    confirming button locks it."""
    clin, patient, episode, asking = _report_awaiting_radiotherapy_end()
    errors: list[str] = []
    page = watch_console(browser.new_context(java_script_enabled=False).new_page(), errors)
    base = live_server.url
    browser_sign_in(page, base, clin)
    page.goto(f"{base}{patient.get_absolute_url()}")
    page.get_by_role("link", name="Submit as complete").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Submit the report as complete?")
    wanted = page.locator("#submit-wanted")
    expect(wanted).to_contain_text("Record when radiotherapy ended.")
    expect(wanted).to_contain_text(asking.nct_id)
    expect(page.locator("#submit-blocking")).to_contain_text("Nothing")
    page.get_by_role("link", name="Not yet").click()
    assert TumourEpisode.objects.get(pk=episode.pk).status == TumourEpisode.Status.DRAFT
    page.get_by_role("link", name="Submit as complete").click()
    page.get_by_role("button", name="Submit as complete and lock the report").click()
    expect(page.locator(".messages")).to_contain_text("it is now locked")
    assert TumourEpisode.objects.get(pk=episode.pk).status == TumourEpisode.Status.COMPLETE
    assert errors == []
