"""The hospital worklist: completeness shares, the incomplete reports oldest first, and
the digest e-mail to clinicians (register numbers only, never names or national IDs)."""

from datetime import date, timedelta

import pytest

from consortium.models import Role
from registry import selectors, services
from tests.registry.factories import (  # noqa: F401 - fast_password_hashing is an autouse fixture
    clinician,
    complete_episode,
    days_ago,
    fast_password_hashing,
    institutions,
    make_episode,
    make_patient,
    member,
    today,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def clin(db):
    return clinician("OUS")


def submitted_episode(patient, by, diagnosed: date):
    episode = complete_episode(patient, by, diagnosis_date=diagnosed)
    return services.episode_submit(episode=episode, by=by)


def last_year() -> date:
    return date(today().year - 1, 6, 15)


# --- Completeness -------------------------------------------------------------------------------


def test_completeness_this_year_and_overall(clin):
    (ous,) = institutions("OUS")
    hus_clinician = clinician("HUS")
    # OUS this year: 3 reports, 1 complete. Earlier: 2 reports, both complete. One undated draft.
    submitted_episode(make_patient(clin, full_name="A"), clin, today())
    make_episode(make_patient(clin, full_name="B"), clin, diagnosis_date=today())
    make_episode(make_patient(clin, full_name="C"), clin, diagnosis_date=today())
    submitted_episode(make_patient(clin, full_name="D"), clin, last_year())
    submitted_episode(make_patient(clin, full_name="E"), clin, date(today().year - 3, 2, 1))
    make_episode(make_patient(clin, full_name="F"), clin)
    # Another hospital's complete report does not count for OUS.
    submitted_episode(
        make_patient(hus_clinician, institution_codes=("HUS",), full_name="G"),
        hus_clinician,
        today(),
    )
    figures = selectors.completeness(ous)
    assert figures["year"] == today().year
    assert (figures["year_complete"], figures["year_total"]) == (1, 3)
    assert (figures["complete"], figures["total"]) == (3, 6)
    assert figures["year_share"] == pytest.approx(33.3, abs=0.05)
    assert figures["share"] == pytest.approx(50.0)


def test_completeness_of_a_hospital_without_reports_has_no_share(db):
    figures = selectors.completeness(institutions("SUS")[0])
    assert figures["total"] == 0 and figures["share"] is None and figures["year_share"] is None


def test_a_reopened_report_no_longer_counts_as_complete(clin):
    episode = submitted_episode(make_patient(clin), clin, today())
    (ous,) = institutions("OUS")
    assert selectors.completeness(ous)["share"] == pytest.approx(100.0)
    services.episode_reopen(
        episode=episode, by=member(Role.COORDINATOR, "OUS"), reason="Grade revised"
    )
    assert selectors.completeness(ous)["share"] == pytest.approx(0.0)


# --- Incomplete reports -------------------------------------------------------------------------


def test_incomplete_reports_oldest_diagnosis_first(clin):
    recent = make_episode(make_patient(clin, full_name="Recent"), clin, diagnosis_date=days_ago(10))
    oldest = make_episode(
        make_patient(clin, full_name="Oldest"), clin, diagnosis_date=days_ago(300)
    )
    middle = make_episode(
        make_patient(clin, full_name="Middle"), clin, diagnosis_date=days_ago(100)
    )
    submitted_episode(make_patient(clin, full_name="Done"), clin, days_ago(400))
    hus_clinician = clinician("HUS")
    make_episode(
        make_patient(hus_clinician, institution_codes=("HUS",)),
        hus_clinician,
        diagnosis_date=days_ago(500),
    )
    (ous,) = institutions("OUS")
    assert list(selectors.incomplete_episodes(ous)) == [oldest, middle, recent]


def test_undated_reports_come_first(clin):
    dated = make_episode(make_patient(clin, full_name="Dated"), clin, diagnosis_date=days_ago(300))
    undated = make_episode(make_patient(clin, full_name="Undated"), clin)
    (ous,) = institutions("OUS")
    assert list(selectors.incomplete_episodes(ous)) == [undated, dated]


# --- The digest e-mail --------------------------------------------------------------------------


def test_each_clinician_gets_one_digest_with_register_numbers_only(clin, mailoutbox):
    colleague = clinician("OUS")
    first = make_patient(clin, full_name="Ingrid Ødegård")
    second = make_patient(clin, institution_codes=("OUS", "UNN"), full_name="Ola Fjeld")
    make_episode(first, clin, diagnosis_date=days_ago(30))
    make_episode(second, clin, diagnosis_date=days_ago(90))
    done = make_patient(clin, full_name="Ferdig Pasient")
    submitted_episode(done, clin, days_ago(60))
    hus_clinician = clinician("HUS")
    elsewhere = make_patient(hus_clinician, institution_codes=("HUS",), full_name="Bergen Pasient")
    make_episode(elsewhere, hus_clinician, diagnosis_date=days_ago(20))

    assert services.worklist_digest_send(user_id=clin.pk) == 2
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == [clin.email]
    body = mail.subject + "\n" + mail.body
    assert first.register_number in body and second.register_number in body
    assert done.register_number not in body and elsewhere.register_number not in body
    assert body.index(second.register_number) < body.index(first.register_number)  # oldest first
    for patient in (first, second):
        assert patient.national_id not in body
        assert patient.masked_national_id not in body
        for part in patient.full_name.split():
            assert part not in body

    services.worklist_digest_send(user_id=colleague.pk)
    assert len(mailoutbox) == 2 and mailoutbox[1].to == [colleague.email]


def test_no_digest_without_open_items(clin, mailoutbox):
    assert services.worklist_digest_send(user_id=clin.pk) == 0
    submitted_episode(make_patient(clin), clin, days_ago(60))
    assert services.worklist_digest_send(user_id=clinician("OUS").pk) == 0
    assert mailoutbox == []


def test_one_digest_a_day_even_when_sent_twice(clin, mailoutbox):
    make_episode(make_patient(clin), clin, diagnosis_date=days_ago(30))
    assert services.worklist_digest_send(user_id=clin.pk, day=today()) == 1
    assert services.worklist_digest_send(user_id=clin.pk, day=today()) == 0
    assert len(mailoutbox) == 1
    assert services.worklist_digest_send(user_id=clin.pk, day=today() + timedelta(days=1)) == 1
    assert len(mailoutbox) == 2


def test_no_digest_for_another_hospitals_open_items(mailoutbox):
    hus_clinician = clinician("HUS")
    make_episode(make_patient(hus_clinician, institution_codes=("HUS",)), hus_clinician)
    assert services.worklist_digest_send(user_id=clinician("UNN").pk) == 0
    assert mailoutbox == []
