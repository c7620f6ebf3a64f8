"""A truncated directory file does not import: the seed cut to its first third (mid-way
through a group) is refused naming the cut group's line, and an edition that would take
more than a quarter of the listed groups off the public list is refused unless the
command is told --allow-large-removal. Nothing changes when refused."""

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from consortium.directory_parser import DirectoryParseError, parse_directory
from consortium.models import DirectoryImport, NetworkGroup
from consortium.services import LargeRemovalRefused, directory_import
from tests.conftest import SEED

pytestmark = pytest.mark.django_db


def first_third(text: str) -> str:
    return text[: len(text) // 3]


def listed() -> int:
    return NetworkGroup.objects.filter(removed_at__isnull=True).count()


def test_the_seed_cut_to_its_first_third_is_refused_naming_the_cut_group(seed_text):
    cut = first_third(seed_text)
    # The cut falls inside a group's facts (the Nordic HPB association's members line).
    assert cut.endswith("representing the Nordic chapter of t")
    heading_line = seed_text[: seed_text.index("Nordic Hepato-Pancreato-Biliary")].count("\n") + 1
    with pytest.raises(DirectoryParseError) as error:
        parse_directory(cut)
    assert error.value.line == heading_line
    assert "ends without any of its 'Focus:', 'Scope:'" in str(error.value)


def test_the_command_refuses_the_truncated_seed_and_keeps_the_list(seed_text, tmp_path: Path):
    directory_import(text=seed_text, source="seed")
    path = tmp_path / "overview-cut.txt"
    path.write_text(first_third(seed_text), encoding="utf-8")
    with pytest.raises(CommandError) as error:
        call_command("import_nordic_directory", str(path))
    assert "line 173" in str(error.value) and "Nothing was imported" in str(error.value)
    assert listed() == 35 and DirectoryImport.objects.count() == 1


def _first_groups(seed_text: str, count: int) -> str:
    """The seed up to (not including) the heading of group number `count + 1`: a
    well-formed but much shorter edition."""
    groups = parse_directory(seed_text).groups
    lines = seed_text.splitlines(keepends=True)[: groups[count].line - 1]
    # Drop the category headings that stood above the next group (they would end the file).
    while lines and ":" not in lines[-1]:
        lines.pop()
    return "".join(lines)


def test_an_edition_removing_more_than_a_quarter_is_refused_unless_allowed(
    seed_text, tmp_path: Path
):
    directory_import(text=seed_text, source="seed")
    short = _first_groups(seed_text, 26)  # 9 of 35 leave: more than a quarter (8.75)
    assert len(parse_directory(short).groups) == 26
    with pytest.raises(LargeRemovalRefused) as error:
        directory_import(text=short, source="short")
    assert "9 of the 35 listed groups" in str(error.value)
    assert listed() == 35 and DirectoryImport.objects.count() == 1

    path = tmp_path / "short.txt"
    path.write_text(short, encoding="utf-8")
    with pytest.raises(CommandError) as refused:
        call_command("import_nordic_directory", str(path))
    assert "--allow-large-removal" in str(refused.value)
    assert listed() == 35

    call_command("import_nordic_directory", str(path), "--allow-large-removal")
    assert listed() == 26


def test_an_edition_removing_a_quarter_or_less_imports(seed_text):
    directory_import(text=seed_text, source="seed")
    result = directory_import(text=_first_groups(seed_text, 27), source="shorter")
    assert result.removed == 8 and listed() == 27  # 8 of 35 is not more than a quarter


def test_a_directory_file_over_the_size_limit_is_refused_unread(tmp_path: Path):
    from consortium.management.commands.import_nordic_directory import MAX_BYTES

    path = tmp_path / "huge.txt"
    path.write_text(SEED.read_text(encoding="utf-8") + "x" * MAX_BYTES, encoding="utf-8")
    with pytest.raises(CommandError) as error:
        call_command("import_nordic_directory", str(path))
    assert "over the limit" in str(error.value)
    assert not NetworkGroup.objects.exists()
