"""API tokens (django-rest-knox): stored hashed, shown once, expiring, listed and revoked by
their owner, revocable but never readable by admins, made only in a session that passed MFA,
refused for a member whose role needs MFA and who has none, ended with the member."""

import hashlib
import re
from datetime import timedelta

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils import timezone

from consortium import services
from consortium.models import ApiToken, Role
from tests.conftest import make_member, sign_in
from tests.registry.factories import make_patient

pytestmark = pytest.mark.django_db

SHOWN_ONCE = re.compile(r'<code id="new-api-token">(nbtc_[0-9a-f]{64})</code>')


def create_token(client, *, name="nightly export", days=None):
    data = {"name": name, "days": days or settings.API_TOKEN_DEFAULT_DAYS}
    return client.post("/account/api-token/", data)


def token_from(response) -> str:
    assert response.status_code == 201, response.content[:800]
    return SHOWN_ONCE.search(response.content.decode()).group(1)


def script_get(token: str, path: str = "/api/v1/me/"):
    return Client().get(path, headers={"Authorization": f"Token {token}"})


def test_a_token_is_shown_once_stored_as_a_digest_and_listed_by_its_prefix(client):
    researcher = make_member(Role.RESEARCHER)
    sign_in(client, researcher)
    token = token_from(create_token(client))

    row = ApiToken.objects.get(user=researcher)
    assert row.digest == hashlib.sha512(token.encode()).hexdigest()
    stored = " ".join(
        str(value) for value in ApiToken.objects.filter(pk=row.pk).values().get().values()
    )
    assert token not in stored and token[len(row.token_key) :] not in stored
    assert token.startswith(row.token_key) and len(row.token_key) == 15

    page = client.get("/account/").content.decode()
    assert token not in page  # only the prefix from now on
    assert f"{row.token_key}…" in page and "nightly export" in page and "never" in page

    me = script_get(token)
    assert me.status_code == 200 and me.json()["email"] == researcher.email


def test_tokens_expire_after_the_chosen_days_at_most_the_maximum(client):
    researcher = make_member(Role.RESEARCHER)
    sign_in(client, researcher)
    assert settings.API_TOKEN_DEFAULT_DAYS == 30 and settings.API_TOKEN_MAX_DAYS == 90

    token_from(create_token(client, name="default"))
    token_from(create_token(client, name="longest", days=90))
    expiry = dict(ApiToken.objects.values_list("name", "expiry"))
    assert abs(expiry["default"] - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)
    assert abs(expiry["longest"] - (timezone.now() + timedelta(days=90))) < timedelta(minutes=1)

    too_long = create_token(client, name="forever", days=91)
    assert too_long.status_code == 400 and "less than or equal to 90" in too_long.content.decode()
    assert not ApiToken.objects.filter(name="forever").exists()

    token = token_from(create_token(client, name="soon over"))
    ApiToken.objects.filter(name="soon over").update(expiry=timezone.now() - timedelta(seconds=1))
    expired = script_get(token)
    assert expired.status_code == 401 and expired.json() == {
        "message": "Invalid token.",
        "extra": {},
    }
    assert expired["WWW-Authenticate"] == "Token"


def test_the_last_use_is_recorded_at_most_once_a_minute(client, django_assert_num_queries):
    researcher = make_member(Role.RESEARCHER)
    sign_in(client, researcher)
    token = token_from(create_token(client))
    assert ApiToken.objects.get().last_used_at is None
    script_get(token)
    first_use = ApiToken.objects.get().last_used_at
    assert first_use is not None and timezone.now() - first_use < timedelta(seconds=10)
    script_get(token)
    assert ApiToken.objects.get().last_used_at == first_use  # within the minute: no write
    ApiToken.objects.update(last_used_at=timezone.now() - timedelta(minutes=2))
    script_get(token)
    assert ApiToken.objects.get().last_used_at > first_use


def test_the_owner_revokes_one_token_and_nobody_else_can(client):
    researcher = make_member(Role.RESEARCHER)
    sign_in(client, researcher)
    kept, revoked = token_from(create_token(client, name="kept")), token_from(create_token(client))
    key = ApiToken.objects.get(name="nightly export").token_key

    other = Client()
    sign_in(other, make_member(Role.RESEARCHER, email="other@example.no"))
    assert other.post(f"/account/api-token/{key}/revoke/").status_code == 404
    assert script_get(revoked).status_code == 200

    response = client.post(f"/account/api-token/{key}/revoke/", follow=True)
    assert "is revoked" in response.content.decode()
    assert script_get(revoked).status_code == 401
    assert script_get(kept).status_code == 200


