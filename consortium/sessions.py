"""The session engine: Django's database sessions, each request's read of the session row
and of the signed-in member prepared once per process (consortium.prepared). Both run before
every signed-in page and API answer; through the ORM their building and compiling cost
several times their SQL (README: Benchmarks)."""

from datetime import UTC, datetime

from allauth.account.auth_backends import AuthenticationBackend as AllauthBackend
from allauth.mfa.models import Authenticator
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend as DjangoModelBackend
from django.contrib.sessions.backends import db
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef
from django.utils import timezone

from .prepared import PreparedQuery

_UNEXPIRED = PreparedQuery(
    lambda key, now: Session.objects.filter(session_key=key, expire_date__gt=now),
    key="\0session key",
    now=datetime(1901, 1, 1, tzinfo=UTC),
)


class SessionStore(db.SessionStore):
    def _get_session_from_db(self):
        # As Django's: the unexpired row, else the key is dropped (a new session on save).
        found = _UNEXPIRED(key=self.session_key, now=timezone.now()) if self.session_key else []
        if found:
            return found[0]
        self._session_key = None
        return None


# With whether they have an authenticator (allauth's is_mfa_enabled), which
# RequireMFAMiddleware asks on every request: read in the same statement, a round trip less.
_MEMBER = PreparedQuery(
    lambda pk: (
        get_user_model()
        ._default_manager.filter(pk=pk)
        .annotate(has_authenticator=Exists(Authenticator.objects.filter(user=OuterRef("pk"))))
    ),
    pk=-1,
)


class PreparedGetUser:
    """The signed-in member of a session, as ModelBackend.get_user reads them."""

    def get_user(self, user_id):
        try:
            pk = get_user_model()._meta.pk.to_python(user_id)
        except ValidationError:
            return None
        found = _MEMBER(pk=pk)
        return found[0] if found and self.user_can_authenticate(found[0]) else None


class ModelBackend(PreparedGetUser, DjangoModelBackend):
    pass


class AuthenticationBackend(PreparedGetUser, AllauthBackend):
    pass
