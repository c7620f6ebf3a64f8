"""Who sees what, for EVERY register URL and API endpoint: a clinician of
another hospital, a researcher and a lab scientist get 404 (or 403 on pages that list
no particular patient) for a patient they may not see, on GET and on POST/PATCH/PUT/
DELETE, and nothing changes. The routes are read from the URLconf, so a new route is
covered the day it is added."""

import datetime

import pytest

from consortium.models import AccessLog, Institution, Role
from registry.models import (
    FollowUp,
    MolecularMarker,
    Patient,
    PatientInstitution,
    PerformanceStatus,
    RadiotherapyCourse,
    Surgery,
    SystemicTherapy,
    TumourEpisode,
)
from registry.sections import SECTIONS
from tests.conftest import make_member, sign_in, url_routes

# The tumour-board routes have their own walk (test_meeting_url_visibility.py): their
# patients are seen through the meeting's rules as well as the register's.
ROUTES = [(route, name) for route, name in url_routes("registry") if "meetings/" not in route]
# By the URL segment the routes carry.
SECTION_MODELS = {section.path: section.model for section in SECTIONS.values()}
# Pages that show no particular patient: a member outside the clinical roles gets 403.
LIST_PAGES = {
    "patient_list",
    "worklist",
    "patient_create",
    "registry_patients",
    "registry_patient_search",
    "registry_worklist",
    # The quality indicators: aggregates for everyone; the own-patients list is the
    # clinician's own hospital only.
    "indicators",
    "indicator_snapshot_request",
    "indicator_missed",
    "indicator_survival",
    "indicator_reports",
    "indicator_notified",
    "registry_indicators",
    "registry_indicator_survival",
    "registry_indicator_reports",
    # The access-log review: consortium admins only (403 for everyone else).
    "access_review",
    "access_review_export",
    "registry_access_log",
    "registry_access_log_export",
    "registry_indicator_survival_compare",
    "indicator_snapshot_status",
    "registry_indicator_snapshots",
    "registry_indicator_snapshot",
    "indicator_subscriptions",
    "registry_indicator_subscriptions",
    # Reproducing a snapshot from the history: admins start one, members see the verdict.
    "indicator_snapshot_reproduce",
    "indicator_reproduction_status",
    "registry_indicator_snapshot_reproductions",
    "registry_indicator_reproduction",
}


@pytest.fixture
def hus_patient(db):
    """A HUS patient with one entry in every section."""
    hus = Institution.objects.get(code="HUS")
    patient = Patient.objects.create(
        national_id="12829499914",
        full_name="Ola Vestland",
        search_name="ola vestland",
        sex="male",
        birth_date=datetime.date(1994, 2, 12),
    )
    PatientInstitution.objects.create(patient=patient, institution=hus)
    episode = TumourEpisode.objects.create(
        patient=patient,
        institution=hus,
        diagnosis_date=datetime.date(2025, 1, 10),
        diagnosis="glioblastoma_idh_wildtype",
        who_grade=4,
    )
    MolecularMarker.objects.create(episode=episode, marker="idh", result="wildtype")
    day = datetime.date(2025, 2, 1)
    rows = {
        "surgeries": Surgery.objects.create(
            episode=episode, surgery_date=day, procedure="resection"
        ),
        "radiotherapy": RadiotherapyCourse.objects.create(
            episode=episode, start_date=day, total_dose_gy=60, fractions=30
        ),
        "systemic": SystemicTherapy.objects.create(episode=episode, regimen="pcv", start_date=day),
        "performance": PerformanceStatus.objects.create(episode=episode, assessed_on=day, ecog=1),
        "follow-ups": FollowUp.objects.create(episode=episode, assessed_on=day),
    }
    assert set(rows) == set(SECTION_MODELS)
    return patient, episode, rows


