"""The member's inbox: every app's notices (contact requests from coordinators, screening
news and released results, shipment alerts, reports ready) are one model written by one
service in the event's transaction; the page and the API list only the member's own, link
each to its page, mark one or all read; the menu's unread count costs one query."""

import re

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from playwright.sync_api import expect

from consortium import services
from consortium.models import AccessLog, InboxItem, Role
from tests.conftest import browser_sign_in, make_member, sign_in, url_routes, watch_console
from tests.screening.factories import bring_to, make_request, make_world
from tests.trials.factories import GBM, episode, patient, tree, trial
from trials import engine
from trials import services as trial_services
from trials.models import Match, ReviewEvent, Step

pytestmark = pytest.mark.django_db
API = "/api/v1/inbox/"


def _deliver(member, n: int = 1, *, kind=InboxItem.Kind.ALERT, patient_id=None, prefix="t"):
    for i in range(n):
        services.inbox_deliver(
            recipients=[member],
            kind=kind,
            text=f"Notice {prefix}{i}",
            url="/registry/",
            key=f"test:{prefix}:{i}",
            patient_id=patient_id,
        )


def _contacted_match(coordinator_institutions=("OUS",)):
    """A match of an OUS patient moved to "contacted" by an OUS coordinator."""
    p = patient(institutions=("OUS",))
    episode(p)
    trial(tree({"type": "diagnosis", "codes": [GBM]}), norwegian=True, title="GBM trial")
    engine.match_patient(p.pk)
    match = Match.objects.get(patient=p)
    coordinator = make_member(
        Role.COORDINATOR, institutions=coordinator_institutions, email="coord@ous.no"
    )
    for step in (Step.UNDER_REVIEW, Step.CONTACTED):
        match = trial_services.match_move(match=match, by=coordinator, step=step)
    return match, coordinator


# --- Events write items ---------------------------------------------------------------------


def test_a_contact_request_reaches_the_treating_clinicians_and_the_answer_the_coordinator():
    ous = make_member(Role.CLINICIAN, institutions=("OUS",), email="doc@ous.no")
    hus = make_member(Role.CLINICIAN, institutions=("HUS",), email="doc@hus.no")
    match, coordinator = _contacted_match()
    item = InboxItem.objects.get(kind="contact_request")
    assert item.recipient == ous and item.patient_id == match.patient_id
    assert item.url == f"{match.patient.get_absolute_url()}#trials"
    assert match.patient.register_number in item.text and "Kari" not in item.text
    assert not InboxItem.objects.filter(recipient=hus).exists()
    trial_services.match_reply(match=match, by=ous, answer=ReviewEvent.Answer.INTERESTED)
    answer = InboxItem.objects.get(kind="contact_answer")
    assert answer.recipient == coordinator and answer.url == match.get_absolute_url()
    assert "Patient may be approached" in answer.text


def test_the_bulk_move_to_contacted_asks_too():
    ous = make_member(Role.CLINICIAN, institutions=("OUS",), email="doc@ous.no")
    p = patient(institutions=("OUS",))
    episode(p)
    for _ in range(2):
        trial(tree({"type": "diagnosis", "codes": [GBM]}), norwegian=True)
    engine.match_patient(p.pk)
    ids = list(Match.objects.values_list("pk", flat=True))
    coordinator = make_member(Role.COORDINATOR, institutions=("OUS",), email="coord@ous.no")
    trial_services.matches_move(match_ids=ids, by=coordinator, step=Step.UNDER_REVIEW)
    trial_services.matches_move(match_ids=ids, by=coordinator, step=Step.CONTACTED)
    assert InboxItem.objects.filter(recipient=ous, kind="contact_request").count() == 2


def test_screening_news_alerts_and_released_results_write_items():
    world = make_world()
    request = make_request(world)
    assert list(InboxItem.objects.values_list("recipient", "kind")) == [(world.lab.pk, "screening")]
    bring_to(world, "accepted")
    # The lab accepted: the requesting clinician hears of it, linked to the request.
    told = InboxItem.objects.filter(recipient=world.clinician, kind="screening")
    assert told.exists() and all(i.url.startswith("/screening/requests/") for i in told)
    assert request.patient.register_number in told.first().text


def test_an_event_rolled_back_leaves_no_item():
    world = make_world()
    with pytest.raises(RuntimeError), transaction.atomic():
        make_request(world)
        assert InboxItem.objects.count() == 1  # written with the request ...
        raise RuntimeError("the request's transaction fails")
    assert InboxItem.objects.count() == 0  # ... and gone with it


def test_delivering_an_event_again_adds_nothing():
    member = make_member(Role.CLINICIAN, email="doc@ous.no")
    _deliver(member)
    _deliver(member)  # a retried task
    assert InboxItem.objects.filter(recipient=member).count() == 1


