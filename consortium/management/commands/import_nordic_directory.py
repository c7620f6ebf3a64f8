"""python manage.py import_nordic_directory PATH [--allow-large-removal]

Imports an edition of NorCRIN's overview of Nordic cancer collaboration groups.
All or nothing: a block it cannot parse is reported with its line and nothing changes.
An edition that would take more than a quarter of the listed groups off the public list
is refused unless --allow-large-removal is given. Files over MAX_BYTES (2 MB;
consortium/uploads.py) are refused unread."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from consortium.directory_parser import DirectoryParseError
from consortium.exceptions import LargeRemovalRefused
from consortium.services import directory_import
from consortium.uploads import DIRECTORY_MAX_BYTES as MAX_BYTES


class Command(BaseCommand):
    help = "Import (or re-import) the Nordic network directory from a text document."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument(
            "--allow-large-removal",
            action="store_true",
            help="Import even if the edition takes more than a quarter of the listed groups "
            "off the public list.",
        )

    def handle(self, *args, path: Path, allow_large_removal: bool = False, **options):
        try:
            size = path.stat().st_size
            if size > MAX_BYTES:
                raise CommandError(
                    f"{path}: {size:,} bytes is over the limit of {MAX_BYTES:,} bytes for a "
                    "directory file. Nothing was imported."
                )
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise CommandError(f"Cannot read {path}: {e}") from e
        try:
            result = directory_import(
                text=text, source=path.name, allow_large_removal=allow_large_removal
            )
        except DirectoryParseError as e:
            raise CommandError(f"{path}: {e}. Nothing was imported.") from e
        except LargeRemovalRefused as e:
            raise CommandError(f"{path}: {e}") from e
        self.stdout.write(self.style.SUCCESS(f"Nordic directory from {path.name}: {result}."))
