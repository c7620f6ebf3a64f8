"""Suggested criteria in the catalogue: an imported record arrives with them; a
coordinator accepts (as read or edited) or rejects each, in the services and the API;
an accepted one goes into the criteria tree through the same validation as any edit (a
contradiction refused, a stale version 409) and re-matches the trial; a rejected one is
not proposed again until the text changes; a changed text drops the proposed ones whose
spans no longer hold and reads them again. Offsets always point at the words shown."""

import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from consortium.models import OutboxMessage, Role
from consortium.services import EditConflict
from tests.conftest import CTGOV, make_member, sign_in
from tests.trials.factories import tree
from trials import services
from trials.models import EligibilityReading, Suggestion, Trial

pytestmark = pytest.mark.django_db

DMG = "diffuse_midline_glioma_h3k27"


def _import(nct: str, **changes) -> Trial:
    record = json.loads((CTGOV / f"{nct}.json").read_text())
    eligibility = record["protocolSection"]["eligibilityModule"]
    eligibility.update(changes)
    report = services.ImportReport()
    services._import_document(f"{nct}.json", record, report, None)
    assert not report.problems, report.problems
    return Trial.objects.get(nct_id=nct)


def _open(trial) -> dict:
    """kind/value -> suggestion, of the open ones."""
    return {
        (s.kind, json.dumps(s.value, sort_keys=True), s.polarity): s
        for s in trial.suggestions.filter(status=Suggestion.Status.PROPOSED)
    }


def _find(trial, kind, **value) -> Suggestion:
    matches = [
        s
        for s in trial.suggestions.filter(kind=kind, status=Suggestion.Status.PROPOSED)
        if all(s.value.get(k) == v for k, v in value.items())
    ]
    assert len(matches) == 1, [s.value for s in trial.suggestions.filter(kind=kind)]
    return matches[0]


@pytest.fixture
def coordinator():
    return make_member(Role.COORDINATOR, with_totp=True)


@pytest.fixture
def charm():
    """NCT06720727 (H3-altered diffuse midline glioma, Tata Memorial): a real record."""
    return _import("NCT06720727")


def test_an_imported_trial_arrives_with_its_suggestions_and_their_spans(charm):
    text = charm.eligibility_text
    got = {(s.kind, s.polarity, s.section, text[s.start : s.end]) for s in charm.suggestions.all()}
    # Worked out by reading the record: item 1 (diagnosis, its H3 alteration, newly
    # diagnosed), item 3 (Karnofsky/Lansky >= 70), item 5 (no prior therapy: no prior
    # radiotherapy); the exclusion "Recurrent or progressive disease" is the same
    # newly-diagnosed criterion, proposed once with the first span.
    assert got == {
        ("diagnosis", "include", "inclusion", "histone altered diffuse midline glioma"),
        ("marker", "include", "inclusion", "histone altered"),
        ("setting", "include", "inclusion", "Newly diagnosed"),
        (
            "performance",
            "include",
            "inclusion",
            "Karnofsky/Lansky Performance Score more than or equal to 70",
        ),
        ("prior_treatment", "exclude", "inclusion", "No prior therapy"),
    }
    for s in charm.suggestions.all():
        assert text[s.start : s.end] == s.text  # the stored span is the text's words
    assert charm.reading.status == EligibilityReading.Status.READ
    assert charm.criteria_encoded_at is None  # nothing is encoded until a coordinator accepts


