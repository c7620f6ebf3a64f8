"""Where a page may send the browser after a form: only back to this site.

A `next` taken from the request as is lets a link on another site post a form here and
land the member on a look-alike page (an open redirect: OWASP "Unvalidated Redirects and
Forwards Cheat Sheet", https://cheatsheetseries.owasp.org/cheatsheets/
Unvalidated_Redirects_and_Forwards_Cheat_Sheet.html; ASVS 5.0 V1.3)."""

from urllib.parse import quote

from django.utils.http import url_has_allowed_host_and_scheme


def safe_next(request, candidate: str | None, fallback: str) -> str:
    """`candidate` when it is a path or URL of this host (and scheme), else `fallback`."""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return fallback


def login_url_back_to(login_url: str, request) -> str:
    """The sign-in page with `next` set to the current path, encoded as one parameter."""
    return f"{login_url}?next={quote(request.path, safe='/')}"
