"""The indicators page is kept whole (gzipped, in Redis) per view of it: a repeated view
costs the sign-in's own queries and one more, and nothing that changes the answer is
missing from the key (who sees which hospital exactly, the snapshot, the filters, the
member's page chrome with its CSRF token, messages, a running computation)."""

import gzip
import html
import re
from datetime import date

import pytest
from django.conf import settings
from django.test import Client

from consortium.models import Institution, Role
from registry import indicator_services
from registry.indicator_selectors import published_year
from tests.conftest import make_member, sign_in
from tests.registry.indicator_cohorts import episode, patient

pytestmark = pytest.mark.django_db

YEAR = published_year()
PAGE = "/registry/indicators/"


def cohort(sizes: dict[str, tuple[int, int]], year: int = YEAR):
    """Per hospital (complete, draft) reports diagnosed in `year`."""
    for code, (complete, draft) in sizes.items():
        for status in ["complete"] * complete + ["draft"] * draft:
            episode(patient(at=(code,)), reporting=code, diagnosed=date(year, 3, 1), status=status)


def snapshot():
    return indicator_services.snapshot_compute(indicator_services.snapshot_request().pk)


def coverage_row(body: str, place: str) -> str:
    """The coverage table's row of a place, its cells' text joined by '|'."""
    table = body[body.index('id="coverage-table"') :]
    table = table[: table.index("</table>")]
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S):
        cells = [
            re.sub(r"<[^>]+>", "", c).strip()
            for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        if cells and cells[0].removesuffix("(yours)").strip() == place:
            cells[0] = place
            return html.unescape("|".join(cells[:4])).rstrip("|")
    raise AssertionError(f"no row for {place}")


@pytest.fixture
def five_hospitals():
    # Coverage: OUS 7 of 10, HUS 2 of 3 (<5 for others), SUS 6 of 12, STOLAV 3 of 6, UNN 8 of 8.
    cohort({"OUS": (7, 3), "HUS": (2, 1), "SUS": (6, 6), "STOLAV": (3, 3), "UNN": (8, 0)})
    return snapshot()


def test_a_repeated_view_is_served_whole_in_a_constant_number_of_queries(
    client, five_hospitals, django_assert_num_queries
):
    clinician = make_member(Role.CLINICIAN, institutions=("OUS",), with_totp=True)
    sign_in(client, clinician)
    client.get("/registry/worklist/")  # the session's once-a-minute activity write
    first = client.get(PAGE, {"year": YEAR})
    # Session, member (with whether they have an MFA authenticator); then their institutions
    # (who sees what) and the menu's unread inbox count.
    with django_assert_num_queries(4):
        again = client.get(PAGE, {"year": YEAR})
    assert again.status_code == 200 and again.content == first.content
    assert coverage_row(again.content.decode(), "OUS") == "OUS|7|10|70,0\u00a0%"


def test_a_new_inbox_item_shows_in_the_kept_pages_menu_at_once(client, five_hospitals):
    from consortium.services import inbox_deliver

    clinician = make_member(Role.CLINICIAN, institutions=("OUS",), with_totp=True)
    sign_in(client, clinician)
    client.get(PAGE)  # shows the sign-in's message, so is not kept
    kept = client.get(PAGE).content.decode()
    assert client.get(PAGE).content.decode() == kept and "unread-count" not in kept
    inbox_deliver(recipients=[clinician], kind="alert", text="x", url="/", key="test:1")
    assert 'unread-count">1<' in client.get(PAGE).content.decode()


def test_a_browser_gets_it_gzipped_and_the_same_page_unzipped(client, five_hospitals):
    sign_in(client, make_member(Role.RESEARCHER, institutions=("UIO-ICR",)))
    client.get(PAGE)  # shows the sign-in's message, so is not kept
    plain = client.get(PAGE)
    zipped = client.get(PAGE, HTTP_ACCEPT_ENCODING="gzip, deflate, br")
    assert "Content-Encoding" not in plain and zipped["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.content) == plain.content
    assert len(zipped.content) < len(plain.content) / 3
    assert int(zipped["Content-Length"]) == len(zipped.content)
    vary = {v.strip() for v in zipped["Vary"].split(",")}
    assert {"Accept-Encoding", "Cookie"} <= vary
    assert "no-store" in zipped["Cache-Control"] and "private" in zipped["Cache-Control"]


def test_a_member_moved_to_another_hospital_sees_its_figures_at_once(client, five_hospitals):
    clinician = make_member(Role.CLINICIAN, institutions=("OUS",), with_totp=True)
    sign_in(client, clinician)
    client.get(PAGE)
    assert coverage_row(client.get(PAGE).content.decode(), "HUS") == "HUS|<5|–"
    clinician.institutions.set(Institution.objects.filter(code="HUS"))
    assert coverage_row(client.get(PAGE).content.decode(), "HUS") == "HUS|2|3|66,7\u00a0%"
    # ... and the hospital left is no longer exact for them (SUS's neighbour in the region).
    assert coverage_row(client.get(PAGE).content.decode(), "OUS") == "OUS|7|10|70,0\u00a0%"


def test_members_of_two_hospitals_never_get_each_others_page(five_hospitals):
    at_hus, at_ous = Client(), Client()
    sign_in(at_hus, make_member(Role.CLINICIAN, institutions=("HUS",), with_totp=True))
    sign_in(
        at_ous,
        make_member(Role.CLINICIAN, institutions=("OUS",), with_totp=True, email="o@x.no"),
    )
    for _ in range(2):
        hus_page = at_hus.get(PAGE).content.decode()
        ous_page = at_ous.get(PAGE).content.decode()
        assert coverage_row(hus_page, "HUS") == "HUS|2|3|66,7\u00a0%"
        assert coverage_row(ous_page, "HUS") == "HUS|<5|–"
        assert "clinician@example.no" in hus_page and "o@x.no" not in hus_page
        assert "o@x.no" in ous_page


def test_a_new_snapshot_shows_at_once(client, five_hospitals):
    sign_in(client, make_member(Role.RESEARCHER, institutions=("UIO-ICR",)))
    client.get(PAGE)
    assert coverage_row(client.get(PAGE).content.decode(), "UNN") == "UNN|8|8|100,0\u00a0%"
    cohort({"UNN": (0, 2)})
    snapshot()
    body = client.get(PAGE).content.decode()
    assert coverage_row(body, "UNN") == "UNN|8|10|80,0\u00a0%"


def test_the_filters_and_anonymous_visitors_have_pages_of_their_own(client, five_hospitals):
    cohort({"OUS": (3, 2)}, year=YEAR - 1)
    snapshot()
    anonymous = client.get(PAGE, {"year": YEAR - 1}).content.decode()  # not theirs to see
    assert f'<option value="{YEAR - 1}"' not in anonymous
    sign_in(client, make_member(Role.RESEARCHER, institutions=("UIO-ICR",)))
    for _ in range(2):
        last_year = client.get(PAGE, {"year": YEAR - 1}).content.decode()
        assert coverage_row(last_year, "OUS") == "OUS|3|5|60,0\u00a0%"
        west = client.get(PAGE, {"region": "west"}).content.decode()
        assert coverage_row(west, "Helse Vest") == "Helse Vest|8|15|53,3\u00a0%"


def test_the_cached_pages_csrf_token_is_the_sessions(
    client, five_hospitals, django_capture_on_commit_callbacks
):
    admin = make_member(Role.ADMIN, institutions=(), with_totp=True)

    def token_of_kept_page() -> str:
        client.get(PAGE)  # the sign-in's message: not kept
        cached = client.get(PAGE).content.decode()
        assert client.get(PAGE).content.decode() == cached  # kept
        return re.search(
            r'action="/registry/indicators/snapshots/".*?'
            r'name="csrfmiddlewaretoken" value="([^"]+)"',
            cached,
            re.S,
        )[1]

    sign_in(client, admin)
    first = token_of_kept_page()
    # A new CSRF secret (the cookie lost, say): the page kept for the old one, whose token
    # would now be refused, is not served again.
    del client.cookies[settings.CSRF_COOKIE_NAME]
    token = token_of_kept_page()
    assert token != first
    checked = Client(enforce_csrf_checks=True)  # the same browser, its CSRF checked
    checked.cookies = client.cookies
    with django_capture_on_commit_callbacks(execute=False):
        assert checked.post("/registry/indicators/snapshots/").status_code == 403
        response = checked.post("/registry/indicators/snapshots/", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    # The next page shows the message and the queued computation: not the kept page.
    body = checked.get(PAGE).content.decode()
    assert "The indicators are being computed" in body
    assert "Waiting for a worker" in body
