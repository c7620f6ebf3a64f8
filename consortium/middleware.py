"""Session and sign-in rules that allauth and Django leave to the project, and the checks
every request passes (never-cached API answers, no NUL characters)."""

import json
from datetime import datetime, timedelta

from allauth.account.authentication import get_authentication_records
from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers, patch_vary_headers

from . import uploads
from .redirects import login_url_back_to
from .text_checks import NUL_MESSAGE, nul_in

SESSION_STARTED_KEY = "nbtc_session_started_at"

# While a member who must use MFA has not set it up, these are the only paths served.
MFA_SETUP_PATHS = ("/accounts/2fa/", "/accounts/logout/", "/accounts/reauthenticate/", "/static/")


def session_started_at(request) -> datetime:
    started = request.session.get(SESSION_STARTED_KEY)
    if started is None:
        now = timezone.now()
        request.session[SESSION_STARTED_KEY] = now.isoformat()
        return now
    return datetime.fromisoformat(started)


def passed_mfa_step(request, user) -> bool:
    """The session passed the MFA step at sign-in, or set MFA up itself: activating
    TOTP takes a valid code, so the member is not signed out right after doing so."""
    if any(r.get("method") == "mfa" for r in get_authentication_records(request, user)):
        return True
    return Authenticator.objects.filter(
        user=user, created_at__gte=session_started_at(request)
    ).exists()


SESSION_SEEN_KEY = "nbtc_session_seen_at"


class SessionActivityMiddleware:
    """Keeps a signed-in session alive while it is used, and its row in the member's
    session list (allauth usersessions) up to date: at most once a minute, not on every
    request. The 30-minute idle limit (SESSION_COOKIE_AGE) then runs from the last
    minute's activity, and ordinary page views skip the three writes per request that
    SESSION_SAVE_EVERY_REQUEST and USERSESSIONS_TRACK_ACTIVITY cost (the register's latency
    budget, README: Benchmarks)."""

    INTERVAL = timedelta(seconds=60)

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            # Read now in any case: from here on views and templates use the member
            # itself, not AuthenticationMiddleware's lazy proxy, which costs a Python call
            # on every attribute read (some hundred on a patient page).
            request.user = getattr(request, "_cached_user", request.user)
        if request.user.is_authenticated and request.session.session_key:
            now = timezone.now()
            seen = request.session.get(SESSION_SEEN_KEY)
            if seen is None or now - datetime.fromisoformat(seen) >= self.INTERVAL:
                request.session[SESSION_SEEN_KEY] = now.isoformat()  # saved: expiry renewed
                UserSession.objects.create_from_request(request)
        return self.get_response(request)


class AbsoluteSessionLifetimeMiddleware:
    """Ends a session 12 hours after sign-in however active it is (ASVS 7.3.2).
    The 30-minute idle limit is Django's own SESSION_COOKIE_AGE, renewed by
    SessionActivityMiddleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            lifetime: timedelta = settings.SESSION_ABSOLUTE_LIFETIME
            if timezone.now() - session_started_at(request) > lifetime:
                logout(request)
                messages.info(
                    request, "Your session has ended after 12 hours. Please sign in again."
                )
                return redirect(login_url_back_to(reverse("account_login"), request))
        return self.get_response(request)


class RequireMFAMiddleware:
    """Members whose role sees patient data reach nothing but the MFA set-up until they
    have set it up, and a session that skipped the MFA step is ended.
    allauth has no built-in setting for this (pennersr/django-allauth#3649).
    It sees session users only: API tokens are checked by the same rule in
    consortium.authentication.ApiTokenAuthentication, which DRF runs after this."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated and user.requires_mfa:
            # The session's member was read with it (consortium.sessions); a token's was not.
            enabled = getattr(user, "has_authenticator", None)
            if not (is_mfa_enabled(user) if enabled is None else enabled):
                if not request.path.startswith(MFA_SETUP_PATHS):
                    return self.refuse(
                        request,
                        "Set up two-factor authentication first.",
                        reverse("mfa_activate_totp"),
                    )
            elif not passed_mfa_step(request, user):
                logout(request)
                return self.refuse(
                    request,
                    "Sign in with your two-factor code.",
                    login_url_back_to(reverse("account_login"), request),
                )
        return self.get_response(request)

    @staticmethod
    def refuse(request, message: str, url: str):
        if request.path.startswith("/api/"):
            return JsonResponse({"message": message, "extra": {}}, status=403)
        messages.warning(request, message)
        return redirect(url)


class ApiNeverCachedMiddleware:
    """Every API answer may show a patient and depends on who asks (token or session), so
    none is stored by a browser or proxy (`no-store, private`) and any cache that keys on
    headers keys on both credentials (`Vary: Authorization, Cookie`). One place for every
    app's API, error answers included. ASVS 5.0 14.2.2 / 14.3.2; RFC 9111 §5.2.2.3 and
    §5.2.2.7 (https://www.rfc-editor.org/rfc/rfc9111)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith("/api/"):
            add_never_cache_headers(
                response
            )  # max-age=0, no-cache, no-store, must-revalidate, private
            patch_vary_headers(response, ("Authorization", "Cookie"))
        return response


class RefuseNulCharacterMiddleware:
    """A NUL character in the path, the query string or a form or JSON body is refused with
    a 400 naming the field, before any view runs: PostgreSQL cannot store or compare it,
    and it ended in a 500 with a traceback. The API answers in its one error shape, pages
    with a page. Uploaded files are checked by their parsers, naming the line."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        field = self.field_with_nul(request)
        if field is None:
            return self.get_response(request)
        message = f"{field}: {NUL_MESSAGE}."
        if request.path.startswith("/api/"):
            return JsonResponse(
                {"message": f"Invalid input. {message}", "extra": {"fields": {field: [message]}}},
                status=400,
            )
        return render(request, "400.html", {"message": message}, status=400)

    @staticmethod
    def field_with_nul(request) -> str | None:
        if "\x00" in request.path_info:
            try:
                kwargs = resolve(request.path_info).kwargs
            except Resolver404:
                kwargs = {}
            return next((k for k, v in kwargs.items() if nul_in(v)), "path")
        for data in (request.GET, request.POST) if _form_body(request) else (request.GET,):
            for key, values in data.lists():
                if nul_in(key) or nul_in(values):
                    return key.replace("\x00", "") or "query"
        if request.content_type == "application/json" and request.body:
            try:
                body = json.loads(request.body)
            except ValueError:
                return None  # the parser answers malformed JSON itself
            if isinstance(body, dict):
                return next((str(k) for k, v in body.items() if nul_in(k) or nul_in(v)), None)
            return "body" if nul_in(body) else None
        return None


def _form_body(request) -> bool:
    return request.method == "POST" and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    )


class RequestSizeLimitMiddleware:
    """A request body larger than any upload the platform takes is refused (413) from its
    Content-Length, before a byte of it is read or parsed. Per-file limits are checked by
    the services (consortium/uploads.py)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.headers.get("content-length") or 0)
        except ValueError:
            length = 0
        if length > uploads.MAX_REQUEST_BYTES:
            message = (
                f"The request is {uploads.human_size(length)}; at most "
                f"{uploads.human_size(uploads.MAX_REQUEST_BYTES)} is accepted."
            )
            if request.path.startswith("/api/"):
                return JsonResponse({"message": message, "extra": {}}, status=413)
            return render(request, "400.html", {"message": message}, status=413)
        return self.get_response(request)
