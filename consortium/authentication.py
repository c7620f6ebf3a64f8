"""API token authentication: django-rest-knox's hashed, expiring tokens, with the platform's
rules for every endpoint that accepts a token."""

from datetime import timedelta

from allauth.mfa.utils import is_mfa_enabled
from django.utils import timezone
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox.auth import TokenAuthentication
from rest_framework import exceptions

MFA_REQUIRED_MESSAGE = (
    "Set up two-factor authentication first: your role needs it for the API too, tokens included."
)


class ApiTokenAuthentication(TokenAuthentication):
    """knox checks the digest, the expiry and that the member is active. On top:

    - a member whose role needs MFA and who has no authenticator is refused (403), as the
      MFA middleware refuses their session; it runs before DRF and sees no token user;
    - the token's last use is recorded, at most once a minute (no write per request)."""

    LAST_USED_EVERY = timedelta(minutes=1)

    def validate_user(self, auth_token):
        user, token = super().validate_user(auth_token)
        if user.requires_mfa and not is_mfa_enabled(user):
            raise exceptions.PermissionDenied(MFA_REQUIRED_MESSAGE)
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at >= self.LAST_USED_EVERY:
            type(token).objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
        return user, token


class ApiTokenScheme(KnoxTokenScheme):
    """The schema's security scheme for our subclass (`Authorization: Token <token>`), under
    the name DRF's token scheme had."""

    target_class = ApiTokenAuthentication
    name = "tokenAuth"
