"""Recompute an indicator snapshot from the change history as of its data's moment and
compare every cell with the stored one (registry.indicator_history)."""

from django.core.management.base import BaseCommand, CommandError

from registry import indicator_history


class Command(BaseCommand):
    help = "Recompute a stored indicator snapshot as of its date and compare its cells."

    def add_arguments(self, parser):
        parser.add_argument("snapshot_id", type=int)

    def handle(self, *args, snapshot_id: int, **options):
        try:
            result = indicator_history.snapshot_reproduce(snapshot_id)
        except ValueError as error:
            raise CommandError(str(error)) from error
        for line in result.differences[:50]:
            self.stdout.write(line)
        how = "exactly" if result.exact else "by event time (snapshot older than its marks)"
        if result.differences:
            raise CommandError(
                f"{len(result.differences)} of {result.cells} cells differ (rebuilt {how})."
            )
        self.stdout.write(f"All {result.cells} cells reproduced ({how}).")
