"""Nobody signs up on the platform (an admin invites each member): no page or e-mail of the
sign-in flow tells people to sign up."""

import re

import pytest
from django.core import mail

from consortium.models import Role
from tests.conftest import make_member

pytestmark = pytest.mark.django_db

SIGN_UP = re.compile(r"sign[\s-]?up", re.IGNORECASE)


def test_the_sign_in_page_says_accounts_come_by_invitation_and_offers_no_sign_up(client):
    page = client.get("/accounts/login/").content.decode()
    assert not SIGN_UP.search(page)
    assert "/accounts/signup/" not in page
    assert "invitation" in page
    assert 'name="login"' in page and 'name="password"' in page
    assert 'href="/accounts/password/reset/"' in page


def test_the_sign_in_page_still_signs_in(client):
    member = make_member(Role.RESEARCHER, institutions=("UIO-ICR",))
    response = client.post("/accounts/login/", {"login": member.email, "password": "wrong"})
    assert response.status_code == 200 and "not correct" in response.content.decode()
    response = client.post(
        "/accounts/login/", {"login": member.email, "password": "correct horse battery staple"}
    )
    assert response.status_code == 302


def test_the_sign_up_address_answers_that_an_invitation_is_needed(client):
    page = client.get("/accounts/signup/").content.decode()
    assert not SIGN_UP.search(page.split("<main", 1)[-1])
    assert "invited" in page


def test_a_password_reset_for_an_unknown_address_does_not_suggest_signing_up(client):
    client.post("/accounts/password/reset/", {"email": "nobody@example.no"})
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    assert not SIGN_UP.search(body) and "/accounts/signup/" not in body
    assert "invited" in body