def test_accepting_puts_the_criterion_into_the_tree_and_rematches(charm, coordinator):
    kps = _find(charm, "performance", scale="karnofsky")
    before = OutboxMessage.objects.filter(task_name="trials.tasks.rematch_trial").count()
    services.suggestion_accept(suggestion=kps, by=coordinator, expected_version=charm.version)
    charm.refresh_from_db()
    kps.refresh_from_db()
    # The record's own age criteria (3 to 18 years) stay; the accepted leaf joins them.
    assert charm.criteria["criteria"]["all"][-1] == {
        "type": "performance",
        "scale": "karnofsky",
        "min": 70,
    }
    assert charm.criteria_encoded_at is not None
    assert kps.status == Suggestion.Status.ACCEPTED and kps.decided_by == coordinator
    assert kps.decided_at is not None
    after = OutboxMessage.objects.filter(task_name="trials.tasks.rematch_trial").count()
    assert after == before + 1
    # An exclusion goes in negated.
    rt = _find(charm, "prior_treatment", regimen="radiotherapy")
    services.suggestion_accept(suggestion=rt, by=coordinator, expected_version=charm.version)
    charm.refresh_from_db()
    assert {"not": {"type": "prior_treatment", "regimen": "radiotherapy"}} in charm.criteria[
        "criteria"
    ]["all"]


def test_an_edited_suggestion_goes_in_as_edited(charm, coordinator):
    kps = _find(charm, "performance", scale="karnofsky")
    services.suggestion_accept(
        suggestion=kps,
        by=coordinator,
        expected_version=charm.version,
        value={"scale": "karnofsky", "min": 60},
    )
    charm.refresh_from_db()
    kps.refresh_from_db()
    assert kps.status == Suggestion.Status.EDITED
    assert kps.accepted_value == {"type": "performance", "scale": "karnofsky", "min": 60}
    assert {"type": "performance", "scale": "karnofsky", "min": 60} in charm.criteria["criteria"][
        "all"
    ]


def test_an_edit_breaking_the_schema_names_the_field(charm, coordinator):
    kps = _find(charm, "performance", scale="karnofsky")
    with pytest.raises(ValidationError) as refused:
        services.suggestion_accept(
            suggestion=kps,
            by=coordinator,
            expected_version=charm.version,
            value={"scale": "karnofsky", "min": 140},
        )
    assert "value" in refused.value.message_dict
    kps.refresh_from_db()
    assert kps.status == Suggestion.Status.PROPOSED


def test_a_contradiction_is_refused_and_nothing_changes(charm, coordinator):
    services.trial_criteria_save(
        trial=charm,
        by=coordinator,
        tree=tree({"type": "marker", "marker": "h3k27", "result": "wildtype"}),
        expected_version=charm.version,
    )
    charm.refresh_from_db()
    h3 = _find(charm, "marker", marker="h3k27")
    with pytest.raises(ValidationError) as refused:
        services.suggestion_accept(suggestion=h3, by=coordinator, expected_version=charm.version)
    assert "no patient has both" in str(refused.value)
    h3.refresh_from_db()
    charm.refresh_from_db()
    assert h3.status == Suggestion.Status.PROPOSED
    assert charm.criteria["criteria"]["all"] == [
        {"type": "marker", "marker": "h3k27", "result": "wildtype"}
    ]


def test_a_stale_version_and_a_second_decision_are_refused(charm, coordinator):
    kps = _find(charm, "performance", scale="karnofsky")
    with pytest.raises(EditConflict):
        services.suggestion_accept(
            suggestion=kps, by=coordinator, expected_version=charm.version - 1
        )
    services.suggestion_reject(suggestion=kps, by=coordinator, expected_version=charm.version)
    with pytest.raises(EditConflict):
        services.suggestion_accept(suggestion=kps, by=coordinator, expected_version=charm.version)


def test_only_coordinators_decide(charm):
    clinician = make_member(Role.CLINICIAN, with_totp=True)
    kps = _find(charm, "performance", scale="karnofsky")
    with pytest.raises(PermissionDenied):
        services.suggestion_reject(suggestion=kps, by=clinician, expected_version=charm.version)


