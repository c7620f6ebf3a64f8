"""Every page each role reaches passes axe-core (the copy vendored in static/vendor/axe-core)
in headless Chromium with no serious or critical violation, over demo data (the demo
commands `make run` loads, a tumour board and research projects), so the pages are full.

The walk starts from every page route of the URLconf and follows the links it finds, so a
page added tomorrow is walked the day it is linked; the last test fails when a page route
was reached by no role and is not named as an action or a download. Develop against one
role: `-k "walk and lab"`."""

import io
import warnings
from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from consortium.management.commands.load_demo import DEMO_MEMBERS, DEMO_TOTP_SECRET
from consortium.models import Institution, User
from registry import (
    indicator_reports,
    meeting_services,
    meeting_summary,
    research_dictionary,
    research_extracts,
)
from registry import services as registry_services
from registry.models import (
    MdtDecision,
    MdtDiscipline,
    MdtMeeting,
    MdtPlan,
    MdtSummary,
    TumourEpisode,
)
from registry.research_services import extract_request, project_apply, project_decide
from screening.models import Report, Sample
from tests.accessibility import NEVER_OPENED, describe, page_routes, walk_pages
from tests.conftest import PASSWORD, browser_sign_in, watch_console
from tests.registry.factories import h_number_for

ROLES = ["anonymous", "clinician", "coordinator", "lab", "researcher", "admin"]
# Page routes no walk opens as a page, and why (the last test holds the rest to account).
NOT_WALKED = {
    **dict.fromkeys(NEVER_OPENED, "a step of sign-in, sign-out or a mailed link"),
    "account_set_password": "members set a password from their invitation link",
    "mfa_activate_totp": "the demo members have TOTP already: redirects",
    "mfa_view_recovery_codes": "no recovery codes generated for the demo members",
    "mfa_generate_recovery_codes": "redirects to reauthenticate first",
    "api_token_create": "POST only (creates a token)",
    "api_token_revoke": "POST only",
    "mfa_deactivate_totp": "asks for the password again first (reauthentication)",
    "member_deactivate": "POST only",
    "member_reactivate": "POST only",
    "inbox_open": "opens an item: marks it read and redirects to the item's page",
    "inbox_read": "POST only",
    "inbox_read_all": "POST only",
    "screening:notifications": "the old address of screening's notices: redirects to the inbox",
    "directory:suggestion_resolve": "POST only",
    "registry:access_review_export": "CSV download",
    "registry:indicator_report_release": "POST only",
    "registry:indicator_report_download": "file download",
    "registry:indicator_subscription_delete": "POST only",
    "registry:indicator_snapshot_request": "POST only",
    "registry:indicator_snapshot_reproduce": "POST only",
    "registry:indicator_reproduction_status": "progress of a reproduction a POST starts",
    "registry:meeting_item_add": "POST only (the meeting page's form)",
    "registry:meeting_item_remove": "POST only",
    "registry:meeting_summary_request": "POST only",
    "registry:meeting_summary_pdf": "PDF download",
    "registry:draft_autosave": "htmx autosave of a form (POST)",
    "registry:draft_discard": "POST only",
    "registry:section_delete": "POST only",
    "research:dictionary_csv": "CSV download",
    "research:project_decide": "POST only",
    "research:extract_start": "POST only",
    "research:extract_download": "file download",
    "trials:trial_status": "POST only",
    "trials:trial_referral": "POST only",
    "trials:funnel_csv": "CSV download",
    "trials:suggestion_accept": "POST only",
    "trials:suggestion_reject": "POST only",
    "trials:referral_take_up": "POST only",
    "trials:match_reply": "POST only",
    "screening:plate_override": "a POST action (GET redirects to the results)",
    "screening:report_pdf": "PDF download",
}

# Pages the last full run of the six walks did not reach over the demo data. The last test
# fails when a page is in neither list, and warns when one of these is reached (then it
# leaves this list).
NOT_YET_REACHED: dict[str, str] = {}

_reached: dict[str, set[str]] = {}


