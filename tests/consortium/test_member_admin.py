"""Admins invite members (the one-time link by e-mail only, roles that fit the institution's
kind) and see and end their access: the members list's two-factor status and last sign-in,
deactivation that ends sessions and API tokens at once, and reactivation. Page and API."""

import re

import pytest
from allauth.usersessions.models import UserSession
from django.core import mail
from pghistory.models import Events

from consortium.models import ApiToken, Institution, Role, User
from consortium.services import api_token_create
from tests.conftest import PASSWORD, make_member, sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    admin = make_member(Role.ADMIN, email="admin@nbtc.no", with_totp=True)
    sign_in(client, admin)
    client.admin = admin
    return client


def pk(code: str) -> int:
    return Institution.objects.get(code=code).pk


def invite(client, **fields):
    data = {"email": "new@uib.no", "full_name": "New Person", "role": "lab_scientist"}
    data.update(fields)
    return client.post("/members/invite/", data, follow=True)


# --- Invitations ------------------------------------------------------------------------


def test_the_invitation_link_goes_by_email_only_and_the_form_starts_empty(
    admin_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = invite(admin_client, institutions=[pk("UIB-LAB")])
    page = response.content.decode()
    assert response.redirect_chain == [("/members/invite/", 302)]
    assert "new@uib.no is invited" in page
    link = re.search(r"http://\S+/accounts/password/reset/key/\S+", mail.outbox[0].body).group(0)
    key = link.rsplit("/key/", 1)[1]
    assert key not in page and "/accounts/password/reset/key/" not in page
    # Cleared: no field keeps what was typed.
    assert 'value="new@uib.no"' not in page and 'value="New Person"' not in page
    assert "checked" not in page


def test_a_lab_scientist_at_a_hospital_is_refused_naming_the_institution(admin_client):
    response = invite(admin_client, institutions=[pk("OUS")])
    errors = response.context["form"].errors
    assert "screening lab" in errors["institutions"][0] and "OUS" in errors["institutions"][0]
    assert not User.objects.filter(email="new@uib.no").exists()


def test_a_clinician_at_a_lab_is_refused(admin_client):
    response = invite(admin_client, role="clinician", institutions=[pk("UIB-LAB")])
    assert "hospital" in response.context["form"].errors["institutions"][0]


def test_a_researcher_at_a_hospital_is_asked_to_confirm_then_invited(admin_client):
    response = invite(admin_client, role="researcher", institutions=[pk("OUS")])
    form = response.context["form"]
    assert "usually works at a research institute" in form.errors["confirm_unusual"][0]
    assert 'type="checkbox" name="confirm_unusual"' in response.content.decode()
    assert not User.objects.filter(email="new@uib.no").exists()
    invite(admin_client, role="researcher", institutions=[pk("OUS")], confirm_unusual="on")
    assert User.objects.get(email="new@uib.no").role == Role.RESEARCHER


def test_the_api_invites_without_telling_the_link(admin_client, django_capture_on_commit_callbacks):
    url = "/api/v1/members/"
    refused = admin_client.post(
        url,
        {"email": "x@uib.no", "role": "lab_scientist", "institutions": ["OUS"]},
        content_type="application/json",
    )
    assert refused.status_code == 400 and "institutions" in refused.json()["extra"]["fields"]
    ask = admin_client.post(
        url,
        {"email": "r@uib.no", "role": "researcher", "institutions": ["HUS"]},
        content_type="application/json",
    )
    assert ask.status_code == 400 and "confirm_unusual" in ask.json()["extra"]["fields"]
    with django_capture_on_commit_callbacks(execute=True):
        done = admin_client.post(
            url,
            {"email": "lab@uib.no", "role": "lab_scientist", "institutions": ["UIB-LAB"]},
            content_type="application/json",
        )
    assert done.status_code == 201, done.content
    body = done.content.decode()
    assert "/accounts/password/reset/key/" not in body and "link" not in done.json()
    assert done.json()["mfa_enabled"] is False and done.json()["last_login"] is None
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["lab@uib.no"]


def test_only_admins_invite_through_the_api(client):
    coordinator = make_member(Role.COORDINATOR, with_totp=True)
    sign_in(client, coordinator)
    response = client.post(
        "/api/v1/members/",
        {"email": "lab@uib.no", "role": "lab_scientist", "institutions": ["UIB-LAB"]},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert not User.objects.filter(email="lab@uib.no").exists()


# --- The members list: two-factor status and last sign-in -------------------------------


def test_the_members_list_shows_two_factor_status_and_last_sign_in(admin_client, client):
    with_mfa = make_member(Role.CLINICIAN, email="mfa@ous.no", with_totp=True)
    without = make_member(Role.COORDINATOR, email="nomfa@ous.no")
    page = admin_client.get("/members/").content.decode()

    def row(member):
        return page.split(f'id="member-{member.pk}"', 1)[1].split("</tr>", 1)[0]

    assert "<td>on</td>" in row(with_mfa)
    assert "not set up" in row(without) and "never" in row(without)
    api = {m["email"]: m for m in admin_client.get("/api/v1/members/").json()["results"]}
    assert api["mfa@ous.no"]["mfa_enabled"] is True
    assert api["nomfa@ous.no"]["mfa_enabled"] is False
    assert api["admin@nbtc.no"]["last_login"] is not None  # signed in by the fixture
    assert api["nomfa@ous.no"]["last_login"] is None


def test_the_members_list_costs_the_same_queries_for_more_members(
    admin_client, django_assert_max_num_queries
):
    for n in range(3):
        make_member(Role.CLINICIAN, email=f"c{n}@ous.no", with_totp=True)
    admin_client.get("/members/")
    with django_assert_max_num_queries(12) as few:
        admin_client.get("/members/")
    for n in range(3, 13):
        make_member(Role.CLINICIAN, email=f"c{n}@ous.no", with_totp=True)
    with django_assert_max_num_queries(len(few.captured_queries)):
        admin_client.get("/members/")


# --- Deactivation ----------------------------------------------------------------------


def test_deactivation_ends_sessions_and_tokens_and_sign_in(admin_client, client):
    from django.test import Client

    member = make_member(Role.CLINICIAN, email="leaving@ous.no", with_totp=True)
    theirs = Client()
    sign_in(theirs, member)
    theirs.get("/account/")  # the session is listed (usersessions)
    assert UserSession.objects.filter(user=member).exists()
    _token, secret = api_token_create(user=member, name="script", days=30)
    assert theirs.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {secret}").status_code == 200

    response = admin_client.post(f"/members/{member.pk}/deactivate/", follow=True)
    assert "leaving@ous.no is deactivated" in response.content.decode()
    member.refresh_from_db()
    assert member.is_active is False
    assert not UserSession.objects.filter(user=member).exists()
    assert not ApiToken.objects.filter(user=member).exists()
    assert theirs.get("/account/")["Location"].startswith("/accounts/login/")
    api = Client().get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {secret}")
    assert api.status_code in (401, 403)
    again = Client().post("/accounts/login/", {"login": member.email, "password": PASSWORD})
    assert again.status_code != 302 or "inactive" in again["Location"]
    # Audited: the change is in the member's history with who did it.
    event = (
        Events.objects.filter(pgh_obj_model="consortium.User", pgh_obj_id=member.pk)
        .order_by("-pgh_id")
        .first()
    )
    assert event.pgh_data["is_active"] is False
    assert event.pgh_context["user"] == admin_client.admin.pk


def test_reactivation_lets_the_member_sign_in_again(admin_client):
    from django.test import Client

    member = make_member(Role.RESEARCHER, email="back@uio.no", institutions=("UIO-ICR",))
    admin_client.post(f"/members/{member.pk}/deactivate/")
    response = admin_client.post(f"/members/{member.pk}/reactivate/", follow=True)
    assert "back@uio.no is active again" in response.content.decode()
    again = Client().post("/accounts/login/", {"login": member.email, "password": PASSWORD})
    assert again.status_code == 302 and again["Location"] == "/"


def test_an_admin_cannot_deactivate_themselves(admin_client):
    me = admin_client.admin
    response = admin_client.post(f"/members/{me.pk}/deactivate/", follow=True)
    assert "cannot deactivate yourself" in response.content.decode()
    me.refresh_from_db()
    assert me.is_active


def test_the_api_deactivates_and_reactivates(admin_client):
    member = make_member(Role.COORDINATOR, email="co@ous.no", with_totp=True)
    off = admin_client.post(
        f"/api/v1/members/{member.pk}/deactivate/",
        {"reason": "Left the hospital"},
        content_type="application/json",
    )
    assert off.status_code == 200 and off.json()["is_active"] is False
    twice = admin_client.post(
        f"/api/v1/members/{member.pk}/deactivate/", {}, content_type="application/json"
    )
    assert twice.status_code == 400 and "already deactivated" in twice.json()["message"]
    on = admin_client.post(
        f"/api/v1/members/{member.pk}/reactivate/", {}, content_type="application/json"
    )
    assert on.status_code == 200 and on.json()["is_active"] is True
    assert admin_client.get("/account/").status_code == 200


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.COORDINATOR, Role.RESEARCHER])
def test_only_admins_deactivate(client, role):
    target = make_member(Role.CLINICIAN, email="target@ous.no", with_totp=True)
    member = make_member(role, email=f"{role}@x.no", with_totp=role != Role.RESEARCHER)
    sign_in(client, member)
    assert client.post(f"/members/{target.pk}/deactivate/").status_code == 403
    api = client.post(
        f"/api/v1/members/{target.pk}/deactivate/", {}, content_type="application/json"
    )
    assert api.status_code == 403
    target.refresh_from_db()
    assert target.is_active
