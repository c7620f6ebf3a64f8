"""allauth adapters: no open sign-up, MFA that clinical roles cannot switch off, and MFA
secrets encrypted at rest."""

import base64
from functools import cache

from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

from .prepared import PreparedQuery


class InviteOnlyAccountAdapter(DefaultAccountAdapter):
    """Members are invited by an admin (or `manage.py add_member`); nobody signs up.
    allauth has no setting for this; the adapter hook is_open_for_signup is the documented
    way (https://docs.allauth.org/en/latest/account/advanced.html, "Invitations")."""

    def is_open_for_signup(self, request) -> bool:
        return False


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    """Fernet (AES-128-CBC with HMAC-SHA256, cryptography.io/en/latest/fernet/) keys, each
    derived from an operator's key string with HKDF-SHA256 (RFC 5869)."""

    def derive(key: str) -> Fernet:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"nbtc mfa secrets")
        return Fernet(base64.urlsafe_b64encode(hkdf.derive(key.encode())))

    return MultiFernet([derive(key) for key in keys])


def mfa_secret_encrypt(text: str) -> str:
    return _fernet(tuple(settings.MFA_ENCRYPTION_KEYS)).encrypt(text.encode()).decode()


def mfa_secret_decrypt(token: str) -> str:
    """Raises cryptography's InvalidToken for a value no configured key encrypted (a plain
    secret, or one encrypted with a key that was removed): never used as if it were plain."""
    return _fernet(tuple(settings.MFA_ENCRYPTION_KEYS)).decrypt(token.encode()).decode()


def mfa_secret_is_encrypted(value: str) -> bool:
    try:
        mfa_secret_decrypt(value)
    except InvalidToken:
        return False
    return True


_HAS_AUTHENTICATOR = PreparedQuery(
    lambda member: Authenticator.objects.filter(user_id=member).values_list("pk")[:1], member=-1
)


class RoleAwareMFAAdapter(DefaultMFAAdapter):
    def is_mfa_enabled(self, user, types=None) -> bool:
        # Asked on every signed-in request (RequireMFAMiddleware): allauth's query, prepared.
        if types is None and user.is_authenticated:
            return bool(_HAS_AUTHENTICATOR(member=user.pk))
        return super().is_mfa_enabled(user, types=types)

    def can_delete_authenticator(self, authenticator) -> bool:
        # A clinician, coordinator, lab scientist or admin keeps two-factor sign-in.
        return not authenticator.user.requires_mfa

    # allauth stores TOTP secrets and recovery-code seeds through these hooks (allauth docs,
    # mfa/adapter: "can be used to encrypt those so that they are not stored in the clear").
    def encrypt(self, text: str) -> str:
        return mfa_secret_encrypt(text)

    def decrypt(self, encrypted_text: str) -> str:
        return mfa_secret_decrypt(encrypted_text)
