"""python manage.py demo_totp EMAIL: the current TOTP code of a demo member (development only)."""

from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import (
    format_hotp_value,
    hotp_value,
    yield_hotp_counters_from_time,
)
from allauth.mfa.utils import decrypt
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from consortium.management.commands.load_demo import DEMO_MEMBERS


class Command(BaseCommand):
    help = "Print the current two-factor code of a demo member."

    def add_arguments(self, parser):
        parser.add_argument("email")

    def handle(self, *args, email, **options):
        if not settings.DEBUG or email not in {m[0] for m in DEMO_MEMBERS}:
            raise CommandError("Only for demo members, with DJANGO_DEBUG=1.")
        authenticator = Authenticator.objects.get(user__email=email, type=Authenticator.Type.TOTP)
        secret = decrypt(authenticator.data["secret"])
        self.stdout.write(
            format_hotp_value(hotp_value(secret, next(yield_hotp_counters_from_time())))
        )