def test_a_rejected_suggestion_does_not_come_back_until_the_text_changes(charm, coordinator):
    kps = _find(charm, "performance", scale="karnofsky")
    services.suggestion_reject(suggestion=kps, by=coordinator, expected_version=charm.version)
    services.suggestions_refresh(trial=charm, force=True)  # the same text read again
    assert charm.suggestions.filter(kind="performance").count() == 1
    assert charm.suggestions.get(kind="performance").status == Suggestion.Status.REJECTED
    # A re-import with the same text: still not proposed.
    charm = _import("NCT06720727")
    assert not charm.suggestions.filter(kind="performance", status="proposed").exists()
    # The registry's text changes: read again, proposed again.
    text = charm.eligibility_text.replace("more than or equal to 70", "of 80 or higher")
    charm = _import("NCT06720727", eligibilityCriteria=text)
    again = charm.suggestions.get(kind="performance", status="proposed")
    assert again.value == {"type": "performance", "scale": "karnofsky", "min": 80}
    assert text[again.start : again.end] == "Karnofsky/Lansky Performance Score of 80 or higher"


def test_a_changed_text_drops_the_stale_spans_and_reads_them_again(charm, coordinator):
    old = {s.kind: (s.pk, s.start) for s in charm.suggestions.all()}
    accepted = _find(charm, "diagnosis")
    services.suggestion_accept(suggestion=accepted, by=coordinator, expected_version=charm.version)
    text = (
        "Inclusion Criteria:\n\n1. Signed consent\n"
        + charm.eligibility_text.split("Inclusion Criteria:\n\n", 1)[1]
    )
    charm = _import("NCT06720727", eligibilityCriteria=text)
    now = {s.kind: s for s in charm.suggestions.filter(status="proposed")}
    # The proposed ones were dropped and read again at their new offsets (shifted by the
    # new item, 19 characters); the accepted diagnosis is in the tree, not proposed again.
    assert "diagnosis" not in now
    for kind, s in now.items():
        assert s.pk != old[kind][0]
        assert s.start == old[kind][1] + len("1. Signed consent\n")
        assert text[s.start : s.end] == s.text
    assert charm.suggestions.get(pk=accepted.pk).status == Suggestion.Status.ACCEPTED


def test_an_empty_text_gives_no_suggestions_and_says_so(client, coordinator):
    t = _import("NCT06720727", eligibilityCriteria="")
    assert t.suggestions.count() == 0
    assert t.reading.status == "empty" and "No eligibility text" in t.reading.message
    sign_in(client, coordinator)
    body = client.get(f"/api/v1/trials/{t.pk}/suggestions/").json()
    assert body["results"] == [] and body["reading"]["status"] == "empty"
    assert "No eligibility text" in body["reading"]["message"]
    assert (
        "No eligibility text: nothing to read." in client.get(f"/trials/{t.pk}/").content.decode()
    )


def test_a_text_in_another_language_is_not_read():
    t = _import(
        "NCT06720727",
        eligibilityCriteria=(
            "Inklusjonskriterier:\n\n* Nydiagnostisert diffust midtlinjegliom hos barn som er "
            "mellom 3 og 18 år\n* Karnofsky eller Lansky minst 70 og ingen tidligere "
            "behandling med stråling"
        ),
    )
    assert t.suggestions.count() == 0
    assert t.reading.status == "not_read" and "Norwegian" in t.reading.message


def test_a_hand_made_trial_is_read_too(coordinator):
    t = services.trial_create(
        by=coordinator,
        brief_title="Local trial",
        overall_status="RECRUITING",
        eligibility_text="Inclusion Criteria:\n* Glioblastoma at first recurrence\n* KPS >= 70",
    )
    assert sorted(t.suggestions.values_list("kind", flat=True)) == [
        "diagnosis",
        "performance",
        "setting",
    ]


# --- API --------------------------------------------------------------------------------


