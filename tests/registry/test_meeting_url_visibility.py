"""Who sees what, for EVERY tumour-board URL and API endpoint (the register's meeting
routes and the trials app's referrals): a Bergen meeting with a Bergen patient is 404 on
every route about it, on every method, for clinicians and coordinators of another
hospital, a researcher and a lab scientist; list pages answer (or refuse the role)
without showing the patient; nothing changes. Its own clinician reaches every route, and
every page that shows the patient writes the access log. The routes are read from the
URLconf, so a new route is covered the day it is added."""

from datetime import timedelta

import pytest
from django.utils import timezone

from consortium.models import AccessLog, Role
from registry import meeting_services, meeting_summary
from registry.models import MdtAgendaItem, MdtDecision, MdtDiscipline, MdtMeeting, MdtPlan
from tests.conftest import make_member, sign_in, url_routes
from tests.registry.factories import fast_password_hashing  # noqa: F401 (autouse fixture)
from tests.registry.meeting_factories import ONGOING, clinician, meeting, patient_with_episode
from tests.trials.factories import trial
from trials.models import TrialReferral

pytestmark = pytest.mark.django_db

ROUTES = [r for r in url_routes("registry") if "meetings/" in r[0]] + [
    r for r in url_routes("trials") if "referrals/" in r[0]
]
# Pages about no particular meeting: they answer or refuse the role, never show the patient.
LIST_PAGES = {
    "meeting_list",
    "meeting_create",
    "registry_meetings",
    "referral_list",
    "trials_referrals",
}
POSTS = {
    "meeting_item_add",
    "meeting_item_remove",
    "meeting_summary_request",
    "referral_take_up",
    "trials_referral_take_up",
}


@pytest.fixture
def bergen_meeting(db):
    """A national meeting at HUS (ongoing) with a HUS patient decided on and referred to
    a trial, and its summary made."""
    organiser = clinician("HUS", "onk@hus.no", totp=True)
    board = meeting(
        organiser,
        code="HUS",
        kind=MdtMeeting.Kind.NATIONAL,
        participants=[(organiser, MdtDiscipline.ONCOLOGY)],
        **ONGOING,
    )
    patient, episode = patient_with_episode(organiser, name="Ola Vestland", codes=("HUS",))
    item = meeting_services.agenda_item_add(
        meeting=board, by=organiser, episode_id=episode.pk, question="Trial?"
    )
    decision = meeting_services.decision_save(
        item=item,
        by=organiser,
        recommendation="Refer to a trial.",
        plan=[MdtPlan.TRIAL],
        responsible=organiser,
    )
    referral = TrialReferral.objects.create(
        decision=decision,
        episode=episode,
        patient=patient,
        trial=trial(),
        by=organiser,
    )
    summary = meeting_services.summary_request(meeting=board, by=organiser)
    meeting_summary.summary_generate(summary.pk)
    return organiser, board, item, referral


def _fill(route: str, board, item, referral) -> str:
    path = "/" + (
        route.replace("<int:meeting_id>", str(board.pk))
        .replace("<int:item_id>", str(item.pk))
        .replace("<int:pk>", str(referral.pk))
    )
    if path.endswith("referrals/new/"):
        path += f"?decision={referral.decision_id}"
    assert "<" not in path, route
    return path


def _snapshot():
    return [
        list(m.objects.order_by("pk").values())
        for m in (MdtMeeting, MdtAgendaItem, MdtDecision, TrialReferral)
    ]


def test_the_walk_covers_every_meeting_route():
    names = {name for _, name in ROUTES}
    assert {
        "meeting",
        "meeting_item",
        "registry_meeting_decision",
        "registry_meeting_summary",
        "referral_create",
        "trials_referrals",
    } <= names
    assert len(ROUTES) >= 21


