"""import_nordic_directory: the seed, later editions, and all-or-nothing errors."""

import pytest
from django.core.management import CommandError, call_command

from consortium.directory_parser import DirectoryParseError
from consortium.models import DirectoryImport, NetworkGroup
from consortium.selectors import group_list
from consortium.services import directory_import

pytestmark = pytest.mark.django_db


def test_it_imports_every_group_of_the_seed(seed_text):
    result = directory_import(text=seed_text, source="seed")
    assert (result.added, result.updated, result.unchanged, result.removed) == (35, 0, 0, 0)
    assert NetworkGroup.objects.count() == 35
    nlg = NetworkGroup.objects.get(acronym="NLG")
    assert nlg.name == "Nordic Lymphoma Group"
    assert nlg.category.name == "Haematological Malignancies"
    assert nlg.countries == ["DK", "FI", "NO", "SE"]
    nsgo = NetworkGroup.objects.get(acronym="NSGO")
    assert nsgo.countries == ["DK", "FI", "IS", "NO", "SE"]
    assert nsgo.associate_countries == ["EE", "LT"]
    norforsk = NetworkGroup.objects.get(name="NorForsk")
    assert norforsk.category.parent.name == "Cross-Cutting Nordic Structures"
    assert norforsk.category.name == "Research administration and support infrastructures"
    nordcan = NetworkGroup.objects.get(name="NORDCAN")
    assert ["Hosted by", nordcan.other_facts[-1][1]] == nordcan.other_facts[-1]
    assert DirectoryImport.objects.get().added == 35


def test_reimporting_the_same_edition_changes_nothing(seed_text):
    directory_import(text=seed_text, source="seed")
    versions = dict(NetworkGroup.objects.values_list("slug", "version"))
    result = directory_import(text=seed_text, source="seed")
    assert (result.added, result.updated, result.unchanged, result.removed) == (0, 0, 35, 0)
    assert dict(NetworkGroup.objects.values_list("slug", "version")) == versions


def test_a_later_edition_updates_in_place_adds_and_removes(seed_text):
    directory_import(text=seed_text, source="seed")
    nlg_slug = NetworkGroup.objects.get(acronym="NLG").slug
    edition = (
        seed_text.replace("Nordic Lymphoma Group (NLG)", "Nordic Lymphoma Network (NLG)")
        .replace(
            "Focus: Clinical and molecular research",
            "Focus: Clinical, molecular and registry research",
        )
        .replace(
            "Nordic Proof\n\nMembers: hospitals, municipalities, and research institutions across "
            "the Nordic region",
            "Nordic Proof\n\nMembers: hospitals in Denmark and Norway",
        )
    )
    # Remove NERC (a whole block) and add a new group to Neuro-Oncology.
    start = edition.index("Nordic Early Rectal Cancer (NERC)")
    end = edition.index("Nordic Hepato-Pancreato-Biliary Association")
    edition = edition[:start] + edition[end:]
    edition = edition.replace(
        "\n\n\n\nSarcoma",
        "\n\nNordic Glioma Network (NGN)\n\nCancer type: Gliomas\n\nMembers: Norway, Sweden and "
        "Finland\n\n"
        "Website: <https://glioma.example.org/>\n\n\n\nSarcoma",
    )

    result = directory_import(text=edition, source="edition-2")

    assert (result.added, result.updated, result.removed) == (1, 2, 1)
    assert result.unchanged == 35 - 1 - 2  # every group but the removed and the two edited
    renamed = NetworkGroup.objects.get(slug=nlg_slug)
    assert renamed.name == "Nordic Lymphoma Network"
    assert renamed.focus.startswith("Clinical, molecular and registry research")
    assert renamed.version == 2
    assert NetworkGroup.objects.get(name="Nordic Proof").countries == ["DK", "NO"]
    ngn = NetworkGroup.objects.get(acronym="NGN")
    assert ngn.category.name == "Neuro-Oncology (Brain Tumours)"
    assert ngn.countries == ["FI", "NO", "SE"]
    nerc = NetworkGroup.objects.get(acronym="NERC")
    assert nerc.removed_at is not None
    assert nerc not in group_list()
    assert group_list().count() == 35
    assert nerc.events.count() >= 2  # its history stays: insert and the removal


def test_a_removed_group_that_comes_back_is_listed_again(seed_text):
    directory_import(text=seed_text, source="seed")
    start = seed_text.index("Nordic Proof\n")
    end = seed_text.index("Nordic University Hospital Alliance")
    without = seed_text[:start] + seed_text[end:]
    assert directory_import(text=without, source="e2").removed == 1
    result = directory_import(text=seed_text, source="e3")
    assert (result.added, result.updated) == (0, 1)
    assert NetworkGroup.objects.get(name="Nordic Proof").removed_at is None


def test_an_unreadable_block_is_reported_by_line_and_nothing_changes(seed_text):
    directory_import(text=seed_text, source="seed")
    before = list(NetworkGroup.objects.order_by("pk").values())
    broken = seed_text.replace(
        "Nordic Lymphoma Group (NLG)", "Nordic Lymphoma Group (NLG), renamed"
    ).replace(
        "Website: <https://ncu.nu/>",
        "Website: <https://ncu.nu/>\n\nWebsite: <https://duplicate.example/>",
    )
    line = broken.splitlines().index("Website: <https://duplicate.example/>") + 1

    with pytest.raises(DirectoryParseError) as error:
        directory_import(text=broken, source="broken")

    assert error.value.line == line
    assert list(NetworkGroup.objects.order_by("pk").values()) == before
    assert DirectoryImport.objects.count() == 1


def test_the_command_reports_counts_and_refuses_a_broken_file(tmp_path, seed_text):
    good = tmp_path / "overview.txt"
    good.write_text(seed_text, encoding="utf-8")
    call_command("import_nordic_directory", str(good), stdout=(out := __import__("io").StringIO()))
    assert "35 added, 0 updated, 0 unchanged, 0 removed" in out.getvalue()

    bad = tmp_path / "bad.txt"
    bad.write_text("Haematological Malignancies\n\nFocus: orphan fact\n", encoding="utf-8")
    with pytest.raises(CommandError, match=r"line \d+.*Nothing was imported"):
        call_command("import_nordic_directory", str(bad))
    assert NetworkGroup.objects.count() == 35
