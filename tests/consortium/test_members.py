"""Members are invited, never sign up: by an admin in the browser or with add_member."""

import io
import re

import pytest
from django.core import mail
from django.core.management import CommandError, call_command

from consortium.models import Institution, Role, User
from tests.conftest import make_member, sign_in

pytestmark = pytest.mark.django_db


def test_add_member_prints_a_one_time_link_that_sets_the_password(client):
    out = io.StringIO()
    call_command(
        "add_member",
        "new.clinician@ous.no",
        "--role",
        "clinician",
        "--institution",
        "OUS",
        "--institution",
        "HUS",
        stdout=out,
    )
    user = User.objects.get(email="new.clinician@ous.no")
    assert user.role == Role.CLINICIAN and not user.has_usable_password()
    assert sorted(user.institutions.values_list("code", flat=True)) == ["HUS", "OUS"]
    link = re.search(r"http://\S+", out.getvalue()).group(0)
    path = link.removeprefix("http://127.0.0.1:8000")

    form_page = client.get(path, follow=True)
    assert form_page.status_code == 200
    set_password_url = form_page.redirect_chain[-1][0]
    new_password = "a long passphrase for NBTC 2026"
    client.post(set_password_url, {"password1": new_password, "password2": new_password})
    user.refresh_from_db()
    assert user.check_password(new_password)

    again = client.get(path, follow=True)  # the link works once
    assert b"Bad Token" in again.content or b"invalid" in again.content.lower()


def test_add_member_names_the_unknown_institution_and_the_duplicate():
    with pytest.raises(CommandError, match="Unknown institution code XYZ"):
        call_command("add_member", "a@b.no", "--role", "clinician", "--institution", "XYZ")
    call_command(
        "add_member", "a@b.no", "--role", "clinician", "--institution", "OUS", stdout=io.StringIO()
    )
    with pytest.raises(CommandError, match="email: a@b.no is already a member"):
        call_command("add_member", "A@b.no", "--role", "researcher", "--institution", "OUS")


def test_an_admin_invites_a_member_in_the_browser_and_an_email_goes_out(
    client, django_capture_on_commit_callbacks
):
    admin = make_member(Role.ADMIN, with_totp=True)
    sign_in(client, admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/members/invite/",
            {
                "email": "lab.person@uib.no",
                "full_name": "Lab Person",
                "role": "lab_scientist",
                "institutions": [Institution.objects.get(code="UIB-LAB").pk],
            },
            follow=True,
        )
    assert response.status_code == 200 and b"invited" in response.content
    invited = User.objects.get(email="lab.person@uib.no")
    assert invited.role == Role.LAB_SCIENTIST
    assert len(mail.outbox) == 1 and "/accounts/password/reset/key/" in mail.outbox[0].body


def test_an_invite_without_an_institution_names_the_field(client):
    admin = make_member(Role.ADMIN, with_totp=True)
    sign_in(client, admin)
    response = client.post("/members/invite/", {"email": "x@y.no", "role": "clinician"})
    assert "institutions" in response.context["form"].errors
    assert not User.objects.filter(email="x@y.no").exists()