@pytest.mark.parametrize(
    "role,institutions",
    [
        (Role.CLINICIAN, ("OUS",)),
        (Role.COORDINATOR, ("OUS",)),
        (Role.LAB_SCIENTIST, ("UIB-LAB",)),
        (Role.RESEARCHER, ("UIO-ICR",)),
    ],
)
def test_no_meeting_url_shows_or_changes_another_hospitals_meeting(
    client, bergen_meeting, role, institutions
):
    organiser, board, item, referral = bergen_meeting
    patient = item.patient
    member = make_member(role, institutions=institutions, with_totp=role != Role.RESEARCHER)
    sign_in(client, member)
    before = _snapshot()
    checked = 0
    for route, name in ROUTES:
        path = _fill(route, board, item, referral)
        allowed = {200, 302, 400, 403} if name in LIST_PAGES else {404}
        for method in ("get", "post", "put", "patch", "delete"):
            kwargs = {} if method in ("get", "post") else {"content_type": "application/json"}
            response = getattr(client, method)(
                path, data={} if method in ("get", "post") else "{}", **kwargs
            )
            assert response.status_code in allowed | {405}, (
                f"{method.upper()} {path} -> {response.status_code}"
            )
            body = response.content.decode(errors="replace")
            assert patient.register_number not in body, f"{method.upper()} {path}"
            assert "Ola Vestland" not in body and patient.national_id not in body
            checked += 1
    assert _snapshot() == before
    assert not AccessLog.objects.filter(user=member).exists()
    assert checked == 5 * len(ROUTES)


def test_every_meeting_route_answers_its_organiser_and_logs_the_patient(client, bergen_meeting):
    organiser, board, item, referral = bergen_meeting
    sign_in(client, organiser)
    for route, name in ROUTES:
        if name in ("referral_take_up", "trials_referral_take_up"):
            continue  # the coordinator's (below)
        path = _fill(route, board, item, referral)
        method = "post" if name in POSTS else "get"
        logged = AccessLog.objects.filter(user=organiser, patient_id=item.patient_id).count()
        response = getattr(client, method)(path)
        if name == "meeting_item_remove":  # decided on: it stays, said on the page
            assert response.status_code == 302
            assert MdtAgendaItem.objects.filter(pk=item.pk).exists()
            continue
        assert response.status_code in (200, 302), f"{method.upper()} {path}"
        body = response.content.decode(errors="replace")
        if (
            method == "get"
            and response.status_code == 200
            and item.patient.register_number in (body)
        ):
            assert (
                AccessLog.objects.filter(user=organiser, patient_id=item.patient_id).count()
                > logged
            ), path
    coordinator = make_member(
        Role.COORDINATOR, institutions=("HUS",), email="coord@hus.no", with_totp=True
    )
    client.logout()
    sign_in(client, coordinator)
    response = client.get("/trials/referrals/")
    assert item.patient.register_number in response.content.decode()
    assert AccessLog.objects.filter(user=coordinator, page="trials:referral_list").exists()
    listed = client.get("/api/v1/trials/referrals/?status=open").json()
    assert [r["register_number"] for r in listed["results"]] == [item.patient.register_number]
    assert client.post(f"/trials/referrals/{referral.pk}/take-up/").status_code == 302
    referral.refresh_from_db()
    assert referral.status == "taken_up" and referral.taken_up_by == coordinator
    again = client.post(f"/api/v1/trials/referrals/{referral.pk}/take-up/")
    assert again.status_code == 400 and "status" in again.json()["extra"]["fields"]


def test_an_invited_member_loses_every_patient_route_when_the_window_closes(client, bergen_meeting):
    organiser, board, item, referral = bergen_meeting
    oslo = clinician("OUS", "invited@ous.no", totp=True)
    meeting_services.meeting_update(
        meeting=board,
        by=organiser,
        expected_version=board.version,
        participants=[(organiser, MdtDiscipline.ONCOLOGY), (oslo, MdtDiscipline.PATHOLOGY)],
    )
    sign_in(client, oslo)
    item_path = f"/registry/meetings/{board.pk}/items/{item.pk}/"
    assert client.get(item_path).status_code == 200
    MdtMeeting.objects.filter(pk=board.pk).update(
        starts_at=timezone.now() - timedelta(hours=4),
        ends_at=timezone.now() - timedelta(hours=3),
    )
    before = _snapshot()
    for route, name in ROUTES:
        if name in LIST_PAGES or name in ("meeting", "registry_meeting", "meeting_edit"):
            continue
        path = _fill(route, board, item, referral)
        response = client.get(path) if name not in POSTS else client.post(path)
        # A POST from the meeting page is refused with a message on it (302), the rest 404.
        refused = (302, 403, 404) if name in POSTS else (403, 404, 405)
        if name == "registry_meeting_items":  # the API's agenda answers, empty
            refused = (200,)
            assert response.json()["results"] == []
        if name == "registry_meeting_summary":  # its state only; the PDF route is 404
            refused = (200,)
            assert set(response.json()) == {
                "id",
                "status",
                "requested_at",
                "finished_at",
                "error",
                "pdf_url",
            }
        assert response.status_code in refused, f"{path} -> {response.status_code}"
        assert item.patient.register_number not in response.content.decode(errors="replace")
    assert _snapshot() == before