def test_api_lists_accepts_and_rejects(client, charm, coordinator):
    sign_in(client, coordinator)
    url = f"/api/v1/trials/{charm.pk}/suggestions/"
    response = client.get(url)
    assert response.status_code == 200
    body = response.json()
    assert body["reading"]["status"] == "read" and body["count"] == 5
    listed = body["results"]
    assert len(listed) == 5
    kps = next(s for s in listed if s["kind"] == "performance")
    assert {"kind", "value", "polarity", "arm", "start", "end", "text", "confidence"} <= set(kps)
    assert kps["value"] == {"scale": "karnofsky", "min": 70}
    assert kps["polarity"] == "include" and kps["arm"] is None
    assert charm.eligibility_text[kps["start"] : kps["end"]] == kps["text"]
    # Accept edited, through the API.
    accepted = client.post(
        kps["accept_url"],
        {"version": charm.version, "value": {"scale": "karnofsky", "min": 60}},
        content_type="application/json",
    )
    assert accepted.status_code == 200, accepted.json()
    assert accepted.json()["status"] == "edited"
    # A stale version: 409 in the API's error shape.
    rt = next(s for s in listed if s["kind"] == "prior_treatment")
    stale = client.post(rt["reject_url"], {"version": 1}, content_type="application/json")
    assert stale.status_code == 409 and "message" in stale.json()
    charm.refresh_from_db()
    rejected = client.post(
        rt["reject_url"], {"version": charm.version}, content_type="application/json"
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    missing = client.post(kps["accept_url"], {}, content_type="application/json")
    assert missing.status_code == 400 and "version" in missing.json()["extra"]["fields"]
    proposed = client.get(url + "?status=proposed").json()["results"]
    assert [s["status"] for s in proposed] == ["proposed"] * 3


def test_api_refuses_other_roles(client, charm):
    sign_in(client, make_member(Role.CLINICIAN, with_totp=True))
    assert client.get(f"/api/v1/trials/{charm.pk}/suggestions/").status_code == 403


def test_the_suggestion_endpoints_are_in_the_openapi_schema(client, coordinator):
    sign_in(client, coordinator)
    schema = client.get("/api/schema/", {"format": "json"}).json()
    paths = schema["paths"]
    assert "get" in paths["/api/v1/trials/{id}/suggestions/"]
    assert "post" in paths["/api/v1/trials/{id}/suggestions/{n}/accept/"]
    assert "post" in paths["/api/v1/trials/{id}/suggestions/{n}/reject/"]


# --- Pages --------------------------------------------------------------------------------


def test_the_trial_page_highlights_the_spans_and_decides(client, charm, coordinator):
    sign_in(client, coordinator)
    page = client.get(f"/trials/{charm.pk}/").content.decode()
    kps = _find(charm, "performance", scale="karnofsky")
    assert f'id="span-{kps.pk}"' in page
    assert (
        f'data-suggestions="{kps.pk}">Karnofsky/Lansky Performance Score more than or equal to '
        "70</mark>"
    ) in page
    response = client.post(
        f"/trials/{charm.pk}/suggestions/{kps.pk}/accept/", {"version": charm.version}
    )
    assert response.status_code == 302
    kps.refresh_from_db()
    assert kps.status == "accepted"
    charm.refresh_from_db()
    edit = _find(charm, "setting")
    form = client.get(f"/trials/{charm.pk}/suggestions/{edit.pk}/edit/")
    assert form.status_code == 200 and 'name="value_setting"' in form.content.decode()
    response = client.post(
        f"/trials/{charm.pk}/suggestions/{edit.pk}/edit/",
        {
            "version": charm.version,
            "value_setting": "recurrent",
            "value_min_progressions": "1",
            "value_max_progressions": "1",
            "polarity": "include",
            "arm": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    edit.refresh_from_db()
    assert edit.status == "edited"
    assert edit.accepted_value == {
        "type": "setting",
        "setting": "recurrent",
        "min_progressions": 1,
        "max_progressions": 1,
    }
    page = client.get(f"/trials/{charm.pk}/").content.decode()
    assert "Confirmed from suggestions" in page and str(coordinator) in page


def test_the_list_takes_the_same_queries_for_few_or_many_suggestions(client, coordinator):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    few = _import("NCT06442748")  # 2 suggestions
    many = _import("NCT06720727")  # 5
    sign_in(client, coordinator)
    counts = []
    for t, expected in ((few, 2), (many, 5)):
        client.get(f"/api/v1/trials/{t.pk}/suggestions/")  # the reading is already stored
        with CaptureQueriesContext(connection) as queries:
            listed = client.get(f"/api/v1/trials/{t.pk}/suggestions/").json()["results"]
        assert len(listed) == expected
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_what_is_already_encoded_is_not_proposed(coordinator):
    from trials.models import Trial as T

    t = T.objects.create(
        nct_id="NCT90000001",
        brief_title="Encoded by hand",
        overall_status="RECRUITING",
        eligibility_text="Inclusion Criteria:\n* KPS >= 70\n* Glioblastoma",
        criteria=tree({"type": "performance", "scale": "karnofsky", "min": 70}),
    )
    services.suggestions_refresh(trial=t)
    assert list(t.suggestions.values_list("kind", flat=True)) == ["diagnosis"]


def test_suggest_criteria_reads_trials_not_read_yet():
    from io import StringIO

    from django.core.management import call_command

    from trials.models import Trial as T

    t = T.objects.create(
        nct_id="NCT90000002",
        brief_title="In the catalogue before suggestions",
        overall_status="RECRUITING",
        eligibility_text=(
            "Inclusion Criteria:\n* ECOG 0-1\n\nExclusion Criteria:\n* Prior bevacizumab"
        ),
    )
    T.objects.create(nct_id="NCT90000003", brief_title="No text", overall_status="RECRUITING")
    out = StringIO()
    call_command("suggest_criteria", stdout=out)
    assert t.suggestions.count() == 2
    assert "1 empty, 1 read" in out.getvalue()
    assert "2 suggested criteria wait for confirmation." in out.getvalue()
    call_command("suggest_criteria", "--all", stdout=StringIO())  # read again: no duplicates
    assert t.suggestions.count() == 2


def test_a_cohort_criterion_is_proposed_for_its_arm_and_accepted_into_it(coordinator):
    from trials.models import Trial as T
    from trials.models import TrialArm

    t = T.objects.create(
        nct_id="NCT90000004",
        brief_title="Two cohorts",
        overall_status="RECRUITING",
        eligibility_text=(
            "Inclusion Criteria:\n* Glioblastoma\n* Cohort A: first recurrence\n"
            "* Cohort B: newly diagnosed"
        ),
    )
    a = TrialArm.objects.create(trial=t, label="Cohort A: recurrent")
    b = TrialArm.objects.create(trial=t, label="Cohort B: newly diagnosed")
    services.suggestions_refresh(trial=t)
    recurrent = t.suggestions.get(kind="setting", arm=a)
    assert recurrent.value["setting"] == "recurrent"
    assert t.suggestions.get(kind="setting", arm=b).value["setting"] == "newly_diagnosed"
    assert t.suggestions.get(kind="diagnosis").arm is None
    services.suggestion_accept(suggestion=recurrent, by=coordinator, expected_version=t.version)
    a.refresh_from_db()
    t.refresh_from_db()
    assert a.criteria["criteria"]["all"] == [
        {"type": "setting", "setting": "recurrent", "min_progressions": 1, "max_progressions": 1}
    ]
    assert all(leaf.get("type") != "setting" for leaf in t.criteria["criteria"]["all"])


def test_the_trial_list_says_how_many_wait(client, charm, coordinator):
    sign_in(client, coordinator)
    page = client.get("/trials/").content.decode()
    # The link's hidden words name the trial, for a screen reader's list of links.
    name = charm.acronym or charm.brief_title
    assert (
        f'href="/trials/{charm.pk}/#suggestions">5 suggested'
        f'<span class="visually-hidden"> for {name}</span></a>'
    ) in page
