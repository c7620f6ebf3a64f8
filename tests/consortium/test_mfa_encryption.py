"""TOTP secrets and recovery-code seeds are encrypted at rest with a key from the environment
(NBTC_MFA_ENCRYPTION_KEY): the database row never holds the secret, sign-in still works, and
the data migration encrypts secrets stored in clear before."""

import importlib
import json
import re

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import generate_totp_secret
from cryptography.fernet import InvalidToken
from django.apps import apps
from django.db import connection

from consortium.adapters import mfa_secret_decrypt, mfa_secret_encrypt
from consortium.models import Role
from tests.conftest import PASSWORD, make_member, sign_in

pytestmark = pytest.mark.django_db

migration = importlib.import_module("consortium.migrations.0005_encrypt_mfa_secrets")


def stored_data(authenticator) -> str:
    """The row as PostgreSQL holds it, not through the model."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT data::text FROM mfa_authenticator WHERE id = %s", [authenticator.pk])
        return cursor.fetchone()[0]


def test_a_totp_secret_is_stored_encrypted_and_sign_in_still_works(client):
    coordinator = make_member(Role.COORDINATOR, with_totp=True)
    totp = Authenticator.objects.get(user=coordinator, type="totp")
    row = stored_data(totp)
    assert coordinator.totp_secret not in row
    assert coordinator.totp_secret.lower() not in row.lower()
    assert mfa_secret_decrypt(json.loads(row)["secret"]) == coordinator.totp_secret

    sign_in(client, coordinator)
    assert client.get("/account/").status_code == 200


def test_recovery_code_seeds_are_stored_encrypted_and_the_codes_still_sign_in(client):
    coordinator = make_member(Role.COORDINATOR, with_totp=True)
    codes = RecoveryCodes.activate(coordinator)
    row = json.loads(stored_data(codes.instance))
    seed = mfa_secret_decrypt(row["seed"])
    assert re.fullmatch(r"[0-9a-f]{80}", seed) and seed not in json.dumps(row)

    client.post("/accounts/login/", {"login": coordinator.email, "password": PASSWORD})
    response = client.post("/accounts/2fa/authenticate/", {"code": codes.get_unused_codes()[0]})
    assert response.status_code == 302
    assert client.get("/account/").status_code == 200


def test_another_key_cannot_read_them_and_an_old_key_still_can_after_rotation(settings):
    encrypted = mfa_secret_encrypt("JBSWY3DPEHPK3PXP")
    old_key = settings.MFA_ENCRYPTION_KEYS[0]
    settings.MFA_ENCRYPTION_KEYS = ["a-different-key-of-at-least-32-characters"]
    with pytest.raises(InvalidToken):
        mfa_secret_decrypt(encrypted)
    settings.MFA_ENCRYPTION_KEYS = ["a-different-key-of-at-least-32-characters", old_key]
    assert mfa_secret_decrypt(encrypted) == "JBSWY3DPEHPK3PXP"  # rotation: old rows still read


def test_the_migration_encrypts_secrets_stored_in_clear_once(client):
    clinician = make_member(Role.CLINICIAN)
    clinician.totp_secret = generate_totp_secret()
    plain = Authenticator.objects.create(  # as allauth stored it before: in clear
        user=clinician, type="totp", data={"secret": clinician.totp_secret}
    )
    seed = "ab" * 40
    codes = Authenticator.objects.create(
        user=clinician, type="recovery_codes", data={"seed": seed, "used_mask": 0}
    )
    assert clinician.totp_secret in stored_data(plain)

    migration.encrypt_mfa_secrets(apps, None)
    migration.encrypt_mfa_secrets(apps, None)  # a second run leaves encrypted values alone
    row = stored_data(plain)
    assert clinician.totp_secret not in row
    assert mfa_secret_decrypt(json.loads(row)["secret"]) == clinician.totp_secret
    assert mfa_secret_decrypt(json.loads(stored_data(codes))["seed"]) == seed

    sign_in(client, clinician)
    assert client.get("/account/").status_code == 200

    migration.decrypt_mfa_secrets(apps, None)  # the way back
    assert json.loads(stored_data(plain))["secret"] == clinician.totp_secret