@pytest.fixture
def demo(settings, directory):
    """The demo: its members (one per role), 150 register patients and one with a temporary
    H-number, the demo trials matched against them, the lab's screening requests in every
    state, a tumour board with patients on its agenda and two research projects (one
    approved)."""
    settings.ALLOW_SYNTHETIC_NATIONAL_IDS = True
    quiet = io.StringIO()
    with override_settings(DEBUG=True):  # the demo commands refuse to run in production
        call_command("load_demo", stdout=quiet)
        call_command("create_demo_data", patients=150, seed=1, stdout=quiet)
        call_command("load_demo_trials", stdout=quiet)
        call_command("create_demo_screening", stdout=quiet)
    members = {}
    for email, *_ in DEMO_MEMBERS:
        user = User.objects.get(email=email)
        user.set_password(PASSWORD)
        user.save()
        user.totp_secret = DEMO_TOTP_SECRET
        members[email.split("@")[0]] = user
    clinician, admin, researcher = members["clinician"], members["admin"], members["researcher"]
    registry_services.patient_register(
        by=clinician,
        national_id_value=h_number_for(date(1962, 3, 14)),
        institutions=[Institution.objects.get(code="OUS")],
        allow_synthetic=False,
        full_name="Ukjent Mann",
        birth_date=date(1962, 3, 14),
    )
    starts = timezone.now() - timedelta(minutes=30)
    meeting = meeting_services.meeting_schedule(
        by=clinician,
        institution=Institution.objects.get(code="OUS"),
        kind=MdtMeeting.Kind.LOCAL,
        starts_at=starts,
        ends_at=starts + timedelta(hours=2),
        title="Neuro-oncology MDT",
        participants=[(clinician, MdtDiscipline.ONCOLOGY)],
    )
    for episode in TumourEpisode.objects.filter(institution__code="OUS").order_by("pk")[:3]:
        meeting_services.agenda_item_add(
            meeting=meeting, by=clinician, episode_id=episode.pk, question="Adjuvant treatment?"
        )
    # A decision that refers the patient to a trial (the referral form), and the board's
    # summary made as its task makes it.
    meeting_services.decision_save(
        item=meeting.items.order_by("pk").first(),
        by=clinician,
        recommendation="Refer to a trial of recurrent glioblastoma.",
        plan=[MdtPlan.TRIAL],
        responsible=clinician,
    )
    summary = MdtSummary.objects.create(meeting=meeting, requested_by=clinician)
    meeting_summary.summary_generate(summary.pk)
    report = indicator_reports.report_request(
        by=admin, year=timezone.localdate().year - 1, institution=None
    )
    indicator_reports.report_generate(report.pk)
    for title, approve in [("Survival after re-resection", True), ("Seizures and IDH", False)]:
        project = project_apply(
            by=researcher,
            title=title,
            purpose="Registry-based cohort study.",
            institution=Institution.objects.get(code="UIO-ICR"),
            rek_number="REK 2026/123",
            rek_date=timezone.localdate() - timedelta(days=30),
            legal_basis="consent",
            end_date=timezone.localdate() + timedelta(days=365),
            variables=research_dictionary.default_variables(),
        )
        if approve:
            project = project_decide(
                project=project, by=admin, approve=True, reason="REK approval checked"
            )
            research_extracts.extract_build(extract_request(project=project, by=researcher).pk)
    return members


def start_pages() -> list[str]:
    """Pages the walk starts from besides the URLconf's routes without parameters: the
    signed report (a walk reaches it only through the one request that has it), the
    referral form of the board's decision and the dispatch form of a sample not yet sent
    (each linked from one item's page in one state)."""
    report = Report.objects.order_by("pk").first()
    decision = MdtDecision.objects.order_by("pk").first()
    unshipped = Sample.objects.filter(shipment__isnull=True).order_by("pk").first()
    return [
        f"/screening/requests/{report.request_id}/results/",
        f"/screening/reports/{report.pk}/",
        # The pages that only a link on one item's page in one state leads to.
        f"/trials/referrals/new/?decision={decision.pk}",
    ] + ([f"/screening/samples/{unshipped.pk}/ship/"] if unshipped else [])


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role", ROLES)
def test_walk_every_page_of_a_role_with_axe_core(role, demo, live_server, browser):
    errors: list[str] = []
    page = watch_console(browser.new_context().new_page(), errors)
    if role != "anonymous":
        browser_sign_in(page, live_server.url, demo[role])
    walk = walk_pages(page, live_server.url, start=start_pages())
    _reached[role] = set(walk.visited)

    report = "\n".join(describe(path, found) for path, found in walk.violations.items())
    assert not walk.violations, f"serious or critical axe-core violations ({role}):\n{report}"
    # A walk that opened next to nothing proves nothing: each role has its pages.
    assert len(walk.visited) >= {"anonymous": 8}.get(role, 25), sorted(walk.visited)
    assert errors == [], f"console errors (CSP violations among them?): {errors}"


def test_every_page_route_is_walked_or_named():
    """Run after the six walks (the same module): every page route of the URLconf was
    opened by some role, or NOT_WALKED says why not."""
    if set(_reached) != set(ROLES):
        pytest.skip("needs all six walks of this run (not selected with -k)")
    reached = set().union(*_reached.values())
    missing = sorted(set(page_routes()) - reached - set(NOT_WALKED) - set(NOT_YET_REACHED))
    assert missing == [], f"page routes no role reached (link them, or say why): {missing}"
    gone = sorted(name for name in NOT_WALKED if name not in page_routes())
    assert gone == [], f"NOT_WALKED names routes that are gone: {gone}"
    # A listed route the walk reached anyway (a redirect, a link a later change added) is no
    # fault of the pages: said, so the list can be trimmed, but the run stays green.
    if walked_anyway := sorted(set(NOT_WALKED) & reached):
        warnings.warn(f"walked now, drop them from NOT_WALKED: {walked_anyway}", stacklevel=1)
    assert set(NOT_YET_REACHED) <= set(page_routes()), "NOT_YET_REACHED names a route gone"
    if now_reached := sorted(set(NOT_YET_REACHED) & reached):
        warnings.warn(f"walked now, drop them from NOT_YET_REACHED: {now_reached}", stacklevel=1)
