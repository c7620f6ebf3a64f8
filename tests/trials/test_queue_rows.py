"""The queue's rows (the page /trials/matches/, the trial page's list and
/api/v1/trials/matches/) are read as plain values in one query and written out without a
serializer field or template include per value: they must say exactly what the match's
own page and serializer say, for matches of every kind; the page's selects are
forms.Select's elements; and a page takes the same few queries however many matches."""

import json

import pytest
from django import forms
from django.db import connection
from django.test.html import parse_html
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from consortium.models import Role
from consortium.widgets import PlainSelect
from registry.models import PatientInstitution
from tests.conftest import make_member, sign_in
from tests.trials.factories import GBM, episode, patient, tree, trial
from trials import engine, selectors, services
from trials.api import MatchOutput
from trials.forms import MoveForm, QueueFilterForm
from trials.models import Match, Step, TrialArm

pytestmark = pytest.mark.django_db

ITEMS = ["Radionecrosis confirmed on perfusion MRI", "No progression on the latest MRI"]


@pytest.fixture
def coordinator():
    return make_member(
        Role.COORDINATOR, institutions=("OUS", "HUS"), with_totp=True, email="rows@example.no"
    )


def _matches_of_every_kind(coordinator):
    """A trial with an acronym, phases, two arms and two items to check by hand (one
    marked met with a note); a patient treated at two hospitals; a closed match with its
    reason; one flagged and no longer matching; and a trial without a Nordic site."""
    t = trial(
        tree(
            {"type": "diagnosis", "codes": [GBM]},
            {"type": "marker", "marker": "mgmt", "result": "altered"},
            by_hand=ITEMS,
        ),
        norwegian=True,
    )
    t.acronym, t.phases = "<b>CHROME</b>", ["PHASE2", "PHASE3"]
    t.save()
    TrialArm.objects.create(
        trial=t,
        label="Cohort A",
        criteria=tree({"type": "marker", "marker": "mgmt", "result": "altered"}),
    )
    abroad = trial(tree({"type": "diagnosis", "codes": [GBM]}), title="Abroad & beyond")
    two = patient(institutions=("OUS", "HUS"))
    episode(two, markers={"mgmt": "altered"})
    for _ in range(3):
        episode(patient(), markers={"mgmt": "altered"})
    engine.match_trial(t.pk)
    engine.match_trial(abroad.pk)
    marked, closed, flagged, *_ = Match.objects.filter(trial=t).order_by("pk")
    services.match_check_mark(
        match=marked, by=coordinator, text=ITEMS[0], status="met", note="Perfusion low"
    )
    services.match_move(match=closed, by=coordinator, step=Step.CLOSED, close_reason="declined")
    Match.objects.filter(pk=flagged.pk).update(
        needs_another_look=True, active=False, inactive_reason="trial closed"
    )
    return t, abroad


def _as_json(value):
    return json.loads(json.dumps(value))


def test_the_api_list_says_what_the_match_serializer_says(client, coordinator):
    t, abroad = _matches_of_every_kind(coordinator)
    sign_in(client, coordinator)
    listed = client.get("/api/v1/trials/matches/?matching=all").json()["results"]
    assert len(listed) == Match.objects.count() == 8
    for shown in listed:
        match = selectors.match_get(user=coordinator, pk=shown["id"])
        assert shown == _as_json(MatchOutput(match).data)
    by_id = {m["id"]: m for m in listed}
    marked = by_id[Match.objects.filter(trial=t).order_by("pk")[0].pk]
    # Worked out by hand: one of two items met, so still pending; the other unchecked.
    assert marked["outcome"] == "eligible_pending_checks"
    assert [(c["text"], c["status"], c["by"], c["note"]) for c in marked["manual_checks"]] == [
        (ITEMS[0], "met", "Coordinator", "Perfusion low"),
        (ITEMS[1], "unchecked", None, ""),
    ]
    assert marked["manual_checks"][0]["at"] and marked["manual_checks"][1]["at"] is None
    assert sorted(m["hospitals"] for m in listed if len(m["hospitals"]) == 2) == [
        ["HUS", "OUS"],
        ["HUS", "OUS"],
    ]
    assert sorted(str(m["arm"]) for m in listed) == ["Cohort A"] * 4 + ["None"] * 4
    assert [m["allowed_steps"] for m in listed if m["step"] == "closed"] == [["under_review"]]


