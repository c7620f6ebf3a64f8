"""The queue: filter by trial, all on the page in one bulk move, acronym beside the NCT
id, phases in words, the registered text as sanitised Markdown, keyset pages; trials with
no Nordic site marked on every match and sorted after, until a cross-border referral is
recorded."""

import pytest

from consortium.models import Role
from tests.conftest import make_member, sign_in
from tests.trials.factories import RECURRENT_GBM, episode, patient, trial
from trials import engine, selectors
from trials.eligibility_text import to_html
from trials.models import Match, Step, TrialSite, phases_in_words

pytestmark = pytest.mark.django_db


@pytest.fixture
def coordinator():
    return make_member(Role.COORDINATOR, institutions=("OUS",), with_totp=True, email="c@x.no")


def _patients(n):
    for _ in range(n):
        p = patient()
        episode(p, markers={"mgmt": "altered"}, ecog=1, follow_ups=[True])


def _abroad_trial(**kwargs):
    t = trial(RECURRENT_GBM, **kwargs)
    TrialSite.objects.create(trial=t, facility="Tata Memorial", city="Mumbai", country="India")
    return t


def test_no_nordic_site_is_marked_and_sorted_after_until_referral(client, coordinator):
    _patients(2)
    abroad = _abroad_trial(title="Abroad")
    abroad.acronym = "CHROME"
    abroad.save()
    engine.match_trial(abroad.pk)
    nordic = trial(RECURRENT_GBM, norwegian=True, title="Nordic")
    engine.match_trial(nordic.pk)
    sign_in(client, coordinator)
    # The abroad trial was matched first (older), yet its matches come after.
    api = client.get("/api/v1/trials/matches/").json()["results"]
    assert [m["trial"] for m in api] == [nordic.pk] * 2 + [abroad.pk] * 2
    assert [m["reachable"] for m in api] == [True, True, False, False]
    page = client.get("/trials/matches/").content.decode()
    assert page.count("no Nordic site") == 2 and "<strong>CHROME</strong> " + abroad.nct_id in page
    detail = client.get(f"/trials/matches/{api[2]['id']}/").content.decode()
    assert "No site in Norway or the Nordic countries" in detail
    # The coordinator records a cross-border referral: the mark goes, the order follows.
    response = client.post(
        f"/trials/{abroad.pk}/referral/",
        {"cross_border_referral": "on", "version": abroad.version},
    )
    assert response.status_code == 302
    assert Match.objects.filter(trial=abroad, reachable=True).count() == 2
    page = client.get("/trials/matches/").content.decode()
    assert "no Nordic site" not in page
    detail = client.get(f"/trials/matches/{api[2]['id']}/").content.decode()
    assert "Cross-border referral possible" in detail
    api = client.get("/api/v1/trials/matches/").json()["results"]
    assert [m["trial"] for m in api] == [nordic.pk] * 2 + [abroad.pk] * 2  # newest first now


def test_filter_by_trial_and_move_all_on_the_page(client, coordinator):
    _patients(3)
    first, second = trial(RECURRENT_GBM, norwegian=True), trial(RECURRENT_GBM, norwegian=True)
    engine.match_all()
    sign_in(client, coordinator)
    page = client.get(f"/trials/matches/?trial={first.pk}").content.decode()
    assert "3 matches" in page and f'<option value="{first.pk}" selected>' in page
    values = [f"{m.pk}:{m.version}" for m in Match.objects.filter(trial=first)]
    response = client.post(
        f"/trials/matches/?trial={first.pk}",
        {"all_on_page": "1", "page_ids": values, "step": "under_review"},
    )
    assert response.status_code == 302
    assert Match.objects.filter(trial=first, step=Step.UNDER_REVIEW).count() == 3
    assert not Match.objects.filter(trial=second).exclude(step=Step.NEW).exists()


def test_keyset_pages_walk_every_match_once(client, coordinator):
    _patients(7)
    t = trial(RECURRENT_GBM, norwegian=True)
    engine.match_trial(t.pk)
    seen, cursor = [], ""
    queue = selectors.match_queue(user=coordinator)
    while True:
        page = selectors.keyset_page(queue, after=cursor, size=3)
        seen += [m["id"] for m in page]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    expected = list(
        Match.objects.order_by("-reachable", "-matched_at", "-id").values_list("pk", flat=True)
    )
    assert seen == expected and len(seen) == 7
    back = selectors.keyset_page(queue, before=page.previous_cursor, size=3)
    assert [m["id"] for m in back] == expected[3:6]
    sign_in(client, coordinator)
    first = client.get("/api/v1/trials/matches/?page_size=3").json()
    assert first["count"] == 7 and first["previous"] is None
    assert [m["id"] for m in first["results"]] == expected[:3]
    second = client.get(first["next"]).json()
    assert [m["id"] for m in second["results"]] == expected[3:6] and second["previous"]


def test_phases_in_words_and_the_registered_text_as_markdown(client, coordinator):
    assert phases_in_words(["PHASE2", "PHASE3"]) == "Phase 2/Phase 3"
    assert phases_in_words(["EARLY_PHASE1"]) == "Early phase 1"
    assert phases_in_words(["NA"]) == "Not applicable"
    text = (
        "Inclusion Criteria:\n\n* Age \\>= 18 years\n* Karnofsky \\> 70\n  * nested item\n\n"
        "Exclusion Criteria:\n\n* Creatinine \\< 1.5 x ULN <script>alert(1)</script>"
    )
    html = to_html(text)
    assert "<li>Age &gt;= 18 years</li>" in html and "\\" not in html
    assert "<ul>\n<li>nested item</li>" in html and "<script" not in html
    t = trial(RECURRENT_GBM, norwegian=True)
    t.phases, t.eligibility_text = ["EARLY_PHASE1"], text
    t.save()
    sign_in(client, coordinator)
    page = client.get(f"/trials/{t.pk}/").content.decode()
    assert "Early phase 1" in page and "<li>Creatinine &lt; 1.5 x ULN" in page
    assert "alert(1)" not in page and "\\&lt;" not in page
