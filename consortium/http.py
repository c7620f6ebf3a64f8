"""The client's address, read the one way sign-in limits, API throttles and the access log
read it (settings.TRUSTED_PROXY_COUNT)."""

from allauth.account.adapter import get_adapter
from django.core.exceptions import PermissionDenied


def client_ip(request) -> str | None:
    try:
        return get_adapter(request).get_client_ip(request)
    except PermissionDenied:  # allauth's answer when no address can be read
        return None