def test_the_queue_page_shows_each_row_as_the_match_has_it(client, coordinator):
    t, abroad = _matches_of_every_kind(coordinator)
    sign_in(client, coordinator)
    page = client.get("/trials/matches/?matching=all").content.decode()
    rows = page[page.index("<tbody>") : page.index("</tbody>")].split('<tr class="match">')[1:]
    assert len(rows) == 8
    for match in Match.objects.select_related("patient", "trial", "arm"):
        (shown,) = [r for r in rows if f'href="/trials/matches/{match.pk}/"' in r]
        assert match.patient.register_number in shown
        assert f'value="{match.pk}:{match.version}"' in shown
        assert match.outcome_words in shown
        assert timezone.localtime(match.matched_at).strftime("%d.%m.%Y %H:%M") in shown
        if match.trial == t:
            assert "<strong>&lt;b&gt;CHROME&lt;/b&gt;</strong>" in shown
            assert "Phase 2/Phase 3" in shown and 'badge norway">NO' in shown
        else:
            assert "no Nordic site" in shown and match.trial.nct_id in shown
        if match.arm:
            assert '<span class="hint">Cohort A</span>' in shown
    two = PatientInstitution.objects.filter(institution__code="HUS").get().patient
    assert all("HUS, OUS" in r for r in rows if two.register_number in r)
    assert sum("Closed: declined by patient" in r for r in rows) == 1
    assert sum("look again" in r and "(trial closed)" in r for r in rows) == 1
    # Worked out by hand: of CHROME's four matches the one marked has one item left, the
    # other three (the closed and the flagged one too) both; the other trial's are eligible.
    assert sum("Eligible on the encoded criteria, 1 to check by hand" in r for r in rows) == 1
    assert sum("Eligible on the encoded criteria, 2 to check by hand" in r for r in rows) == 3
    assert sum('outcome-eligible">Eligible</span>' in r for r in rows) == 4


def test_the_plain_selects_are_the_django_selects(coordinator):
    t = trial(tree({"type": "diagnosis", "codes": [GBM]}), title="A <script> & co")
    t.acronym = '"Quoted" & <b>'
    t.save()
    trial(tree({"type": "diagnosis", "codes": [GBM]}), title="Other")
    trial(None, title="Not encoded, not offered")
    for form in (
        QueueFilterForm({"trial": str(t.pk), "step": "screening", "matching": "all"}),
        QueueFilterForm(),
        MoveForm(),
        MoveForm(current_step=Step.UNDER_REVIEW),
    ):
        form.is_valid()
        for name, field in form.fields.items():
            if not isinstance(field.widget, PlainSelect):
                continue
            django_select = forms.Select(attrs=field.widget.attrs, choices=field.widget.choices)
            ours, theirs = form[name].as_widget(), form[name].as_widget(widget=django_select)
            assert parse_html(ours) == parse_html(theirs), name
    offered = QueueFilterForm().fields["trial"].choices
    # Encoded trials only, by acronym then title; escaped when written out (above).
    assert [label for _, label in offered][::2] == ["All trials", f'"Quoted" & <b> · {t.nct_id}']
    assert len(offered) == 3 and offered[1][1].startswith("NCT")
    assert QueueFilterForm({"trial": "999999"}).errors["trial"]


def _queries(client, path) -> list[str]:
    client.get(path)  # the first request after sign-in also updates the member's session
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return [q["sql"] for q in queries]


# The member's session, the member (with whether they have a second factor), their
# institutions (the scope);
# then the view's own: the kept count, the page's matches by keyset, their rows by id,
# one access-log INSERT for all of them; the page also lists the encoded trials and the
# member's hospitals for its filters, and its menu counts the member's unread inbox.
API_QUERIES = 7
PAGE_QUERIES = API_QUERIES + 3


def test_a_queue_page_takes_the_same_queries_whatever_its_rows(client, coordinator):
    _matches_of_every_kind(coordinator)
    sign_in(client, coordinator)
    page, api = "/trials/matches/?matching=all", "/api/v1/trials/matches/?matching=all"
    assert len(_queries(client, page)) == PAGE_QUERIES
    assert len(_queries(client, api)) == API_QUERIES
    # The access log's one write (a prepared INSERT, labelled with its table).
    writes = [q for q in _queries(client, api) if "consortium_accesslog" in q]
    assert len(writes) == 1 and writes[0].startswith("EXECUTE nbtc_access_log(")
    for _ in range(12):
        episode(patient(institutions=("HUS",)), markers={"mgmt": "altered"})
    engine.match_all()
    assert Match.objects.count() == 32
    assert len(_queries(client, page)) == PAGE_QUERIES
    assert len(_queries(client, api)) == API_QUERIES
