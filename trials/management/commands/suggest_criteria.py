"""python manage.py suggest_criteria [--all]

Reads the eligibility text of every trial whose text is new or changed since it was last
read (with --all, every trial again) and proposes its criteria, as an import does. For
trials that were in the catalogue before suggestions existed, and after a reader changed."""

from django.core.management.base import BaseCommand

from trials import services
from trials.models import Trial


class Command(BaseCommand):
    help = "Propose criteria from the eligibility texts of the catalogue's trials."

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="read every text again")

    def handle(self, *args, all, **options):
        counts: dict = {}
        for trial in Trial.objects.prefetch_related("arms").order_by("pk").iterator(chunk_size=200):
            reading = services.suggestions_refresh(trial=trial, force=all)
            counts[reading.status] = counts.get(reading.status, 0) + 1
        waiting = services.Suggestion.objects.filter(status="proposed").count()
        self.stdout.write(
            ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "No trials."
        )
        self.stdout.write(f"{waiting} suggested criteria wait for confirmation.")
