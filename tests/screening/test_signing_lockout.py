"""The password re-entered to sign a report counts as a sign-in attempt: after 5 wrong in 5
minutes the account is locked (signing and sign-in alike), the right password is refused
while it lasts, and every wrong or refused attempt is recorded for admins."""

import pytest
from django.test import Client

from consortium.models import FailedPasswordCheck, Role
from screening.models import Report
from tests.conftest import PASSWORD, make_member, sign_in
from tests.screening.factories import analysed, make_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return make_world(with_totp=True)


def api_draft(client, world):
    request, _, _ = analysed(world)
    sign_in(client, world.lab)
    draft = client.post(
        f"/api/v1/screening/requests/{request.pk}/reports/",
        {"interpretation": "Palbociclib stands out.", "top_drugs": 3},
        content_type="application/json",
    )
    assert draft.status_code == 200, draft.content
    return draft.json()


def test_ten_wrong_passwords_then_the_right_one_is_refused_while_locked(client, world):
    draft = api_draft(client, world)
    sign_url = f"/api/v1/screening/reports/{draft['id']}/sign/"
    answers = []
    for n in range(10):
        wrong = client.post(sign_url, {"password": f"guess {n}"}, content_type="application/json")
        assert wrong.status_code == 400
        answers.append(wrong.json()["extra"]["fields"]["password"][0])
    assert all("not right" in a for a in answers[:5])  # 5 per 5 minutes per account
    assert all("Too many wrong passwords" in a for a in answers[5:])

    right = client.post(sign_url, {"password": PASSWORD}, content_type="application/json")
    assert right.status_code == 400
    assert "Too many wrong passwords" in right.json()["extra"]["fields"]["password"][0]
    assert Report.objects.get(pk=draft["id"]).status == "draft"

    # The same lock as sign-in's: the account cannot sign in elsewhere either.
    elsewhere = Client().post("/accounts/login/", {"login": world.lab.email, "password": PASSWORD})
    assert b"Too many failed login attempts" in elsewhere.content

    checks = list(FailedPasswordCheck.objects.filter(user=world.lab).order_by("at", "pk"))
    assert [c.locked for c in checks] == [False] * 5 + [True] * 6
    assert checks[0].purpose == f"Signing screening report {draft['id']}"
    assert checks[0].ip == "127.0.0.1"


def test_a_right_password_does_not_wipe_the_count_of_wrong_ones(client, world):
    """allauth rolls back only the successful attempt itself (a guesser cannot reset the count
    with their own password in between)."""
    draft = api_draft(client, world)
    sign_url = f"/api/v1/screening/reports/{draft['id']}/sign/"
    for n in range(4):
        client.post(sign_url, {"password": f"guess {n}"}, content_type="application/json")
    signed = client.post(sign_url, {"password": PASSWORD}, content_type="application/json")
    assert signed.status_code == 200 and signed.json()["status"] == "released"
    assert FailedPasswordCheck.objects.filter(user=world.lab, locked=False).count() == 4


def test_the_signing_page_is_locked_the_same_way(client, world):
    request, _, _ = analysed(world)
    sign_in(client, world.lab)
    url = f"/screening/requests/{request.pk}/report/"
    client.post(url, {"action": "save", "interpretation": "Palbociclib.", "top_drugs": 5})
    draft = Report.objects.get(request=request)
    for n in range(5):
        wrong = client.post(
            url, {"action": "sign", "password": f"no {n}", "version": draft.version}
        )
        assert "The password is not right" in wrong.content.decode()
    right = client.post(url, {"action": "sign", "password": PASSWORD, "version": draft.version})
    assert right.status_code == 200 and "Too many wrong passwords" in right.content.decode()
    draft.refresh_from_db()
    assert draft.status == "draft"


def test_admins_read_the_failed_attempts_and_nobody_edits_them(client, world):
    draft = api_draft(client, world)
    client.post(
        f"/api/v1/screening/reports/{draft['id']}/sign/",
        {"password": "wrong"},
        content_type="application/json",
    )
    admin = make_member(Role.ADMIN, email="admin@example.no", with_totp=True)
    admin.is_staff = admin.is_superuser = True
    admin.save()
    admin_client = Client()
    sign_in(admin_client, admin)
    page = admin_client.get("/admin/consortium/failedpasswordcheck/")
    assert page.status_code == 200 and str(world.lab) in page.content.decode()
    check = FailedPasswordCheck.objects.get()
    assert admin_client.get(
        f"/admin/consortium/failedpasswordcheck/{check.pk}/delete/"
    ).status_code in (403, 302)