def test_a_released_indicator_report_edition_tells_the_hospitals_members():
    from consortium.models import Institution
    from registry import indicator_reports
    from registry.models import IndicatorReport

    hus = Institution.objects.get(code="HUS")
    member = make_member(Role.CLINICIAN, institutions=("HUS",), email="doc@hus.no")
    outsider = make_member(Role.CLINICIAN, institutions=("OUS",), email="doc@ous.no")
    admin = make_member(Role.ADMIN, institutions=("OUS",), email="admin@nbtc.no")
    report = IndicatorReport.objects.create(
        year=2025, institution=hus, status="done", pdf=b"%PDF-1.4", csv="x"
    )
    indicator_reports.report_release(report_id=report.pk, by=admin)
    item = InboxItem.objects.get(kind="report_ready")
    assert item.recipient == member
    assert item.url == reverse("registry:indicator_report", args=[report.pk])
    assert not InboxItem.objects.filter(recipient=outsider).exists()


# --- The page ------------------------------------------------------------------------------


def test_the_page_lists_only_the_members_own_items_and_marks_them_read(client):
    world = make_world(with_totp=True)
    make_request(world)  # an item for the lab scientist, naming the patient
    other = make_member(Role.CLINICIAN, institutions=("HUS",), email="x@hus.no", with_totp=True)
    _deliver(other, prefix="other")
    sign_in(client, world.lab)
    page = client.get("/inbox/")
    text = page.content.decode()
    item = InboxItem.objects.get(recipient=world.lab)
    assert item.text in text and "Notice other0" not in text
    assert AccessLog.objects.filter(
        user=world.lab, patient_id=world.patient.pk, page="consortium:inbox"
    ).exists()
    assert 'class="badge unread-count">1<' in text
    # Following the item marks it read and lands on its page.
    opened = client.get(f"/inbox/{item.pk}/")
    assert opened.status_code == 302 and opened["Location"] == item.url
    item.refresh_from_db()
    assert item.read_at is not None
    assert "unread-count" not in client.get("/inbox/").content.decode()
    # Another member's item is not there for them: 404 to open or mark.
    theirs = InboxItem.objects.get(recipient=other)
    assert client.get(f"/inbox/{theirs.pk}/").status_code == 404
    assert client.post(f"/inbox/{theirs.pk}/read/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_mark_one_and_all_read_and_the_filters(client):
    member = make_member(Role.CLINICIAN, email="doc@ous.no", with_totp=True)
    _deliver(member, 3)
    sign_in(client, member)
    first = InboxItem.objects.filter(recipient=member).order_by("pk").first()
    client.post(f"/inbox/{first.pk}/read/", {"next": "/inbox/?unread=true"})
    unread = client.get("/inbox/", {"unread": "true"}).content.decode()
    assert "Notice t0" not in unread and "Notice t1" in unread and "Notice t2" in unread
    assert 'class="badge unread-count">2<' in unread
    assert client.get("/inbox/", {"kind": "nonsense"}).status_code == 400
    client.post("/inbox/read-all/")
    assert not InboxItem.objects.filter(recipient=member, read_at__isnull=True).exists()


def prepared_sql(sql: str) -> str:
    """The statement behind an EXECUTE of a prepared query (consortium/prepared.py)."""
    name = re.match(r"EXECUTE (\w+)\(", sql)
    if name is None:
        return sql
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE name = %s", [name[1]])
        return cursor.fetchone()[0]


def test_the_menus_unread_count_costs_one_query_whatever_the_count(client):
    member = make_member(Role.CLINICIAN, email="doc@ous.no", with_totp=True)
    sign_in(client, member)

    def home_queries():
        with CaptureQueriesContext(connection) as captured:
            page = client.get("/")
        inbox = [q["sql"] for q in captured.captured_queries if "consortium_inboxitem" in q["sql"]]
        return len(captured.captured_queries), inbox, page.content.decode()

    client.get("/")  # the first page after signing in shows and drops the sign-in message
    none_total, none_inbox, _ = home_queries()
    _deliver(member, 3)
    few_total, few_inbox, few_page = home_queries()
    _deliver(member, 150, prefix="many")
    many_total, many_inbox, many_page = home_queries()
    assert none_total == few_total == many_total
    assert len(none_inbox) == len(few_inbox) == len(many_inbox) == 1
    assert "LIMIT 100" in prepared_sql(many_inbox[0])  # stops counting at 100
    assert 'unread-count">3<' in few_page and 'unread-count">99+<' in many_page


# --- The API -------------------------------------------------------------------------------


def test_the_api_lists_own_items_in_the_envelope_and_marks_them_read(client):
    member = make_member(Role.CLINICIAN, email="doc@ous.no", with_totp=True)
    other = make_member(Role.CLINICIAN, institutions=("HUS",), email="x@hus.no")
    _deliver(member, 3)
    _deliver(other, prefix="other")
    sign_in(client, member)
    body = client.get(API, {"page_size": 2}).json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 3 and len(body["results"]) == 2
    assert [r["text"] for r in body["results"]] == ["Notice t2", "Notice t1"]  # newest first
    assert set(body["results"][0]) == {
        "id",
        "kind",
        "kind_label",
        "text",
        "url",
        "created_at",
        "read",
        "read_at",
    }
    rest = client.get(body["next"]).json()
    assert [r["text"] for r in rest["results"]] == ["Notice t0"]
    assert client.get(f"{API}unread-count/").json() == {"unread": 3}
    mine = body["results"][0]["id"]
    read = client.post(f"{API}{mine}/read/").json()
    assert read["read"] is True and read["read_at"]
    assert client.get(API, {"unread": "true"}).json()["count"] == 2
    theirs = InboxItem.objects.get(recipient=other).pk
    assert client.get(f"{API}{theirs}/").status_code == 404
    assert client.post(f"{API}{theirs}/read/").status_code == 404
    marked = client.post(f"{API}read/", {"ids": [theirs]}, content_type="application/json")
    assert marked.json() == {"marked": 0, "unread": 2}
    everything = client.post(f"{API}read/", {}, content_type="application/json")
    assert everything.json() == {"marked": 2, "unread": 0}
    assert InboxItem.objects.get(pk=theirs).read_at is None
    bad = client.get(API, {"kind": "nonsense"})
    assert bad.status_code == 400 and "kind" in bad.json()["extra"]["fields"]


@pytest.mark.parametrize("value", ["0.5", "maybe", "unknown", "True", "1"])
def test_an_unread_filter_other_than_true_or_false_is_refused_naming_it(client, value):
    member = make_member(Role.CLINICIAN, email="doc@ous.no", with_totp=True)
    sign_in(client, member)
    bad = client.get(API, {"unread": value})
    assert bad.status_code == 400
    assert bad.json()["extra"]["fields"]["unread"] == ['Give "true" or "false".']
    assert client.get("/inbox/", {"unread": value}).status_code == 400
    assert client.get(API, {"unread": "false"}).status_code == 200


# --- Who sees what, on every inbox route ------------------------------------------------------

ROUTES = url_routes("inbox")
POSTS = {"inbox_read", "inbox_read_all"}


def test_every_inbox_route_is_walked():
    names = {name for _, name in ROUTES}
    assert {"inbox", "inbox_open", "inbox_read", "inbox_read_all", "inbox_item"} <= names
    assert len(ROUTES) == 9  # four pages, five API routes


@pytest.mark.parametrize(
    "role,institutions",
    [
        (Role.CLINICIAN, ("HUS",)),
        (Role.COORDINATOR, ("OUS",)),
        (Role.LAB_SCIENTIST, ("UIB-LAB",)),
        (Role.RESEARCHER, ("UIO-ICR",)),
        (Role.ADMIN, ("OUS",)),
    ],
)
def test_no_inbox_route_shows_or_changes_another_members_item(client, role, institutions):
    owner = make_member(Role.CLINICIAN, institutions=("OUS",), email="owner@ous.no")
    _deliver(owner, prefix="owners-secret")
    item = InboxItem.objects.get(recipient=owner)
    member = make_member(role, institutions=institutions, with_totp=role != Role.RESEARCHER)
    sign_in(client, member)
    for route, _ in ROUTES:
        path = "/" + route.replace("<int:pk>", str(item.pk))
        for method in ("get", "post"):
            response = getattr(client, method)(path)
            body = response.content.decode(errors="replace")
            assert "owners-secret" not in body, f"{method} {path}"
            if "<int:pk>" in route:
                assert response.status_code in (404, 405), f"{method} {path}"
    item.refresh_from_db()
    assert item.read_at is None


def test_every_inbox_route_answers_its_owner(client):
    owner = make_member(Role.CLINICIAN, institutions=("OUS",), email="owner@ous.no", with_totp=True)
    _deliver(owner)
    item = InboxItem.objects.get(recipient=owner)
    sign_in(client, owner)
    for route, name in ROUTES:
        path = "/" + route.replace("<int:pk>", str(item.pk))
        response = client.post(path) if name in POSTS else client.get(path)
        assert response.status_code in (200, 302), f"{path} -> {response.status_code}"


def test_signed_out_nobody_reaches_an_inbox(client):
    member = make_member(Role.CLINICIAN, email="doc@ous.no")
    _deliver(member)
    for route, _ in ROUTES:
        path = "/" + route.replace("<int:pk>", "1")
        response = client.get(path)
        assert response.status_code in (302, 401, 403, 405), path


# --- In a browser ------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_menu_counts_a_contact_request_and_the_inbox_leads_to_the_patient(live_server, browser):
    clin = make_member(Role.CLINICIAN, institutions=("OUS",), email="doc@ous.no", with_totp=True)
    errors: list[str] = []
    page = watch_console(browser.new_context().new_page(), errors)
    base = live_server.url
    browser_sign_in(page, base, clin)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.locator("#nav-inbox")).to_have_text("Inbox")
    match, _ = _contacted_match()
    page.reload()
    expect(nav.locator("#nav-inbox .unread-count")).to_have_text("1 unread")
    nav.locator("#nav-inbox").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Inbox")
    row = page.locator("table.inbox tbody tr.unread")
    expect(row).to_contain_text("Contact request")
    expect(row).to_contain_text(match.patient.register_number)
    row.get_by_role("link").click()
    expect(page).to_have_url(f"{base}{match.patient.get_absolute_url()}#trials")
    expect(page.locator("#trials")).to_be_visible()
    expect(nav.locator("#nav-inbox .unread-count")).to_have_count(0)
    assert errors == []
