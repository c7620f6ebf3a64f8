"""The prepared patient page of a tumour board with the other apps' parts (registry
panels): markers, course, what the report lacks, the released screening report's top
drugs with curves, the candidate trials with their verdicts; the decision opening a
prefilled trial referral and screening request; the summary PDF without names or
national IDs (made by the task's body); the day-before list of candidate trials; and
the API's refusals."""

import base64
import re
import zlib
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from consortium.models import AccessLog, Role
from registry import meeting_services, meeting_summary
from registry.models import MdtDecision, MdtMeeting, MdtPlan, MdtSummary, TumourEpisode
from screening.selectors import report_top_drugs
from tests.conftest import make_member, sign_in
from tests.registry.factories import fast_password_hashing  # noqa: F401 (autouse fixture)
from tests.registry.meeting_factories import ONGOING, TOMORROW, patient_with_episode
from tests.registry.meeting_world import make_board
from trials import services as trial_services
from trials.models import MdtCandidatesNotice, TrialReferral

pytestmark = pytest.mark.django_db


def _page(client, board) -> str:
    response = client.get(board.item.get_absolute_url())
    assert response.status_code == 200
    return response.content.decode()


def test_the_prepared_page_shows_markers_course_gaps_top_drugs_and_candidate_trials(client):
    board = make_board(with_totp=True, **ONGOING)
    sign_in(client, board.world.clinician)
    page = _page(client, board)
    assert "Recurrence after Stupp: which option?" in page
    assert "Glioblastoma, IDH-wildtype, CNS WHO grade 4" in page
    assert "MGMT promoter methylation: <b>methylated</b>" in page
    assert "Missing from the report" in page and "IDH" in page  # IDH not yet reported
    # The released report's top three drugs, each with its curve, in rank order.
    top = [r.drug_name for r in report_top_drugs(board.report)]
    assert len(top) == 3
    shown = re.findall(r'data-drug="([^"]+)"', page)
    assert shown == top
    assert page.count('<svg class="curve"') == 3
    # The candidate trial with its verdicts: ECOG unknown (to test), an item to check by hand.
    assert "MGMT-methylated GBM study" in page
    assert board.match.eligibility in ("possibly_eligible", "eligible_pending_checks")
    assert f"outcome-{board.match.eligibility}" in page
    assert "Adequate bone marrow function" in page and "check by hand" in page
    assert AccessLog.objects.filter(
        user=board.world.clinician, patient_id=board.world.patient.pk, page="registry:meeting_item"
    ).exists()
    agenda = client.get(board.meeting.get_absolute_url()).content.decode()
    assert "1 candidate trial" in agenda and "screening report released" in agenda


def test_a_trial_referral_from_the_decision_reaches_the_coordinator(client):
    board = make_board(with_totp=True, **ONGOING)
    world = board.world
    sign_in(client, world.clinician)
    response = client.post(
        board.item.get_absolute_url(),
        {
            "recommendation": "Refer to the MGMT-methylated GBM study.",
            "plan": [MdtPlan.TRIAL],
            "responsible": world.clinician.pk,
            "follow_up_actions": "Check blood counts.",
        },
    )
    assert response.status_code == 302
    decision = MdtDecision.objects.get()
    episode = TumourEpisode.objects.get(pk=world.episode.pk)
    assert episode.mdt_dates == [timezone.localdate(board.meeting.starts_at)]
    page = _page(client, board)
    link = f"/trials/referrals/new/?decision={decision.pk}"
    assert link in page
    form = client.get(link).content.decode()
    # Prefilled: the candidate trial chosen, the board's recommendation as the note.
    assert f'<option value="{board.trial.pk}" selected>' in form
    assert "Refer to the MGMT-methylated GBM study." in form
    assert (
        client.post(
            "/trials/referrals/new/",
            {"decision": decision.pk, "trial": board.trial.pk, "note": "From the board"},
        ).status_code
        == 302
    )
    referral = TrialReferral.objects.get()
    assert (referral.trial, referral.match, referral.patient) == (
        board.trial,
        board.match,
        world.patient,
    )
    # Twice the same trial: refused, naming the field.
    again = client.post(
        "/trials/referrals/new/", {"decision": decision.pk, "trial": board.trial.pk}
    ).content.decode()
    assert "already referred to this trial" in again
    assert TrialReferral.objects.count() == 1
    api = client.post(
        "/api/v1/trials/referrals/",
        {"decision": decision.pk, "trial": board.trial.pk},
        content_type="application/json",
    )
    assert (
        api.status_code == 400 and "already referred" in api.json()["extra"]["fields"]["trial"][0]
    )
    assert trial_services.referral_notify(referral_id=referral.pk) == 1
    assert mail.outbox[-1].to == [world.coordinator.email]
    assert world.patient.full_name not in mail.outbox[-1].body
    from consortium.models import InboxItem

    told = InboxItem.objects.get(kind="referral")
    assert told.recipient == world.coordinator and told.url == "/trials/referrals/"
    client.logout()
    sign_in(client, world.coordinator)
    listed = client.get("/trials/referrals/").content.decode()
    assert world.patient.register_number in listed and "MGMT-methylated GBM study" in listed
    assert world.patient.full_name not in listed


