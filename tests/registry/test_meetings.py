"""Tumour-board (MDT) meetings: scheduling with members by discipline, the agenda, the
board's decision writing the MDT date on the episode, invited clinicians' time-limited
access, the refusals of bad input, and the meeting page's constant number of queries."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from consortium.models import AccessLog, Role
from consortium.services import EditConflict
from registry import meeting_selectors, meeting_services
from registry.models import MdtDecision, MdtDiscipline, MdtMeeting, MdtPlan, TumourEpisode
from tests.conftest import make_member, sign_in
from tests.registry.factories import fast_password_hashing  # noqa: F401 (autouse fixture)
from tests.registry.meeting_factories import (
    ONGOING,
    TOMORROW,
    clinician,
    meeting,
    patient_with_episode,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def ous():
    return clinician("OUS", "onk@ous.no", totp=True)


def decide(item, by, **overrides):
    values = dict(
        item=item,
        by=by,
        recommendation="Re-resection, then lomustine.",
        plan=[MdtPlan.SURGERY, MdtPlan.SYSTEMIC],
        responsible=by,
    )
    values.update(overrides)
    return meeting_services.decision_save(**values)


def test_a_clinician_schedules_a_meeting_with_its_members_by_discipline(ous):
    surgeon = clinician("OUS", "kir@ous.no")
    board = meeting(
        ous,
        participants=[(surgeon, MdtDiscipline.NEUROSURGERY), (ous, MdtDiscipline.ONCOLOGY)],
        **TOMORROW,
    )
    members = {(p.member.email, p.discipline, p.invited) for p in board.participants.all()}
    assert members == {("kir@ous.no", "neurosurgery", False), ("onk@ous.no", "oncology", False)}
    assert board.day == timezone.localdate(timezone.now() + timedelta(days=1))


def test_a_meeting_of_another_hospital_cannot_be_scheduled(ous):
    with pytest.raises(PermissionDenied):
        meeting(ous, code="HUS", **TOMORROW)


def test_a_local_meeting_refuses_a_member_of_another_hospital_a_national_one_invites_them(ous):
    bergen = clinician("HUS", "onk@hus.no")
    with pytest.raises(ValidationError) as refused:
        meeting(ous, participants=[(bergen, MdtDiscipline.PATHOLOGY)], **TOMORROW)
    assert "participants" in refused.value.message_dict
    assert "national meeting" in refused.value.message_dict["participants"][0]
    board = meeting(
        ous,
        kind=MdtMeeting.Kind.NATIONAL,
        participants=[(bergen, MdtDiscipline.PATHOLOGY)],
        **TOMORROW,
    )
    assert board.participants.get().invited is True


def test_a_regional_meeting_takes_members_of_its_health_region_only(ous):
    # Stavanger (SUS) and Bergen (HUS) are both Helse Vest; Oslo (OUS) is Helse Sør-Øst.
    bergen = clinician("HUS", "onk@hus.no")
    stavanger = clinician("SUS", "onk@sus.no")
    board = meeting(
        bergen,
        code="HUS",
        kind=MdtMeeting.Kind.REGIONAL,
        participants=[(stavanger, MdtDiscipline.NEUROLOGY)],
        **TOMORROW,
    )
    assert board.participants.get().invited is True
    with pytest.raises(ValidationError) as refused:
        meeting(
            bergen,
            code="HUS",
            kind=MdtMeeting.Kind.REGIONAL,
            participants=[(ous, MdtDiscipline.ONCOLOGY)],
            **TOMORROW,
        )
    assert "health region" in refused.value.message_dict["participants"][0]


def test_a_meeting_ending_before_it_starts_is_refused(ous):
    with pytest.raises(ValidationError) as refused:
        meeting(ous, starts_in=timedelta(days=1), lasts=timedelta(hours=-1))
    assert refused.value.message_dict == {"ends_at": ["The meeting must end after it starts."]}


def test_a_patient_is_added_once_and_only_one_the_clinician_may_see(ous):
    board = meeting(ous, **TOMORROW)
    patient, episode = patient_with_episode(ous)
    item = meeting_services.agenda_item_add(
        meeting=board, by=ous, episode_id=episode.pk, question="Re-resection?"
    )
    assert (item.patient, item.position) == (patient, 1)
    second_episode = TumourEpisode.objects.create(
        patient=patient, institution=episode.institution, diagnosis="meningioma", who_grade=1
    )
    with pytest.raises(ValidationError) as twice:
        meeting_services.agenda_item_add(
            meeting=board, by=ous, episode_id=second_episode.pk, question="And this one?"
        )
    assert twice.value.message_dict == {
        "episode": [f"{patient.register_number} is already on this meeting's agenda."]
    }
    bergen = clinician("HUS", "onk@hus.no")
    _, bergen_episode = patient_with_episode(bergen, name="Ola Vestland", codes=("HUS",))
    with pytest.raises(ValidationError) as unseen:
        meeting_services.agenda_item_add(
            meeting=board, by=ous, episode_id=bergen_episode.pk, question="?"
        )
    assert unseen.value.message_dict == {
        "episode": ["No such tumour episode among the patients you may see in the register."]
    }
    assert board.items.count() == 1


def test_no_decision_before_the_meeting_has_taken_place(ous):
    board = meeting(ous, **TOMORROW)
    _, episode = patient_with_episode(ous)
    item = meeting_services.agenda_item_add(
        meeting=board, by=ous, episode_id=episode.pk, question="Adjuvant treatment?"
    )
    with pytest.raises(ValidationError) as refused:
        decide(item, ous)
    assert "has not taken place yet" in refused.value.message_dict["meeting"][0]
    assert not MdtDecision.objects.exists()
    episode.refresh_from_db()
    assert episode.mdt_dates == []


def test_the_decision_records_the_mdt_date_on_the_episode_and_tells_the_treating_clinicians(ous):
    colleague = clinician("OUS", "colleague@ous.no")
    board = meeting(ous, **ONGOING)
    patient, episode = patient_with_episode(ous)
    version = TumourEpisode.objects.get(pk=episode.pk).version
    item = meeting_services.agenda_item_add(
        meeting=board, by=ous, episode_id=episode.pk, question="Recurrence: options?"
    )
    decision = decide(item, ous, plan=[MdtPlan.TRIAL], recommendation="Refer to a trial.")
    episode.refresh_from_db()
    assert episode.mdt_dates == [timezone.localdate(board.starts_at)]
    assert episode.version == version + 1  # a stale edit of the diagnosis is refused after it
    # Twice: the date once.
    decide(item, ous, plan=[MdtPlan.TRIAL], expected_version=decision.version)
    episode.refresh_from_db()
    assert episode.mdt_dates == [timezone.localdate(board.starts_at)]
    sent = meeting_services.decision_notify(decision_id=decision.pk, version=2)
    assert sent == 1 and mail.outbox[-1].to == ["colleague@ous.no"]
    body = mail.outbox[-1].body
    assert patient.register_number in body and "Referral to a trial" in body
    assert patient.full_name not in body and patient.national_id not in body
    # An older version's task (redelivered) sends nothing.
    assert meeting_services.decision_notify(decision_id=decision.pk, version=1) == 0
    # The colleague's inbox holds it once, linked to the agenda item (not the decider's).
    from consortium.models import InboxItem

    meeting_services.decision_notify(decision_id=decision.pk, version=2)  # redelivered
    item = InboxItem.objects.get(kind="tumour_board")
    assert (item.recipient, item.url, item.patient_id) == (
        colleague,
        decision.item.get_absolute_url(),
        patient.pk,
    )
    assert patient.register_number in item.text and patient.full_name not in item.text


def test_a_decision_changed_after_the_meeting_needs_a_reason_and_keeps_its_history(ous):
    board = meeting(ous, **ONGOING)
    _, episode = patient_with_episode(ous)
    item = meeting_services.agenda_item_add(
        meeting=board, by=ous, episode_id=episode.pk, question="Radiotherapy?"
    )
    first = decide(item, ous, plan=[MdtPlan.RADIOTHERAPY], recommendation="60 Gy / 30 fractions.")
    MdtMeeting.objects.filter(pk=board.pk).update(
        starts_at=timezone.now() - timedelta(hours=3), ends_at=timezone.now() - timedelta(hours=2)
    )
    item = meeting_selectors.item_get(
        user=ous,
        meeting=meeting_selectors.meeting_get(user=ous, meeting_id=board.pk),
        item_id=item.pk,
    )
    with pytest.raises(ValidationError) as refused:
        decide(
            item,
            ous,
            plan=[MdtPlan.RADIOTHERAPY],
            recommendation="40 Gy / 15 fractions.",
            expected_version=first.version,
        )
    assert refused.value.message_dict == {
        "reason": ["The meeting is over: say why its decision is changed."]
    }
    with pytest.raises(EditConflict):
        decide(
            item,
            ous,
            plan=[MdtPlan.RADIOTHERAPY],
            expected_version=first.version - 1,
            reason="Age 72",
        )
    changed = decide(
        item,
        ous,
        plan=[MdtPlan.RADIOTHERAPY],
        recommendation="40 Gy / 15 fractions.",
        expected_version=first.version,
        reason="The patient is 72: hypofractionated course.",
    )
    assert changed.version == 2 and changed.change_reason.startswith("The patient is 72")
    history = meeting_selectors.decision_history(changed)
    assert [h["recommendation"] for h in history] == [
        "40 Gy / 15 fractions.",
        "60 Gy / 30 fractions.",
    ]
    assert history[0]["reason"] == "The patient is 72: hypofractionated course."
    assert history[0]["who"] == ous


def test_a_plan_other_needs_words_and_unknown_plans_are_refused(ous):
    board = meeting(ous, **ONGOING)
    _, episode = patient_with_episode(ous)
    item = meeting_services.agenda_item_add(
        meeting=board, by=ous, episode_id=episode.pk, question="?"
    )
    with pytest.raises(ValidationError) as refused:
        decide(item, ous, plan=[MdtPlan.OTHER])
    assert refused.value.message_dict == {"plan_other": ["Say what the other plan is."]}
    with pytest.raises(ValidationError) as refused:
        decide(item, ous, plan=["chemo"], recommendation=" ")
    assert set(refused.value.message_dict) == {"plan", "recommendation"}


def _item_url(board, item):
    return f"/registry/meetings/{board.pk}/items/{item.pk}/"


def test_invited_clinicians_see_the_meetings_patients_during_its_window_only(client, ous):
    bergen = clinician("HUS", "onk@hus.no", totp=True)
    board = meeting(
        ous,
        kind=MdtMeeting.Kind.NATIONAL,
        participants=[(bergen, MdtDiscipline.PATHOLOGY)],
        **ONGOING,
    )
    patient, episode = patient_with_episode(ous)
    item = meeting_services.agenda_item_add(
        meeting=board, by=ous, episode_id=episode.pk, question="Rare tumour: histology?"
    )
    sign_in(client, bergen)
    response = client.get(_item_url(board, item))
    assert response.status_code == 200
    body = response.content.decode()
    assert patient.register_number in body
    assert patient.full_name not in body and patient.national_id not in body  # not treating
    assert AccessLog.objects.filter(
        user=bergen, patient_id=patient.pk, page="registry:meeting_item"
    ).exists()
    # The meeting ends; the window closes half an hour later.
    MdtMeeting.objects.filter(pk=board.pk).update(
        starts_at=timezone.now() - timedelta(hours=3),
        ends_at=timezone.now() - timedelta(minutes=31),
    )
    assert client.get(_item_url(board, item)).status_code == 404
    page = client.get(f"/registry/meetings/{board.pk}/")
    assert page.status_code == 200  # the meeting itself stays visible to its member
    assert patient.register_number not in page.content.decode()
    assert "during the meeting's window only" in page.content.decode()
    api = client.get(f"/api/v1/registry/meetings/{board.pk}/items/")
    assert api.status_code == 200 and api.json()["results"] == []
    assert client.get(f"/api/v1/registry/meetings/{board.pk}/items/{item.pk}/").status_code == 404
    # Still a patient of Oslo: its own clinicians see it after the meeting.
    client.logout()
    sign_in(client, ous)
    assert client.get(_item_url(board, item)).status_code == 200


def test_a_clinician_of_another_hospital_not_invited_sees_no_meeting(client, ous):
    board = meeting(ous, kind=MdtMeeting.Kind.NATIONAL, **ONGOING)
    _, episode = patient_with_episode(ous)
    item = meeting_services.agenda_item_add(
        meeting=board, by=ous, episode_id=episode.pk, question="?"
    )
    outsider = clinician("HUS", "other@hus.no", totp=True)
    sign_in(client, outsider)
    assert client.get(f"/registry/meetings/{board.pk}/").status_code == 404
    assert client.get(_item_url(board, item)).status_code == 404
    assert client.get("/api/v1/registry/meetings/").json()["count"] == 0


def _meeting_page_queries(client, board) -> int:
    client.get(f"/registry/meetings/{board.pk}/")  # the session's first-request writes
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/registry/meetings/{board.pk}/")
    assert response.status_code == 200
    return len(queries)


def test_the_meeting_page_takes_the_same_queries_for_2_or_20_patients(client, ous):
    board = meeting(ous, **ONGOING)
    sign_in(client, ous)
    for n in range(20):
        _, episode = patient_with_episode(ous, name=f"Pasient {n}")
        item = meeting_services.agenda_item_add(
            meeting=board, by=ous, episode_id=episode.pk, question=f"Question {n}"
        )
        if n % 2:
            decide(item, ous)
        if n == 1:
            two = _meeting_page_queries(client, board)
    twenty = _meeting_page_queries(client, board)
    assert twenty == two
    assert twenty <= 20
    page = client.get(f"/registry/meetings/{board.pk}/").content.decode()
    assert page.count('<tr id="item-') == 20
    assert (
        AccessLog.objects.filter(user=ous, page="registry:meeting")
        .values("patient_id")
        .distinct()
        .count()
        == 20
    )


def test_a_coordinator_sees_the_meeting_by_register_number_but_does_not_decide(client, ous):
    board = meeting(ous, **ONGOING)
    patient, episode = patient_with_episode(ous)
    item = meeting_services.agenda_item_add(
        meeting=board, by=ous, episode_id=episode.pk, question="Trial?"
    )
    coordinator = make_member(
        Role.COORDINATOR, institutions=("OUS",), email="coord@ous.no", with_totp=True
    )
    sign_in(client, coordinator)
    page = client.get(_item_url(board, item)).content.decode()
    assert patient.register_number in page and patient.full_name not in page
    assert 'class="stacked decision-form"' not in page
    response = client.post(_item_url(board, item), {"recommendation": "x", "plan": ["trial"]})
    assert response.status_code == 403
    with pytest.raises(PermissionDenied):
        decide(item, coordinator, responsible=ous)
