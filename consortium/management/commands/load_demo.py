"""python manage.py load_demo: demo members, one per role, for `make run`.

Each has a known password and a TOTP authenticator with a known secret, printed so a
person trying the platform can add it to an authenticator app (or read the current code
with `python manage.py demo_totp EMAIL`). Refused when DEBUG is off: never in production."""

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from consortium.models import Institution, Role, User

# Published on purpose: the command runs only with DJANGO_DEBUG=1 (refused otherwise).
DEMO_PASSWORD = "demo-password-nbtc"  # noqa: S105 - demo only, printed to the developer
# Base32 TOTP secret shared by the demo members (demo only).
DEMO_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # noqa: S105 - demo only, as above

DEMO_MEMBERS = [
    ("clinician@demo.nbtc.no", "Kari Nordmann", Role.CLINICIAN, ["OUS"]),
    ("coordinator@demo.nbtc.no", "Ola Hansen", Role.COORDINATOR, ["OUS", "HUS"]),
    ("lab@demo.nbtc.no", "Ingrid Berg", Role.LAB_SCIENTIST, ["UIB-LAB"]),
    ("researcher@demo.nbtc.no", "Lars Johansen", Role.RESEARCHER, ["UIO-ICR"]),
    ("admin@demo.nbtc.no", "Siri Admin", Role.ADMIN, ["OUS"]),
]


class Command(BaseCommand):
    help = "Create demo members (development only)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("load_demo runs only with DJANGO_DEBUG=1.")
        with transaction.atomic():
            for email, name, role, codes in DEMO_MEMBERS:
                user, _ = User.objects.update_or_create(
                    email=email,
                    defaults={
                        "full_name": name,
                        "role": role,
                        "is_staff": role == Role.ADMIN,
                        "is_superuser": role == Role.ADMIN,
                    },
                )
                user.set_password(DEMO_PASSWORD)
                user.save()
                user.institutions.set(Institution.objects.filter(code__in=codes))
                EmailAddress.objects.update_or_create(
                    user=user, email=email, defaults={"primary": True, "verified": True}
                )
                if not Authenticator.objects.filter(
                    user=user, type=Authenticator.Type.TOTP
                ).exists():
                    TOTP.activate(user, DEMO_TOTP_SECRET)
        self.stdout.write(f"Demo members (password for all: {DEMO_PASSWORD}):")
        for email, _name, role, codes in DEMO_MEMBERS:
            self.stdout.write(f"  {email:28} {Role(role).label:18} {', '.join(codes)}")
        self.stdout.write(
            f"Two-factor: add TOTP secret {DEMO_TOTP_SECRET} to an authenticator app, "
            "or run: python manage.py demo_totp EMAIL"
        )
