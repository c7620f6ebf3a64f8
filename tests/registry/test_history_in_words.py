"""The patient's history in words: member names for members, choice labels for stored keys,
Yes/No for booleans, Norwegian local times (Europe/Oslo, dd.mm.yyyy HH:MM) for instants,
daylight saving time included, and quantities in their unit, as on the patient's card."""

import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from consortium.formats import StoredValues
from consortium.models import AccessLog, Role
from registry import services
from registry.models import RadiotherapyCourse, Surgery, TumourEpisode
from tests.conftest import make_member, sign_in
from tests.registry.factories import (
    complete_episode,
    fast_password_hashing,
    gbm_episode,
    make_patient,
)

__all__ = ["fast_password_hashing"]

pytestmark = pytest.mark.django_db

NBSP = "\u00a0"


@pytest.fixture
def clinician():
    member = make_member(Role.CLINICIAN, email="kari@ous.no", with_totp=True)
    member.full_name = "Kari Lege"
    member.save(update_fields=["full_name"])
    return member


def _cells(html: str) -> str:
    """The history table's text, tags dropped and whitespace squeezed."""
    table = html[html.index('<table class="list history">') :]
    return re.sub(r"[ \t\r\n]+", " ", re.sub(r"<[^>]+>", " ", table))  # U+00A0 stays


def _submitted_history(client, clinician):
    patient = make_patient(clinician)
    episode = complete_episode(patient, clinician, diagnosis_date=date(2026, 3, 20))
    surgery = episode.surgeries.get()
    # The MRI half an hour after midnight UTC on the night summer time began (29 March 2026,
    # clocks from 02:00 to 03:00 at 01:00 UTC): 01:30 in Oslo still on CET (UTC+1).
    services.section_save(
        section="surgeries",
        episode=episode,
        by=clinician,
        row=surgery,
        expected_version=surgery.version,
        postoperative_mri_at=datetime(2026, 3, 29, 0, 30, tzinfo=UTC),
        reason="MRI time corrected",
        acknowledge=True,
    )
    services.section_save(
        section="radiotherapy",
        episode=episode,
        by=clinician,
        start_date=date(2026, 4, 20),
        end_date=date(2026, 6, 5),
        total_dose_gy=Decimal("59.4"),
        fractions=33,
        acknowledge=True,
    )
    episode.refresh_from_db()
    services.episode_submit(episode=episode, by=clinician)
    sign_in(client, clinician)
    response = client.get(f"{patient.get_absolute_url()}history/")
    assert response.status_code == 200
    return patient, episode, response.content.decode()


def test_it_names_the_member_who_completed_the_report(client, clinician):
    _, _, html = _submitted_history(client, clinician)
    text = _cells(html)
    assert "completed by : – → Kari Lege" in text
    assert f"completed by : {clinician.pk} " not in text
    # The row's own links (to the episode, to the patient) stay out, by column name too.
    assert "episode :" not in text and "patient :" not in text


def test_it_shows_choice_labels_and_yes_no_not_stored_keys(client, clinician):
    _, _, html = _submitted_history(client, clinician)
    text = _cells(html)
    assert "extent of resection : Gross total resection" in text
    assert "gross_total" not in text
    assert "reoperation : No" in text
    assert "status : Draft → Complete" in text
    assert "True" not in text and "False" not in text


def test_it_shows_instants_in_oslo_time_across_the_summer_time_change(client, clinician):
    _, episode, html = _submitted_history(client, clinician)
    text = _cells(html)
    # Stored 20:00 Oslo on 20.03.2026 (CET, UTC+1) by the factory = 19:00 UTC; then corrected
    # to 00:30 UTC on 29.03.2026, 01:30 CET: worked out by hand from the offsets.
    assert "postoperative MRI : 20.03.2026 20:00 → 29.03.2026 01:30" in text
    assert "T19:00:00" not in text and "+00:00" not in text
    # The completion time as the page's time says it: Oslo time, Norwegian style.
    completed = TumourEpisode.objects.get(pk=episode.pk).completed_at
    from django.utils import timezone

    local = timezone.localtime(completed)
    assert f"completed at : – → {local:%d.%m.%Y %H:%M}" in text


def test_it_shows_the_dose_as_the_card_does(client, clinician):
    patient, _, html = _submitted_history(client, clinician)
    assert f"total dose (Gy) : 59,4{NBSP}Gy" in _cells(html)
    card = client.get(patient.get_absolute_url()).content.decode()
    assert f"59,4{NBSP}Gy / 33 fractions (1,80{NBSP}Gy per fraction)" in card
    assert f"Radiotherapy 59,4{NBSP}Gy / 33 fractions, until 05.06.2026" in card
    assert RadiotherapyCourse.objects.get().total_dose_gy == Decimal("59.40")


