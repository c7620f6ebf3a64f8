"""The error pages Django serves when a request fails outside the view's own handling.

PostgreSQL unreachable (restarting, failing over, out of connections) is not a bug: the
request gets 503 Service Unavailable with Retry-After (RFC 9110 §15.6.4 and §10.2.3,
https://www.rfc-editor.org/rfc/rfc9110#name-503-service-unavailable), a plain page or the
API's one error shape, and no traceback; the server log keeps the traceback (django.request).
Anything else stays a 500 (consortium.api.server_error). Neither touches the database nor the
session."""

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template import loader

from .api import server_error as api_server_error

RETRY_AFTER_SECONDS = 30  # a PostgreSQL restart or fail-over takes seconds


def database_unavailable(request) -> HttpResponse:
    if request.path.startswith("/api/"):
        response = JsonResponse(
            {
                "message": "The database is unavailable for a moment. "
                f"Try again in {RETRY_AFTER_SECONDS} seconds.",
                "extra": {},
            },
            status=503,
        )
    else:
        response = HttpResponse(loader.get_template("503.html").render(), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


def server_error(request):
    """handler500: called while the exception is being handled, so sys.exception() is it."""
    if isinstance(sys.exception(), (OperationalError, InterfaceError)):
        return database_unavailable(request)
    return api_server_error(request)
