"""Session and sign-in rules that allauth and Django leave to the project."""

from datetime import datetime, timedelta

from allauth.account.authentication import get_authentication_records
from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers, patch_vary_headers

from .redirects import login_url_back_to

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
            if not is_mfa_enabled(user):
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
