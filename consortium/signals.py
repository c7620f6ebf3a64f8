"""Receivers for sign-in and member events. Connected in ConsortiumConfig.ready()."""

import logging

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from . import services
from .middleware import SESSION_STARTED_KEY
from .models import User

security_log = logging.getLogger("nbtc.security")


@receiver(user_logged_in)
def start_session_clock(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_STARTED_KEY] = timezone.now().isoformat()
    security_log.info("sign-in user_id=%s", user.pk)


@receiver(user_login_failed)
def log_failed_sign_in(sender, credentials, request=None, **kwargs):
    # ASVS 16.3.1: log authentication attempts, never the password.
    security_log.warning("failed sign-in for %r", str(credentials.get("email", ""))[:200])


@receiver(post_save, sender=User)
def end_api_tokens_of_deactivated_member(sender, instance, **kwargs):
    # However the member is deactivated (admin site, a script), their tokens end with it.
    services.api_tokens_end_for_inactive(user=instance)
