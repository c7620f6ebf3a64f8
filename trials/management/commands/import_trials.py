"""python manage.py import_trials PATH... | --from-api QUERY

Imports ClinicalTrials.gov API v2 study JSON (a study, a list, an API page, or a folder
of them); re-import updates by NCT id without touching coordinators' criteria or notes.
A record it cannot read is reported by file and NCT id and the rest still import."""

from django.core.management.base import BaseCommand, CommandError

from trials import services


class Command(BaseCommand):
    help = (
        "Import ClinicalTrials.gov API v2 records from files/folders, or page through the API "
        "(--from-api)."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="*")
        parser.add_argument(
            "--from-api", metavar="QUERY", help="query.term for GET {CTGOV_API_URL}/studies"
        )

    def handle(self, *args, paths, from_api, **options):
        if not paths and not from_api:
            raise CommandError("Give files or folders to import, or --from-api QUERY.")
        report = services.trials_import_paths(paths=paths) if paths else services.ImportReport()
        if from_api:
            api_report = services.trials_import_api(query=from_api)
            for name in ("added", "updated", "problems", "warnings"):
                getattr(report, name).extend(getattr(api_report, name))
        for line in report.lines():
            self.stdout.write(line)
        return None