def _hus_report():
    """A finished indicator report of HUS: its members and admins see it, no one else."""
    from registry.models import IndicatorReport

    report, _ = IndicatorReport.objects.get_or_create(
        year=2025,
        institution=Institution.objects.get(code="HUS"),
        defaults={"status": "done", "pdf": b"%PDF-1.4 test", "csv": '"indicator"\r\n'},
    )
    return report


def _subscription(member=None) -> int:
    """A monthly-report subscription: the member's own (the owner walk), or a HUS
    clinician's that no one else may see or end."""
    from consortium.models import User
    from registry.models import IndicatorSubscription

    if member is None:
        member = User.objects.filter(email="subscriber@example.no").first() or make_member(
            Role.CLINICIAN, institutions=("HUS",), email="subscriber@example.no"
        )
    subscription, _ = IndicatorSubscription.objects.get_or_create(user=member, region="")
    return subscription.pk


def _fill(route: str, patient, episode, rows, member=None) -> str:
    section = next((s for s in SECTION_MODELS if f"/{s}/" in route), None)
    path = (
        route.replace("<str:register_number>", patient.register_number)
        .replace("<int:episode_id>", str(episode.pk))
        .replace("<str:form_key>", "episode-new")
        .replace("<str:code>", "gbm_survival_1y")  # an indicator with a curve
        .replace("<int:report_id>", str(_hus_report().pk))
        .replace("<str:kind>", "pdf")
    )
    if "<int:snapshot_id>" in path:
        from registry.models import IndicatorSnapshot

        snapshot = IndicatorSnapshot.objects.first() or IndicatorSnapshot.objects.create()
        path = path.replace("<int:snapshot_id>", str(snapshot.pk))
    if "<int:reproduction_id>" in path:
        from registry.models import IndicatorReproduction, IndicatorSnapshot

        snapshot = IndicatorSnapshot.objects.first() or IndicatorSnapshot.objects.create()
        reproduction = IndicatorReproduction.objects.first() or (
            IndicatorReproduction.objects.create(snapshot=snapshot)
        )
        path = path.replace("<int:reproduction_id>", str(reproduction.pk))
    if "<int:subscription_id>" in path:
        path = path.replace("<int:subscription_id>", str(_subscription(member)))
    if "<str:section>" in path:
        section = "surgeries"
        path = path.replace("<str:section>", section)
    if "<int:pk>" in path:
        path = path.replace("<int:pk>", str(rows[section].pk))
    assert "<" not in path, f"unfilled route parameter in {route}"
    return "/" + path


def _snapshot():
    return [
        list(m.objects.order_by("pk").values())
        for m in (Patient, TumourEpisode, MolecularMarker, *SECTION_MODELS.values())
    ]


@pytest.mark.parametrize(
    "role,institutions",
    [
        (Role.CLINICIAN, ("OUS",)),
        (Role.COORDINATOR, ("OUS",)),
        (Role.LAB_SCIENTIST, ("UIB-LAB",)),
        (Role.RESEARCHER, ("UIO-ICR",)),
    ],
)
def test_no_register_url_shows_or_changes_another_institutions_patient(
    client, hus_patient, role, institutions
):
    patient, episode, rows = hus_patient
    member = make_member(role, institutions=institutions, with_totp=role != Role.RESEARCHER)
    sign_in(client, member)
    before = _snapshot()
    checked = 0
    for route, name in ROUTES:
        path = _fill(route, patient, episode, rows)
        # A page about no particular patient may answer (lists: checked below for not showing
        # the patient) or refuse the role; a page about this patient is 404, as if it did not exist.
        allowed = {200, 302, 400, 403} if name in LIST_PAGES else {404}
        for method in ("get", "post", "put", "patch", "delete"):
            response = getattr(client, method)(
                path,
                data={} if method in ("get", "post") else "{}",
                **({} if method in ("get", "post") else {"content_type": "application/json"}),
            )
            assert response.status_code in allowed | {405}, (
                f"{method.upper()} {path} -> {response.status_code}"
            )
            body = response.content.decode(errors="replace")
            assert (
                patient.register_number not in body
                or response.status_code == 404
                and "Not found" in body
            ), f"{method.upper()} {path} shows the patient"
            assert "Ola Vestland" not in body and patient.national_id not in body
            checked += 1
    assert _snapshot() == before
    assert checked >= 5 * 25  # every route, five methods


