"""Coordinators and admins edit the directory with history; members suggest corrections."""

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail

from consortium.celery import app as celery_app
from consortium.models import DirectorySuggestion, NetworkGroup
from consortium.services import EditConflict, group_update, suggestion_create
from consortium.tasks import notify_directory_editors

pytestmark = pytest.mark.django_db


def edit_form(group, **changes):
    data = {
        "name": group.name,
        "acronym": group.acronym,
        "category": group.category_id,
        "cancer_types": group.cancer_types,
        "scope": group.scope,
        "participants": group.participants,
        "countries": ",".join(group.countries),
        "associate_countries": ",".join(group.associate_countries),
        "focus": group.focus,
        "key_activities": group.key_activities,
        "website_url": group.website_url,
        "website_label": group.website_label,
        "version": group.version,
    }
    data.update(changes)
    return data


def test_a_coordinator_edits_a_group_and_the_change_is_in_its_history(
    coordinator_client, coordinator, directory
):
    group = NetworkGroup.objects.get(acronym="NLG")
    response = coordinator_client.post(
        f"/directory/{group.slug}/edit/",
        edit_form(group, focus="Lymphoma trials", countries="no, se, dk, fi, is"),
    )
    assert response.status_code == 302
    group.refresh_from_db()
    assert group.focus == "Lymphoma trials" and group.countries == ["DK", "FI", "IS", "NO", "SE"]
    assert group.version == 2
    latest = group.events.order_by("-pgh_id").first()
    assert latest.focus == "Lymphoma trials"
    assert latest.pgh_context.metadata["user"] == coordinator.pk
    page = coordinator_client.get(f"/directory/{group.slug}/").content.decode()
    assert "History" in page and "member #" not in page
    # In words: the member's name, what changed from what to what, in Oslo time.
    history = page[page.index("<h2>History</h2>") :]
    assert f"<td>{coordinator.full_name}</td>" in history
    assert "<b>focus</b>:" in history and "Lymphoma trials</li>" in history
    assert "Network group changed" in history
    from consortium.formats import local_datetime

    assert local_datetime(latest.pgh_created_at) in history


def test_a_bad_country_code_names_the_field_and_the_rule(coordinator_client, directory):
    group = NetworkGroup.objects.get(acronym="NLG")
    response = coordinator_client.post(
        f"/directory/{group.slug}/edit/", edit_form(group, countries="Norway")
    )
    assert response.status_code == 200
    assert "NORWAY is not an ISO 3166 alpha-2 code" in str(
        response.context["form"].errors["countries"]
    )
    group.refresh_from_db()
    assert group.version == 1


def test_a_conflicting_concurrent_edit_is_refused_not_overwritten(
    coordinator_client, coordinator, directory
):
    group = NetworkGroup.objects.get(acronym="NLG")
    stale = edit_form(group, focus="Written from an old page")
    group_update(group=group, by=coordinator, expected_version=1, focus="Saved first")
    response = coordinator_client.post(f"/directory/{group.slug}/edit/", stale)
    assert response.status_code == 200
    assert "changed by someone else" in str(response.context["form"].non_field_errors())
    group.refresh_from_db()
    assert group.focus == "Saved first"
    with pytest.raises(EditConflict):
        group_update(group=group, by=coordinator, expected_version=1, focus="again stale")


def test_a_researcher_cannot_edit_but_can_suggest_a_correction(
    researcher_client, researcher, directory, django_capture_on_commit_callbacks
):
    group = NetworkGroup.objects.get(acronym="NLG")
    assert (
        researcher_client.post(
            f"/directory/{group.slug}/edit/", edit_form(group, focus="x")
        ).status_code
        == 403
    )
    with django_capture_on_commit_callbacks() as callbacks:
        response = researcher_client.post(
            f"/directory/{group.slug}/suggest/", {"message": "Iceland joined in 2025."}
        )
    assert response.status_code == 302
    assert DirectorySuggestion.objects.get().suggested_by == researcher
    assert len(callbacks) == 1  # the editors' notification is queued after commit


def test_a_coordinator_resolves_a_suggestion(coordinator_client, researcher, directory):
    group = NetworkGroup.objects.get(acronym="NLG")
    suggestion = DirectorySuggestion.objects.create(
        group=group, suggested_by=researcher, message="Fix focus"
    )
    page = coordinator_client.get("/directory/suggestions/")
    assert b"Fix focus" in page.content
    coordinator_client.post(
        f"/directory/suggestions/{suggestion.pk}/resolve/", {"status": "applied", "note": "done"}
    )
    suggestion.refresh_from_db()
    assert suggestion.status == "applied" and suggestion.resolution_note == "done"


def test_the_notification_task_mails_editors_once(coordinator, researcher, directory):
    group = NetworkGroup.objects.get(acronym="NLG")
    suggestion = DirectorySuggestion.objects.create(
        group=group, suggested_by=researcher, message="Fix"
    )
    assert notify_directory_editors.apply(args=[suggestion.pk]).get() == 1
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [coordinator.email]
    assert notify_directory_editors.apply(args=[suggestion.pk]).get() == 0  # a retry mails no one
    assert len(mail.outbox) == 1
    from consortium.models import InboxItem

    item = InboxItem.objects.get()
    assert (item.recipient, item.kind, item.url) == (
        coordinator,
        "directory",
        "/directory/suggestions/",
    )


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_takes_the_notification_from_redis(coordinator, researcher, seed_text):
    from consortium.services import directory_import

    directory_import(text=seed_text, source="seed")
    group = NetworkGroup.objects.get(acronym="NLG")
    with start_worker(celery_app, perform_ping_check=False, pool="solo", concurrency=1):
        suggestion = suggestion_create(group=group, by=researcher, message="Via the broker")
        result = notify_directory_editors.delay(suggestion.pk)
        result.get(timeout=30)
    suggestion.refresh_from_db()
    assert suggestion.notified_at is not None
    assert any("Via the broker" in m.body for m in mail.outbox)
