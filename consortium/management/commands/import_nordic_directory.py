"""python manage.py import_nordic_directory PATH

Imports an edition of NorCRIN's overview of Nordic cancer collaboration groups.
All or nothing: a block it cannot parse is reported with its line and nothing changes."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from consortium.directory_parser import DirectoryParseError
from consortium.services import directory_import


class Command(BaseCommand):
    help = "Import (or re-import) the Nordic network directory from a text document."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)

    def handle(self, *args, path: Path, **options):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise CommandError(f"Cannot read {path}: {e}") from e
        try:
            result = directory_import(text=text, source=path.name)
        except DirectoryParseError as e:
            raise CommandError(f"{path}: {e}. Nothing was imported.") from e
        self.stdout.write(self.style.SUCCESS(f"Nordic directory from {path.name}: {result}."))