def test_a_referral_needs_the_boards_trial_plan_and_a_screening_request_opens_prefilled(client):
    board = make_board(with_totp=True, **ONGOING)
    world = board.world
    decision = meeting_services.decision_save(
        item=board.item,
        by=world.clinician,
        recommendation="Drug screen of the recurrence.",
        plan=[MdtPlan.SURGERY, MdtPlan.SCREENING],
        responsible=world.clinician,
    )
    sign_in(client, world.clinician)
    page = _page(client, board)
    assert "/trials/referrals/new/" not in page
    link = re.search(r'href="(/screening/[^"]+)">Request a drug screen', page).group(1)
    form = client.get(link.replace("&amp;", "&")).content.decode()
    assert "Drug screen of the recurrence." in form
    assert f'<option value="{world.episode.pk}" selected>' in form
    refused = client.post(
        "/trials/referrals/new/", {"decision": decision.pk, "trial": board.trial.pk}
    ).content.decode()
    assert "no referral to a trial" in refused
    assert not TrialReferral.objects.exists()


def _pdf_text(pdf: bytes) -> str:
    """The text of a reportlab PDF: its content streams, ASCII85-decoded and inflated
    (reportlab's default filters, /ASCII85Decode /FlateDecode)."""
    text = []
    for stream in re.findall(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        data = stream.strip()
        if data.endswith(b"~>"):
            data = base64.a85decode(data, adobe=True)
        try:
            data = zlib.decompress(data)
        except zlib.error:
            pass
        text.append(data.decode("latin-1"))
    return "\n".join(text)


def test_the_summary_pdf_names_register_numbers_never_names_or_national_ids():
    board = make_board(**ONGOING)
    world = board.world
    other, other_episode = patient_with_episode(world.clinician, name="Per Hansen")
    second = meeting_services.agenda_item_add(
        meeting=board.meeting, by=world.clinician, episode_id=other_episode.pk, question="RT?"
    )
    meeting_services.decision_save(
        item=board.item,
        by=world.clinician,
        recommendation="Lomustine.",
        plan=[MdtPlan.SYSTEMIC],
        responsible=world.clinician,
    )
    summary = meeting_services.summary_request(meeting=board.meeting, by=world.clinician)
    done = meeting_summary.summary_generate(summary.pk)
    assert done.status == MdtSummary.Status.DONE
    text = _pdf_text(bytes(done.pdf))
    for patient in (world.patient, other):
        assert patient.register_number in text
        assert patient.full_name not in text and patient.national_id not in text
        assert patient.full_name not in done.body_html and patient.national_id not in done.body_html
    assert "Lomustine." in text and "No decision recorded." in text
    assert second.patient == other
    # A redelivered task leaves the finished summary as it is.
    assert meeting_summary.summary_generate(summary.pk).finished_at == done.finished_at


def test_no_summary_before_the_meeting_and_one_by_beat_once_it_ended_with_decisions():
    board = make_board(**TOMORROW)
    world = board.world
    with pytest.raises(Exception) as refused:
        meeting_services.summary_request(meeting=board.meeting, by=world.clinician)
    assert "once the meeting has taken place" in str(refused.value)
    MdtMeeting.objects.filter(pk=board.meeting.pk).update(
        starts_at=timezone.now() - timedelta(hours=2), ends_at=timezone.now() - timedelta(hours=1)
    )
    board.meeting.refresh_from_db()
    assert meeting_services.summaries_for_ended_meetings() == []  # no decision yet
    board.item.meeting = board.meeting
    meeting_services.decision_save(
        item=board.item,
        by=world.clinician,
        recommendation="Watch and wait.",
        plan=[MdtPlan.WATCH],
        responsible=world.clinician,
    )
    made = meeting_services.summaries_for_ended_meetings()
    assert len(made) == 1
    assert meeting_services.summaries_for_ended_meetings() == []  # once


def test_coordinators_get_the_agendas_candidate_trials_the_day_before_once():
    board = make_board(**TOMORROW)
    world = board.world
    tomorrow = timezone.localdate() + timedelta(days=1)
    assert trial_services.mdt_candidates_meetings(day=tomorrow) == [board.meeting.pk]
    assert trial_services.mdt_candidates_meetings(day=timezone.localdate()) == []
    assert trial_services.mdt_candidates_send(meeting_id=board.meeting.pk) == 1
    message = mail.outbox[-1]
    assert message.to == [world.coordinator.email]
    assert world.patient.register_number in message.body
    assert "MGMT-methylated GBM study" in message.body
    assert board.match.eligibility_display in message.body
    assert world.patient.full_name not in message.body
    assert world.patient.national_id not in message.body
    assert trial_services.mdt_candidates_send(meeting_id=board.meeting.pk) == 0  # once
    assert MdtCandidatesNotice.objects.get().candidates == 1
    # The coordinator's inbox has it too, once, linked to the meeting.
    from consortium.models import InboxItem

    item = InboxItem.objects.get(recipient=world.coordinator, kind="tumour_board")
    assert item.url == board.meeting.get_absolute_url() and "1 candidate trial" in item.text


# --- API ----------------------------------------------------------------------------------


def test_the_api_schedules_adds_decides_and_refuses_bad_input(client):
    board = make_board(with_totp=True)
    world = board.world
    sign_in(client, world.clinician)
    starts = timezone.now() - timedelta(minutes=10)
    created = client.post(
        "/api/v1/registry/meetings/",
        {
            "institution": "OUS",
            "kind": "local",
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=1)).isoformat(),
            "participants": [{"member": world.clinician.email, "discipline": "oncology"}],
        },
        content_type="application/json",
    )
    assert created.status_code == 201, created.json()
    meeting_id = created.json()["id"]
    outsider = client.post(
        "/api/v1/registry/meetings/",
        {
            "institution": "OUS",
            "kind": "local",
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=1)).isoformat(),
            "participants": [{"member": world.other_clinician.email, "discipline": "pathology"}],
        },
        content_type="application/json",
    )
    assert outsider.status_code == 400
    assert "national meeting" in outsider.json()["extra"]["fields"]["participants"][0]
    items = f"/api/v1/registry/meetings/{meeting_id}/items/"
    added = client.post(
        items,
        {"episode": world.episode.pk, "question": "Options?"},
        content_type="application/json",
    )
    assert added.status_code == 201
    twice = client.post(
        items, {"episode": world.episode.pk, "question": "Again?"}, content_type="application/json"
    )
    assert twice.status_code == 400
    assert "already on this meeting's agenda" in twice.json()["extra"]["fields"]["episode"][0]
    _, hus_episode = patient_with_episode(world.other_clinician, name="Ola Vest", codes=("HUS",))
    unseen = client.post(
        items, {"episode": hus_episode.pk, "question": "?"}, content_type="application/json"
    )
    assert unseen.status_code == 400 and "episode" in unseen.json()["extra"]["fields"]
    listed = client.get(items).json()
    assert listed["count"] == 1
    decision_url = f"{items}{added.json()['id']}/decision/"
    body = {
        "recommendation": "Refer to a trial.",
        "plan": ["trial"],
        "responsible": world.clinician.email,
    }
    put = client.put(decision_url, body, content_type="application/json")
    assert put.status_code == 200, put.json()
    assert put.json()["follow_up_forms"][0]["label"] == "Refer to a trial"
    no_version = client.put(decision_url, body, content_type="application/json")
    assert no_version.status_code == 400 and "version" in no_version.json()["extra"]["fields"]
    stale = client.put(decision_url, {**body, "version": 0}, content_type="application/json")
    assert stale.status_code == 409 and stale.json()["extra"] == {}
    bad = client.put(
        decision_url, {**body, "plan": ["other"], "version": 1}, content_type="application/json"
    )
    assert bad.status_code == 400 and "plan_other" in bad.json()["extra"]["fields"]
    assert client.get(decision_url).json()["version"] == 1
    summary = client.post(f"/api/v1/registry/meetings/{meeting_id}/summary/")
    assert summary.status_code == 202 and summary.json()["status"] == "queued"


def test_the_api_refuses_a_decision_before_the_meeting(client):
    board = make_board(with_totp=True, **TOMORROW)
    sign_in(client, board.world.clinician)
    response = client.put(
        f"/api/v1/registry/meetings/{board.meeting.pk}/items/{board.item.pk}/decision/",
        {"recommendation": "x", "plan": ["watch"], "responsible": board.world.clinician.email},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "has not taken place yet" in response.json()["extra"]["fields"]["meeting"][0]
    lab = make_member(Role.LAB_SCIENTIST, institutions=("UIB-LAB",), email="l2@uib.no")
    assert lab.role == Role.LAB_SCIENTIST