def test_admins_revoke_tokens_but_never_read_them(client):
    clinician = make_member(Role.CLINICIAN, email="kari@example.no", with_totp=True)
    row, token = services.api_token_create(user=clinician, name="export", days=30)
    admin = make_member(Role.ADMIN, email="admin@example.no", with_totp=True)
    admin.is_staff = admin.is_superuser = True
    admin.save()
    sign_in(client, admin)

    assert client.get("/admin/authtoken/tokenproxy/").status_code == 404  # DRF's admin is gone
    listing = client.get("/admin/consortium/apitoken/")
    assert listing.status_code == 200
    html = listing.content.decode()
    assert row.token_key in html and token not in html
    detail = client.get(f"/admin/consortium/apitoken/{row.pk}/change/").content.decode()
    assert row.token_key in detail and token not in detail
    # The admin's links carry the row's key, the token's SHA-512 digest; it opens nothing.
    assert script_get(row.digest).status_code == 401
    assert client.get("/admin/consortium/apitoken/add/").status_code == 403

    response = client.post(
        "/admin/consortium/apitoken/",
        {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert script_get(token).status_code == 401
    deleted = ApiToken.pgh_event_model.objects.get(pgh_label="delete")
    assert deleted.pgh_context.metadata["user"] == admin.pk  # who revoked it is on record


def test_drf_authtoken_and_its_plain_tokens_are_gone():
    assert "rest_framework.authtoken" not in settings.INSTALLED_APPS
    tables = connection.introspection.table_names()
    assert "authtoken_token" not in tables and "consortium_apitoken" in tables
    assert "knox_authtoken" not in tables  # knox's own model is swapped for ours


def test_a_token_is_created_only_in_a_session_that_passed_mfa(client):
    coordinator = make_member(Role.COORDINATOR, with_totp=True)
    client.force_login(coordinator)  # signed in without the two-factor step
    refused = create_token(client)
    assert refused.status_code in (302, 403)
    assert not ApiToken.objects.exists()

    clinician = make_member(Role.CLINICIAN, email="no-mfa@example.no")  # has not set MFA up
    fresh = Client()
    sign_in(fresh, clinician)
    assert create_token(fresh).status_code == 302  # sent to the MFA set-up
    assert not ApiToken.objects.exists()

    sign_in(client, coordinator)
    assert token_from(create_token(client))


def test_a_token_of_a_member_who_needs_mfa_and_has_none_is_refused_everywhere():
    """A clinician's token (made before their authenticator was removed, e.g. by an admin
    resetting it) must not read a full national ID: the MFA middleware sees only sessions."""
    clinician = make_member(Role.CLINICIAN, with_totp=True)
    patient = make_patient(clinician)
    _, token = services.api_token_create(user=clinician, name="export", days=30)
    detail = f"/api/v1/registry/patients/{patient.register_number}/"
    assert script_get(token, detail).status_code == 200

    Authenticator.objects.filter(user=clinician).delete()
    for path in (detail, "/api/v1/registry/patients/", "/api/v1/me/"):
        refused = script_get(token, path)
        assert refused.status_code == 403, path
        assert set(refused.json()) == {"message", "extra"}
        assert "two-factor" in refused.json()["message"]

    TOTP.activate(clinician, generate_totp_secret())
    assert script_get(token, detail).status_code == 200


def test_a_researcher_needs_no_mfa_for_a_token():
    researcher = make_member(Role.RESEARCHER)
    _, token = services.api_token_create(user=researcher, name="stats", days=7)
    assert script_get(token).status_code == 200


def test_tokens_end_when_the_member_is_deactivated(client):
    researcher = make_member(Role.RESEARCHER)
    _, token = services.api_token_create(user=researcher, name="stats", days=30)
    researcher.is_active = False
    researcher.save()
    assert script_get(token).status_code == 401
    assert not ApiToken.objects.filter(user=researcher).exists()
    researcher.is_active = True
    researcher.save()
    assert script_get(token).status_code == 401  # reactivation does not revive it