def test_the_breadcrumb_dates_the_episode_in_norwegian_style(client, clinician):
    patient = make_patient(clinician)
    episode = gbm_episode(patient, clinician, diagnosis_date=date(2026, 3, 20))
    sign_in(client, clinician)
    page = client.get(f"{patient.get_absolute_url()}episodes/{episode.pk}/radiotherapy/new/")
    assert page.status_code == 200
    crumbs = re.search(r'<p class="crumbs">(.*?)</p>', page.content.decode(), re.S).group(1)
    assert "Glioblastoma, IDH-wildtype (20.03.2026)" in crumbs
    assert "2026-03-20" not in crumbs


def test_the_history_page_counts_its_queries_once_per_related_model(
    client, clinician, django_assert_max_num_queries
):
    patient, _, _ = _submitted_history(client, clinician)
    url = f"{patient.get_absolute_url()}history/"
    client.get(url)
    with django_assert_max_num_queries(20) as captured:
        client.get(url)
    member_reads = [q for q in captured.captured_queries if 'FROM "consortium_user"' in q["sql"]]
    # The signed-in member (session) and one in_bulk for every member named in the history.
    assert len(member_reads) <= 3


def test_stored_times_dates_and_booleans_read_as_people_write_them():
    values = StoredValues()
    assert values.words(Surgery, "surgery_end_time", "08:00:00") == "08:00"
    assert values.words(Surgery, "reoperation", True) == "Yes"
    assert values.words(Surgery, "surgery_date", "2026-10-21") == "21.10.2026"
    assert values.words(TumourEpisode, "mdt_dates", ["2026-10-21", "2026-11-04"]) == (
        "21.10.2026, 04.11.2026"
    )
    assert values.words(TumourEpisode, "trial_offered", "") == "–"


def test_the_api_keeps_plain_numbers_and_iso_times(client, clinician):
    _, episode, _ = _submitted_history(client, clinician)
    courses = client.get(f"/api/v1/registry/episodes/{episode.pk}/radiotherapy/").json()
    rows = courses["results"] if isinstance(courses, dict) else courses
    assert rows[0]["total_dose_gy"] == "59.40"  # DRF's decimal string: a point, no grouping
    surgeries = client.get(f"/api/v1/registry/episodes/{episode.pk}/surgeries/").json()
    rows = surgeries["results"] if isinstance(surgeries, dict) else surgeries
    assert rows[0]["extent_of_resection"] == "gross_total"  # the stored key, for programs
    assert rows[0]["postoperative_mri_at"].startswith("2026-03-29T01:30:00+01:00")


def test_the_history_api_gives_stored_values_beside_the_words(client, clinician):
    patient, episode, _ = _submitted_history(client, clinician)
    response = client.get(f"/api/v1/registry/patients/{patient.register_number}/history/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == len(body["results"])  # one page: the list envelope
    entries = body["results"]
    submitted = next(e for e in entries if e["reason"] == "Submitted as complete")
    assert submitted["who"] == "Kari Lege" and submitted["who_id"] == clinician.pk
    assert submitted["record"] == "registry.TumourEpisode" and submitted["action"] == "update"
    changes = {c["field"]: c for c in submitted["changes"]}
    assert changes["completed_by"]["new"] == clinician.pk  # the id, for programs
    assert changes["completed_by"]["new_text"] == "Kari Lege"
    assert changes["status"] == {
        "field": "status",
        "label": "status",
        "old": "draft",
        "new": "complete",
        "old_text": "Draft",
        "new_text": "Complete",
    }
    course = next(e for e in entries if e["record"] == "registry.RadiotherapyCourse")
    dose = next(c for c in course["changes"] if c["field"] == "total_dose_gy")
    assert dose["new"] == 59.4 and dose["new_text"] == f"59,4{NBSP}Gy"
    assert AccessLog.objects.filter(
        user=clinician, patient_id=patient.pk, page="api:registry_patient_history"
    ).exists()


def test_the_history_api_hides_names_from_those_who_see_none(client, clinician):
    patient, _, _ = _submitted_history(client, clinician)
    client.logout()
    coordinator = make_member(Role.COORDINATOR, email="koord@ous.no", with_totp=True)
    sign_in(client, coordinator)
    page = client.get(f"{patient.get_absolute_url()}history/").content.decode()
    url = f"/api/v1/registry/patients/{patient.register_number}/history/"
    entries = client.get(url).json()["results"]
    fields = {c["field"] for e in entries for c in e["changes"]}
    assert "full_name" not in fields and "national_id" not in fields
    assert patient.full_name not in page and patient.full_name not in str(entries)
