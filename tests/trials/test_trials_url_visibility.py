"""Who sees what, for EVERY trials URL and API endpoint: a match of a HUS patient is
404 on every match route, on every method, for a clinician and a coordinator of
another hospital, a researcher and a lab scientist; catalogue and list pages answer
(or refuse the role) without showing the patient; nothing changes. The routes are
read from the URLconf, so a new route is covered the day it is added."""

import pytest

from consortium.models import AccessLog, Role
from tests.conftest import make_member, sign_in, url_routes
from tests.trials.factories import RECURRENT_GBM, episode, patient, trial
from trials import engine, services
from trials.models import Match, ReviewEvent, Step, Suggestion, Trial, TrialArm

# Tumour-board referrals are walked with the meetings
# (tests/registry/test_meeting_url_visibility.py).
ROUTES = [(route, name) for route, name in url_routes("trials") if "referrals/" not in route]
MATCH_ROUTES = {
    "match_detail",
    "match_reply",
    "trials_match",
    "trials_match_steps",
    "trials_match_checks",
    "trials_match_reply",
}


@pytest.fixture
def hus_match(db):
    t = trial(RECURRENT_GBM)
    TrialArm.objects.create(trial=t, label="Arm A")
    # An eligibility text, so the suggestion routes have a suggestion to walk.
    Trial.objects.filter(pk=t.pk).update(
        eligibility_text="Inclusion Criteria:\n* Glioblastoma at first recurrence\n* KPS >= 70"
    )
    t.refresh_from_db()
    services.suggestions_refresh(trial=t)
    p = patient(institutions=("HUS",), name="Ola Vestland")
    episode(p, institution="HUS", markers={"mgmt": "altered"}, ecog=1, follow_ups=[True])
    engine.match_trial(t.pk)
    match = Match.objects.get()
    Match.objects.filter(pk=match.pk).update(step=Step.CONTACTED)
    return t, p, Match.objects.get()


def _fill(route: str, t, match) -> str:
    path = "/" + route
    path = path.replace("matches/<int:pk>/", f"matches/{match.pk}/").replace("<int:pk>", str(t.pk))
    path = path.replace("<int:n>", str(Suggestion.objects.filter(trial=t).first().pk))
    assert "<" not in path, route
    return path


def _snapshot():
    return [
        list(m.objects.order_by("pk").values())
        for m in (Trial, TrialArm, Match, ReviewEvent, Suggestion)
    ]


def test_routes_are_all_covered():
    names = {name for _, name in ROUTES}
    assert (
        MATCH_ROUTES <= names
        and {"trial_list", "trials_list", "criteria_edit", "match_queue"} <= names
        and {"trials_suggestions", "trials_suggestion_accept", "suggestion_edit"} <= names
    )
    assert len(ROUTES) >= 17


@pytest.mark.parametrize(
    "role,institutions",
    [
        (Role.CLINICIAN, ("OUS",)),
        (Role.COORDINATOR, ("OUS",)),
        (Role.LAB_SCIENTIST, ("UIB-LAB",)),
        (Role.RESEARCHER, ("UIO-ICR",)),
    ],
)
def test_no_trials_url_shows_or_changes_another_institutions_match(
    client, hus_match, role, institutions
):
    t, p, match = hus_match
    member = make_member(role, institutions=institutions, with_totp=role != Role.RESEARCHER)
    sign_in(client, member)
    before = _snapshot()
    checked = 0
    for route, name in ROUTES:
        path = _fill(route, t, match)
        allowed = {404} if name in MATCH_ROUTES else {200, 302, 400, 403}
        for method in ("get", "post", "put", "patch", "delete"):
            kwargs = {} if method in ("get", "post") else {"content_type": "application/json"}
            response = getattr(client, method)(
                path, data={} if method in ("get", "post") else "{}", **kwargs
            )
            assert response.status_code in allowed | {405}, (
                f"{method.upper()} {path} -> {response.status_code}"
            )
            body = response.content.decode(errors="replace")
            assert p.register_number not in body, f"{method.upper()} {path} shows the patient"
            assert "Ola Vestland" not in body and p.national_id not in body
            checked += 1
    assert _snapshot() == before
    assert checked == 5 * len(ROUTES)


# The clinician's routes (answering a coordinator's contact request) and the routes every
# member reads (the catalogue); every other route is the coordinator's.
CLINICIAN_ROUTES = {"match_reply", "trials_match_reply"}
POST_ROUTES = {
    "match_reply",
    "trials_match_reply",
    "trials_match_steps",
    "trials_match_checks",
    "trial_status",
    "trial_referral",
    "trials_matches_steps",
    "suggestion_accept",
    "suggestion_reject",
    "trials_suggestion_accept",
    "trials_suggestion_reject",
}


SHARED_ROUTES = {"trial_list", "trial_detail", "trials_list", "trials_detail", "trials_criteria"}
# A POST without a body, past the permission check, names the first field it lacks.
EMPTY_POST_FIELD = {
    "trials_matches_steps": "step",
    "trials_match_steps": "step",
    "trials_match_checks": "text",
    "trials_match_reply": "answer",
    "trials_suggestion_accept": "version",
    "trials_suggestion_reject": "version",
}


def _owners(name: str) -> set:
    if name in CLINICIAN_ROUTES:
        return {Role.CLINICIAN}
    return {Role.COORDINATOR, Role.CLINICIAN} if name in SHARED_ROUTES else {Role.COORDINATOR}


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.CLINICIAN])
def test_every_route_is_reachable_for_the_patients_own_hospital(client, hus_match, role):
    """Each route answers its owner at the patient's hospital (the HUS coordinator, or the
    HUS clinician for the reply and the catalogue) with 200 or 302, or for a POST without
    a body with 400 naming the missing field (past the permission check); the other role
    is refused outright: 404 on a match, 403 elsewhere. So the test above proves the
    institution rule, not broken URLs or a refused owner."""
    t, p, match = hus_match
    member = make_member(role, institutions=("HUS",), with_totp=True)
    sign_in(client, member)
    for route, name in ROUTES:
        path = _fill(route, t, match)
        method = "post" if name in POST_ROUTES else "get"
        logged = AccessLog.objects.filter(user=member, patient_id=p.pk).count()
        response = getattr(client, method)(path)
        if role not in _owners(name):
            expected = 404 if name in MATCH_ROUTES else 403
            assert response.status_code == expected, f"{role} {method} {path}"
        elif name in EMPTY_POST_FIELD:
            assert response.status_code == 400, f"{role} {method} {path}"
            assert EMPTY_POST_FIELD[name] in response.json()["extra"]["fields"], path
        else:
            assert response.status_code in (200, 302), f"{role} {method} {path}"
        if response.status_code == 200 and p.register_number in response.content.decode(
            errors="replace"
        ):
            # Every page or endpoint that shows the patient wrote the access log.
            assert AccessLog.objects.filter(user=member, patient_id=p.pk).count() > logged, path
