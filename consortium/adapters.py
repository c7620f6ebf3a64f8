"""allauth adapters: no open sign-up, and MFA that clinical roles cannot switch off."""

from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.adapter import DefaultMFAAdapter


class InviteOnlyAccountAdapter(DefaultAccountAdapter):
    """Members are invited by an admin (or `manage.py add_member`); nobody signs up.
    allauth has no setting for this; the adapter hook is_open_for_signup is the documented
    way (https://docs.allauth.org/en/latest/account/advanced.html, "Invitations")."""

    def is_open_for_signup(self, request) -> bool:
        return False


class RoleAwareMFAAdapter(DefaultMFAAdapter):
    def can_delete_authenticator(self, authenticator) -> bool:
        # A clinician, coordinator, lab scientist or admin keeps two-factor sign-in.
        return not authenticator.user.requires_mfa
