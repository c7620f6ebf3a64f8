"""Monthly indicator reports by subscription: a member chooses indicators, a hospital of
their own (or the national report) and a region; once a month a thin task e-mails a link
to the past month's report, once per subscription and month, with no figures and no
patient data in the e-mail."""

import time
from datetime import date

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail

from consortium.celery import app as celery_app
from consortium.models import Institution, Role
from registry import indicator_subscriptions
from registry.models import IndicatorMailing, IndicatorReport, IndicatorSubscription, Patient
from registry.tasks import send_indicator_subscription, send_monthly_indicator_reports
from tests.conftest import make_member, sign_in
from tests.registry.test_indicator_pages import YEAR, cohort, snapshot

pytestmark = pytest.mark.django_db
PAGE = "/registry/indicators/subscriptions/"
API = "/api/v1/registry/indicator-subscriptions/"
NOVEMBER = date(YEAR, 11, 1)


@pytest.fixture
def register():
    cohort({"OUS": (7, 3), "HUS": (2, 1), "SUS": (6, 6)})
    return snapshot()


def test_subscribing_in_the_browser_and_the_api(client):
    member = make_member(Role.CLINICIAN, institutions=("HUS",), with_totp=True)
    sign_in(client, member)
    assert 'id="subscription-form"' in client.get(PAGE).content.decode()
    made = client.post(
        PAGE, {"institution": "HUS", "region": "west", "indicators": ["postop_mri_72h", "coverage"]}
    )
    assert made.status_code == 302
    subscription = IndicatorSubscription.objects.get(user=member)
    # Kept in the catalogue's order.
    assert subscription.indicators == ["coverage", "postop_mri_72h"]
    assert "Reports submitted as complete" in client.get(PAGE).content.decode()
    # Another hospital's report is refused; a bad choice is named by its field.
    assert client.post(PAGE, {"institution": "OUS"}).status_code == 403
    bad = client.post(PAGE, {"indicators": ["nonsense"], "region": "mars"})
    assert bad.status_code == 400
    assert "indicators: No such indicator: nonsense" in bad.content.decode()
    assert "region: One of" in bad.content.decode()
    # The same report twice is refused.
    again = client.post(PAGE, {"institution": "HUS", "region": "west"})
    assert again.status_code == 400 and "already subscribe" in again.content.decode()
    # The API: the national report with every indicator.
    answer = client.post(API, {"institution": "", "indicators": []}, "application/json")
    assert answer.status_code == 201, answer.content
    assert answer.json()["institution"] == "" and answer.json()["indicators"] == []
    listed = client.get(API).json()
    assert {s["institution"] for s in listed["results"]} == {"HUS", ""}
    refused = client.post(API, {"indicators": ["x"]}, "application/json")
    assert refused.status_code == 400 and "indicators" in refused.json()["extra"]["fields"]
    # Ending one, in the API and on the page; another member's is not found.
    assert client.delete(f"{API}{answer.json()['id']}/").status_code == 204
    other = make_member(Role.CLINICIAN, institutions=("OUS",), email="o@example.no")
    theirs = IndicatorSubscription.objects.create(user=other)
    assert client.delete(f"{API}{theirs.pk}/").status_code == 404
    assert client.post(f"{PAGE}{theirs.pk}/delete/").status_code == 404
    assert client.post(f"{PAGE}{subscription.pk}/delete/").status_code == 302
    assert list(IndicatorSubscription.objects.values_list("user", flat=True)) == [other.pk]


def test_the_monthly_mail_is_a_link_sent_once_a_month(register):
    member = make_member(Role.CLINICIAN, institutions=("HUS",), email="hus1@example.no")
    colleague = make_member(Role.CLINICIAN, institutions=("HUS",), email="hus2@example.no")
    mine = IndicatorSubscription.objects.create(
        user=member,
        institution=Institution.objects.get(code="HUS"),
        indicators=["coverage", "postop_mri_72h"],
    )
    theirs = IndicatorSubscription.objects.create(
        user=colleague, institution=Institution.objects.get(code="HUS")
    )
    assert send_indicator_subscription.apply(args=[mine.pk, NOVEMBER.isoformat()]).get() is True
    # Again the same month (beat twice, a redelivered task): nothing more.
    assert send_indicator_subscription.apply(args=[mine.pk, NOVEMBER.isoformat()]).get() is False
    assert send_indicator_subscription.apply(args=[theirs.pk, NOVEMBER.isoformat()]).get() is True
    assert [m.to for m in mail.outbox] == [[member.email], [colleague.email]]
    # One report of HUS for November, shared, finished.
    report = IndicatorReport.objects.get(month=11)
    assert (report.year, report.institution.code, report.status) == (YEAR, "HUS", "done")
    body = mail.outbox[0].body
    assert f"/registry/indicators/reports/{report.pk}/" in body
    assert f"/registry/indicators/?year={YEAR}#coverage" in body
    assert "#postop_mri_72h" in body and "#gbm_survival_1y" not in body
    assert "November" in mail.outbox[0].subject
    # No figures and no patient in it: no percent, no count of the cohort, no register number.
    assert "%" not in body and " 2 of 3" not in body
    for p in Patient.objects.all():
        assert p.register_number not in body and p.national_id not in body
    assert IndicatorMailing.objects.filter(month=NOVEMBER).count() == 2
    # Each subscriber's inbox has the report ready, once, linked to the report.
    from consortium.models import InboxItem

    ready = InboxItem.objects.filter(kind="report_ready").order_by("recipient_id")
    assert [(i.recipient, i.url) for i in ready] == [
        (m, f"/registry/indicators/reports/{report.pk}/")
        for m in sorted([member, colleague], key=lambda u: u.pk)
    ]
    # A member who has left the hospital gets nothing.
    member.institutions.clear()
    assert send_indicator_subscription.apply(args=[mine.pk, "2026-12-01"]).get() is False


def test_the_month_covered_is_the_past_one():
    assert indicator_subscriptions.past_month(date(2027, 1, 1)) == date(2026, 12, 1)
    assert indicator_subscriptions.past_month(date(2026, 12, 1)) == date(2026, 11, 1)
    assert indicator_subscriptions.past_month(date(2026, 3, 31)) == date(2026, 2, 1)


@pytest.mark.django_db(transaction=True)
def test_the_monthly_beat_task_mails_every_subscriber_through_a_real_worker(settings):
    from django.conf import settings as live

    assert (
        live.CELERY_BEAT_SCHEDULE["registry-monthly-indicator-reports"]["task"]
        == "registry.tasks.send_monthly_indicator_reports"
    )
    cohort({"OUS": (1, 1)})
    snapshot()
    national = make_member(Role.RESEARCHER, institutions=("UIO-ICR",), email="r@example.no")
    IndicatorSubscription.objects.create(user=national, region="south_east")
    with start_worker(celery_app, perform_ping_check=False, pool="solo", concurrency=1):
        assert send_monthly_indicator_reports.delay().get(timeout=30) == 1
        deadline = time.monotonic() + 60
        while not IndicatorMailing.objects.exists():
            assert time.monotonic() < deadline, "timed out waiting for the worker"
            time.sleep(0.2)
    assert [m.to for m in mail.outbox] == [[national.email]]
    assert "region=south_east" in mail.outbox[0].body
    assert IndicatorReport.objects.get().institution is None
