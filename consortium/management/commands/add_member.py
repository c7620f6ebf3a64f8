"""python manage.py add_member EMAIL --role ROLE --institution CODE [--institution CODE ...]

Invites a member from the command line and prints their one-time link to set a password."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from consortium.models import Institution, Role
from consortium.services import member_invite


class Command(BaseCommand):
    help = "Invite a member: prints a one-time link to set their password."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument(
            "--institution",
            action="append",
            required=True,
            metavar="CODE",
            help="Institution code; repeat for several.",
        )
        parser.add_argument("--name", default="", help="Full name.")
        parser.add_argument(
            "--base-url",
            default=getattr(settings, "NBTC_BASE_URL", "http://127.0.0.1:8000"),
            help="Where the platform is reached, for the link.",
        )

    def handle(self, *args, email, role, institution, name, base_url, **options):
        institutions = list(Institution.objects.filter(code__in=institution))
        unknown = set(institution) - {i.code for i in institutions}
        if unknown:
            known = ", ".join(Institution.objects.values_list("code", flat=True))
            raise CommandError(
                f"Unknown institution code {', '.join(sorted(unknown))}. Known: {known}."
            )
        try:
            user, link = member_invite(
                email=email, role=role, institutions=institutions, full_name=name, base_url=base_url
            )
        except ValidationError as e:
            raise CommandError(
                "; ".join(f"{k}: {' '.join(v)}" for k, v in e.message_dict.items())
            ) from e
        self.stdout.write(
            f"Invited {user.email} as {user.get_role_display()} at "
            f"{', '.join(i.code for i in institutions)}."
        )
        self.stdout.write(f"One-time link to set the password (valid 3 days):\n{link}")