# Routes owned by another role than the treating clinician: reopening a complete report is
# the coordinator's, the patient's access history the consortium admin's.
OWNERS = {
    "episode_reopen": Role.COORDINATOR,
    "registry_reopen": Role.COORDINATOR,
    "patient_access": Role.ADMIN,
    "indicator_snapshot_request": Role.ADMIN,
    "indicator_snapshot_reproduce": Role.ADMIN,
    "registry_indicator_snapshot_reproductions": Role.ADMIN,
    "indicator_notified": Role.ADMIN,
    "indicator_report_release": Role.ADMIN,
    "registry_indicator_report_release": Role.ADMIN,
    "access_review": Role.ADMIN,
    "access_review_export": Role.ADMIN,
    "registry_access_log": Role.ADMIN,
    "registry_access_log_export": Role.ADMIN,
}
POST_ROUTES = {
    "section_delete",
    "draft_autosave",
    "draft_discard",
    "registry_patient_search",
    "registry_submit",
    "registry_reopen",
    "indicator_snapshot_request",
    "indicator_report_release",
    "registry_indicator_report_release",
    "indicator_subscription_delete",
    "registry_patient_national_id",
    "indicator_snapshot_reproduce",
    "registry_indicator_snapshot_reproductions",
}
# POSTs sent without a body: past the permission check, the endpoint names what is missing
# (the API's error shape), which a refused member would never be told.
EMPTY_POST_ANSWERS = {
    "registry_patient_search": "query",
    "registry_submit": "confirm",  # submitting needs the confirmation (GET previews)
    "registry_reopen": "reason",
    "registry_patient_national_id": "national_id",  # the H-number replacement's input
    # The page's release (walked first) released the report; the API's names why not again.
    "registry_indicator_report_release": "report",
    # The walk's snapshot is not finished: there is nothing to reproduce yet.
    "registry_indicator_snapshot_reproductions": "snapshot",
}


@pytest.mark.parametrize("owner", [Role.CLINICIAN, Role.COORDINATOR, Role.ADMIN])
def test_every_register_route_is_reachable_for_the_patients_own_clinician(
    client, hus_patient, owner
):
    """The same routes answer their owner at the patient's hospital (the treating clinician,
    or the role OWNERS names) with 200 or 302, so the test above proves the institution
    rule, not broken URLs or a refused owner."""
    patient, episode, rows = hus_patient
    member = make_member(owner, institutions=("HUS",), with_totp=True)
    sign_in(client, member)
    walked = 0
    for route, name in ROUTES:
        if OWNERS.get(name, Role.CLINICIAN) != owner:
            continue
        walked += 1
        path = _fill(route, patient, episode, rows, member)
        method = "post" if name in POST_ROUTES else "get"
        logged = AccessLog.objects.filter(user=member, patient_id=patient.pk).count()
        response = getattr(client, method)(path)
        if name in EMPTY_POST_ANSWERS:
            assert response.status_code == 400, f"POST {path} -> {response.status_code}"
            assert EMPTY_POST_ANSWERS[name] in response.json()["extra"]["fields"], path
        else:
            assert response.status_code in (200, 302), (
                f"{method.upper()} {path} -> {response.status_code}"
            )
        if (
            method == "get"
            and response.status_code == 200
            and patient.register_number in response.content.decode(errors="replace")
        ):
            # Every page or endpoint that shows the patient wrote the access log.
            assert AccessLog.objects.filter(user=member, patient_id=patient.pk).count() > logged, (
                path
            )
    assert walked == len([n for _, n in ROUTES if OWNERS.get(n, Role.CLINICIAN) == owner]) > 0
