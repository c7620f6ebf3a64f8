"""Tests for consortium.directory_parser (plain Python, no database).

Run: .venv/bin/python -m pytest -p no:django -p no:playwright --noconftest \
         tests/consortium/test_directory_parser.py
(--noconftest because tests/conftest.py imports Django models.)
"""

import functools
import re
from pathlib import Path

import pytest

from consortium.directory_parser import (
    DirectoryParseError,
    ParsedDirectory,
    ParsedGroup,
    countries_from_wording,
    parse_directory,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SEED_PATH = REPO_ROOT / "seeds" / "nordic-cancer-collaboration-overview.txt"


@functools.cache
def seed_text() -> str:
    return SEED_PATH.read_text(encoding="utf-8")


@functools.cache
def seed() -> ParsedDirectory:
    return parse_directory(seed_text())


def group(directory: ParsedDirectory, name: str) -> ParsedGroup:
    matches = [g for g in directory.groups if g.name == name]
    assert len(matches) == 1, f"{name!r} found {len(matches)} times"
    return matches[0]


def names(directory: ParsedDirectory) -> list[str]:
    return [g.name for g in directory.groups]


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def cut(text: str, start: str, end: str) -> str:
    """Remove everything from the start marker through the end marker (both included)."""
    begin = text.index(start)
    return text[:begin] + text[text.index(end, begin) + len(end) :]


def line_of(text: str, exact_line: str) -> int:
    return [line.rstrip() for line in text.splitlines()].index(exact_line) + 1


def parse_error(text: str) -> DirectoryParseError:
    with pytest.raises(DirectoryParseError) as caught:
        parse_directory(text)
    return caught.value


# --------------------------------------------------------------------------- the seed

SEED_COUNTRIES = [
    ("Nordic Lymphoma Group", "DK FI NO SE", ""),
    ("Nordic Myeloma Study Group", "DK EE FI IS LT NO SE", ""),
    ("Nordic MDS Group", "DK FI IS NO SE", ""),
    ("Nordic AML Group", "DK FI IS NO SE", ""),
    ("Nordic CLL Study Group", "DK FI IS NO SE", ""),
    ("Nordic Breast Cancer Network", "DK FI IS NO SE", ""),
    ("Nordic Thoracic Oncology Group Symposium", "DK FI IS NO SE", ""),
    ("Scandinavian Neuro-Oncology", "DK NO SE", ""),
    ("Scandinavian Sarcoma Group", "DK NO SE", ""),
    ("Nordic Society of Gynaecologic Oncology", "DK FI IS NO SE", "EE LT"),
    ("Nordic-European Initiative on Colorectal Cancer", "NL NO PL SE", ""),
    ("Nordic Early Rectal Cancer", "", ""),
    (
        "Nordic Hepato-Pancreato-Biliary Association / Nordic Liver Cancer Association",
        "DK FI NO SE",
        "",
    ),
    ("Nordic Neuroendocrine Tumor Group", "DK NO SE", ""),
    ("Nordic Melanoma Meeting", "DK FI IS NO SE", ""),
    ("Nordic Dermatology Association", "", ""),
    ("Nordic Society for Paediatric Haematology and Oncology", "DK EE FI IS LT LV NO SE", ""),
    ("Nordic Childhood Cancer Predisposition Network", "", ""),
    ("Scandinavian Prostate Cancer Group", "DK FI NO SE", ""),
    ("Nordic Urothelial Cancer Oncology Group", "DK FI IS NO SE", ""),
    ("Swedish and Norwegian Testicular Cancer Group", "NO SE", "DE IS"),
    ("Nordic Cancer Union", "", ""),
    ("NORDCAN", "", ""),
    ("Association of Nordic Cancer Registries", "DK FI IS NO SE", ""),
    ("Nordic Network for Palliative Medicine", "DK FI FO GL IS NO SE", ""),
    ("Nordic Molecular Tumour board", "DK FI IS NO SE", ""),
    ("Nordic Society of Medical Radiology", "DK FI IS NO SE", ""),
    ("NorForsk", "AX DK FI FO GL IS NO SE", ""),
    ("Nordic Trial Alliance", "", ""),
    ("Nordic Trial Connect", "DK FI IS NO SE", ""),
    ("NordicPedMed", "DK FI IS NO SE", ""),
    ("Nordic Proof", "DK FI IS NO SE", ""),
    ("Nordic University Hospital Alliance", "DK FI IS NO SE", ""),
    ("Nordic Pandemic Preparedness Modelling Network", "DK FI NO SE", ""),
    ("Nordic Monitoring Network", "DK FI IS NO SE", ""),
]

SEED_CATEGORIES = (
    ("Haematological Malignancies", ()),
    ("Breast cancer", ()),
    ("Lung and Thoracic Cancers", ()),
    ("Neuro-Oncology (Brain Tumours)", ()),
    ("Sarcoma", ()),
    ("Gynaecological Cancers", ()),
    ("Gastrointestinal Cancers", ()),
    ("Endocrine and Neuroendocrine Tumors", ()),
    ("Skin Cancer", ()),
    ("Paediatric Oncology", ()),
    ("Prostate and Urologic Cancers", ()),
    (
        "Cross-Cutting Nordic Structures",
        (
            "Multiple cancer types and professions",
            "Research administration and support infrastructures",
        ),
    ),
)


def test_it_reads_all_35_seed_groups_in_document_order():
    assert len(seed().groups) == 35
    assert names(seed()) == [row[0] for row in SEED_COUNTRIES]


def test_it_reads_the_title_and_preamble_note():
    assert seed().title == "Nordic Academic and Clinical Cancer Collaboration"
    assert seed().preamble.startswith("This overview has been developed by NorCRIN")
    assert seed().preamble.endswith("norcrin@helse-bergen.no")


def test_it_reads_categories_and_subcategories_in_document_order():
    assert seed().categories == SEED_CATEGORIES


def test_it_places_groups_in_their_category_and_subcategory():
    lymphoma = group(seed(), "Nordic Lymphoma Group")
    assert (lymphoma.category, lymphoma.subcategory) == ("Haematological Malignancies", "")
    ncu = group(seed(), "Nordic Cancer Union")
    assert ncu.subcategory == "Multiple cancer types and professions"
    radiology = group(seed(), "Nordic Society of Medical Radiology")
    assert radiology.subcategory == "Multiple cancer types and professions"
    assert group(seed(), "NorForsk").subcategory == (
        "Research administration and support infrastructures"
    )


def test_it_keeps_a_group_after_three_blank_lines_in_the_current_subcategory():
    pedmed = group(seed(), "NordicPedMed")
    assert pedmed.category == "Cross-Cutting Nordic Structures"
    assert pedmed.subcategory == "Research administration and support infrastructures"


@pytest.mark.parametrize(("name", "members", "associates"), SEED_COUNTRIES)
def test_it_derives_each_seed_groups_countries(name, members, associates):
    found = group(seed(), name)
    assert found.countries == tuple(members.split())
    assert found.associate_countries == tuple(associates.split())


def test_it_records_heading_lines_and_headings_as_written():
    lymphoma = group(seed(), "Nordic Lymphoma Group")
    assert (lymphoma.line, lymphoma.heading) == (11, "Nordic Lymphoma Group (NLG)")
    assert group(seed(), "Nordic Monitoring Network").line == 431


def test_it_splits_acronyms_from_names():
    hpb = seed().groups[12]
    assert hpb.acronyms == ("HPB", "NOLCA")
    assert hpb.name == (
        "Nordic Hepato-Pancreato-Biliary Association / Nordic Liver Cancer Association"
    )
    assert group(seed(), "Nordic-European Initiative on Colorectal Cancer").acronyms == ("NordICC",)
    ntog = group(seed(), "Nordic Thoracic Oncology Group Symposium")
    assert ntog.acronyms == ("NTOG",)
    assert group(seed(), "NORDCAN").acronyms == ()
    assert group(seed(), "Nordic CLL Study Group").acronyms == ()


def test_it_reads_every_website_form():
    def website(name):
        found = group(seed(), name)
        return found.website_url, found.website_label, found.website_note

    assert website("Nordic Lymphoma Group") == ("https://www.nordic-lymphoma.org", "", "")
    assert website("Nordic-European Initiative on Colorectal Cancer") == (
        "",
        "NordICC - The Nordic-European Initiative on Colorectal Cancer - "
        "Institute of Health and Society",
        "",
    )
    assert website("Nordic Neuroendocrine Tumor Group") == (
        "https://ous-research.no/net/",
        "",
        "info at",
    )
    assert website("Nordic Melanoma Meeting") == (
        "",
        "Nordic Melanoma Meeting 2023 | University of Iceland",
        "info at",
    )
    assert website("Nordic Trial Connect") == ("https://www.norcrin.no", "", "info at")
    assert website("Scandinavian Neuro-Oncology") == (
        "https://dcccbraintumor.dk/news/snog-northern-lights-neuroscience-symposium-2026-"
        "save-the-date/",
        "",
        "next symposium",
    )
    assert (
        website("Nordic Hepato-Pancreato-Biliary Association / Nordic Liver Cancer Association")[0]
        == "https://www.nordichpb.com/"
    )
    assert website("Nordic Dermatology Association") == ("", "Nordic Dermatology Association", "")


def test_it_joins_a_continuation_paragraph_into_the_fact_above():
    nmtb = group(seed(), "Nordic Molecular Tumour board")
    first, second = nmtb.key_activities.split("\n\n")
    assert first.startswith("NMTB organises monthly meetings.")
    assert second.startswith("Increase awareness of the Nordic region")
    assert second.endswith("site activation in clinical trials.")


def test_it_keeps_unmapped_labels_as_other_facts_in_order():
    assert group(seed(), "Nordic Cancer Union").other_facts == (
        (
            "Role",
            "Umbrella organization for Nordic cancer societies; major funder of Nordic "
            "collaborative cancer research",
        ),
    )
    nordcan = group(seed(), "NORDCAN")
    assert [label for label, _ in nordcan.other_facts] == ["Role", "Hosted by"]
    assert nordcan.other_facts[1][1].startswith("IARC (International Agency")
    assert nordcan.scope.startswith("Cancer incidence, mortality")


def test_it_strips_markdown_bold():
    assert group(seed(), "Nordic Cancer Union").key_activities.endswith(
        "Hosts NORDCAN cancer statistics database"
    )
    bold = re.sub(
        r"^(Nordic Lymphoma Group \(NLG\)|Cancer type:)", r"**\1**", seed_text(), flags=re.M
    )
    assert "**Cancer type:**" in bold
    assert parse_directory(bold) == seed()


def test_it_maps_labels_to_fields():
    myeloma = group(seed(), "Nordic Myeloma Study Group")
    assert myeloma.cancer_types == "Multiple myeloma"
    assert myeloma.participants == (
        "Norwegian, Swedish, Icelandic, Finnish, Estonian, Lithuanian, and Danish "
        "clinical/hospitals"
    )
    assert myeloma.focus == "Clinical trials and evidence-based treatment strategies"
    hpb = seed().groups[12]
    assert hpb.key_activities.startswith("increase knowledge")  # "Activities:"
    palliative = group(seed(), "Nordic Network for Palliative Medicine")
    assert palliative.cancer_types.startswith("palliative medicine")  # "Diagnoses:"
    assert group(seed(), "Nordic Early Rectal Cancer").participants == ""


# --------------------------------------------------------------------------- later editions

NEW_GROUP = (
    "Nordic Hodgkin Network (NHN)\n\nCancer type: Hodgkin lymphoma\n\n"
    "Members: Denmark and Iceland\n\nWebsite: <https://nhn.example.org>\n\n"
)


def test_it_reads_an_added_group_where_it_was_inserted():
    edited = replace_once(
        seed_text(),
        "Nordic Myeloma Study Group (NMSG)\n",
        NEW_GROUP + "Nordic Myeloma Study Group (NMSG)\n",
    )
    directory = parse_directory(edited)
    assert len(directory.groups) == 36
    added = directory.groups[1]
    assert (added.name, added.acronyms, added.countries) == (
        "Nordic Hodgkin Network",
        ("NHN",),
        ("DK", "IS"),
    )
    assert added.category == "Haematological Malignancies"
    assert added.line == line_of(edited, "Nordic Hodgkin Network (NHN)")


def test_it_drops_a_removed_group():
    edited = cut(seed_text(), "Nordic Early Rectal Cancer (NERC)", "<https://www.nerc.no/>\n\n")
    directory = parse_directory(edited)
    assert len(directory.groups) == 34
    assert "Nordic Early Rectal Cancer" not in names(directory)
    assert directory.groups[11].category == "Gastrointestinal Cancers"


def test_it_reads_a_renamed_group():
    edited = replace_once(
        seed_text(), "Nordic Lymphoma Group (NLG)", "Nordic Lymphoma Collaboration (NLC)"
    )
    renamed = parse_directory(edited).groups[0]
    assert (renamed.name, renamed.acronyms) == ("Nordic Lymphoma Collaboration", ("NLC",))
    assert renamed.countries == ("DK", "FI", "NO", "SE")


def test_it_reads_reworded_and_reordered_facts():
    original = (
        "Cancer type: Lymphoid malignancies\n\nParticipants: Finland, Norway, Sweden, Denmark\n\n"
        "Focus: Clinical and molecular research, population data from national quality "
        "registries\n\nKey activities: Nordic multicentre trials, treatment protocols, shared "
        "guidelines\n\nWebsite: <https://www.nordic-lymphoma.org>\n"
    )
    reworded = (
        "Webpage: see <https://lymphoma.example.org/>\n\nActivities: joint trials\n\n"
        "Focus: Lymphoma research\n\nMembers: Sweden, Denmark, Finland, Norway and Iceland\n\n"
        "Cancer types: All lymphomas\n"
    )
    lymphoma = parse_directory(replace_once(seed_text(), original, reworded)).groups[0]
    assert lymphoma.countries == ("DK", "FI", "IS", "NO", "SE")
    assert lymphoma.participants == "Sweden, Denmark, Finland, Norway and Iceland"
    assert (lymphoma.cancer_types, lymphoma.focus, lymphoma.key_activities) == (
        "All lymphomas",
        "Lymphoma research",
        "joint trials",
    )
    assert (lymphoma.website_url, lymphoma.website_note) == ("https://lymphoma.example.org/", "see")
    assert len(parse_directory(replace_once(seed_text(), original, reworded)).groups) == 35


def test_it_reads_a_new_category_with_a_group():
    new_category = (
        "\n\n\n\nRare Cancers\n\nNordic Rare Tumour Network (NRTN)\n\n"
        "Cancer types: Rare solid tumours\n\n"
        "Participants: Estonian and Latvian hospitals, in collaboration with Poland\n\n"
        "Website: www.nrtn.example.org\n\n\n\nBreast cancer\n"
    )
    edited = replace_once(seed_text(), "\n\n\n\nBreast cancer\n", new_category)
    directory = parse_directory(edited)
    assert [name for name, _ in directory.categories][:3] == [
        "Haematological Malignancies",
        "Rare Cancers",
        "Breast cancer",
    ]
    rare = group(directory, "Nordic Rare Tumour Network")
    assert (rare.category, rare.subcategory) == ("Rare Cancers", "")
    assert (rare.countries, rare.associate_countries) == (("EE", "LV"), ("PL",))
    assert rare.website_url == "https://www.nrtn.example.org"
    assert group(directory, "Nordic Breast Cancer Network").category == "Breast cancer"


def test_it_reads_a_new_subcategory_inside_a_category():
    edited = replace_once(
        seed_text(), "Nordic AML Group (NAMLG)\n", "Leukaemias\n\nNordic AML Group (NAMLG)\n"
    )
    directory = parse_directory(edited)
    assert directory.categories[0] == ("Haematological Malignancies", ("Leukaemias",))
    assert group(directory, "Nordic AML Group").subcategory == "Leukaemias"
    assert group(directory, "Nordic CLL Study Group").subcategory == "Leukaemias"
    assert group(directory, "Nordic Breast Cancer Network").subcategory == ""


def test_it_keeps_a_new_unknown_label_in_other_facts():
    edited = replace_once(
        seed_text(),
        "Participants: Finland, Norway, Sweden, Denmark\n",
        "Participants: Finland, Norway, Sweden, Denmark\n\nFunding source: Nordic Cancer Union\n",
    )
    lymphoma = parse_directory(edited).groups[0]
    assert lymphoma.other_facts == (("Funding source", "Nordic Cancer Union"),)


def test_it_reads_windows_line_endings_the_same():
    assert parse_directory(seed_text().replace("\n", "\r\n")) == seed()


def test_it_ignores_trailing_whitespace():
    assert parse_directory(seed_text().replace("\n", " \t \n") + "  \n\n") == seed()


def test_it_does_not_depend_on_the_exact_number_of_blank_lines_between_categories():
    normalised = re.sub(r"\n{4,}", "\n\n\n", seed_text())  # every 3+ blank lines -> 2
    directory = parse_directory(normalised)
    assert directory.categories == SEED_CATEGORIES
    assert names(directory) == names(seed())


def test_it_joins_a_hard_wrapped_paragraph_into_one_line():
    edited = replace_once(
        seed_text(),
        "Focus: Clinical trials and evidence-based",
        "Focus: Clinical trials\nand evidence-based",
    )
    myeloma = parse_directory(edited).groups[1]
    assert myeloma.focus == "Clinical trials and evidence-based treatment strategies"


# --------------------------------------------------------------------------- errors


def test_it_formats_errors_with_the_line_number():
    error = DirectoryParseError(7, "boom")
    assert (str(error), error.line, error.message) == ("line 7: boom", 7, "boom")
    assert isinstance(error, ValueError)


@pytest.mark.parametrize("text", ["", "\n\n  \n\t\n", "\r\n"])
def test_it_rejects_an_empty_document(text):
    error = parse_error(text)
    assert error.line == 1
    assert "empty" in error.message


def test_it_rejects_a_document_without_groups():
    error = parse_error("Title\n\nJust a note about the overview, with nothing else.\n")
    assert error.line == 1
    assert "no groups" in error.message


def test_it_rejects_a_fact_before_any_group():
    edited = replace_once(
        seed_text(),
        "\n\n\n\nHaematological Malignancies\n",
        "\n\nFocus: a stray fact\n\n\n\nHaematological Malignancies\n",
    )
    error = parse_error(edited)
    assert error.line == line_of(edited, "Focus: a stray fact") == 7
    assert "'Focus'" in error.message
    assert parse_error("Members: Norway\n\nCategory\n\nGroup (G)\n\nFocus: x\n").line == 1


def test_it_rejects_a_group_before_any_category():
    error = parse_error("\nTitle\n\nNordic Group (NG)\n\nMembers: Norway\n")
    assert error.line == 4
    assert "before any category" in error.message


def test_it_rejects_a_group_heading_without_facts_before_a_new_category():
    edited = cut(seed_text(), "Cancer type: Chronic lymphocytic", "<https://www.nordic-ctl.org/>\n")
    error = parse_error(edited)
    assert error.line == line_of(edited, "Nordic CLL Study Group") == 59
    assert "'Nordic CLL Study Group' has no 'Label: value' facts" in error.message


def test_it_rejects_a_group_heading_without_facts_at_the_end():
    edited = cut(seed_text(), "Participants: everyone working", "monitoring-network/>")
    error = parse_error(edited)
    assert error.line == line_of(edited, "Nordic Monitoring Network (NORM)") == 431
    assert "ends the document" in error.message


def test_it_rejects_a_group_heading_followed_by_text_instead_of_facts():
    text = (
        "Title\n\n\nCategory\n\nFirst Group (FG)\n\nMembers: Norway\n\n"
        "Second Group (SG)\n\nThis group describes itself in a sentence instead of facts.\n"
    )
    error = parse_error(text)
    assert error.line == line_of(text, "Second Group (SG)") == 10
    assert "'Second Group (SG)'" in error.message


def test_it_rejects_too_many_headings_in_front_of_a_group():
    text = "Title\n\n\nCategory\n\nSubcategory\n\nStray heading\n\nGroup (G)\n\nMembers: Norway\n"
    error = parse_error(text)
    assert error.line == line_of(text, "Stray heading") == 8
    assert "'Stray heading'" in error.message


def test_it_rejects_the_same_label_twice_in_one_group():
    edited = replace_once(
        seed_text(),
        "Participants: Finland, Norway, Sweden, Denmark\n",
        "Participants: Finland, Norway, Sweden, Denmark\n\nMembers: Iceland\n",
    )
    error = parse_error(edited)
    assert error.line == line_of(edited, "Members: Iceland") == 17
    assert "'Members'" in error.message and "'Participants' on line 15" in error.message
    assert "'Nordic Lymphoma Group (NLG)'" in error.message


def test_it_rejects_a_duplicate_group_name():
    edited = replace_once(seed_text(), "Nordic CLL Study Group\n", "Nordic MDS Group\n")
    error = parse_error(edited)
    assert error.line == 59
    assert "'Nordic MDS Group'" in error.message and "line 35" in error.message


def test_it_rejects_a_duplicate_group_acronym():
    edited = replace_once(
        seed_text(), "Nordic Myeloma Study Group (NMSG)", "Nordic Myeloma Study Group (NLG)"
    )
    error = parse_error(edited)
    assert error.line == 23
    assert "acronym 'NLG'" in error.message and "line 11" in error.message


# --------------------------------------------------------------------------- countries


@pytest.mark.parametrize(
    ("wording", "members", "associates"),
    [
        ("", "", ""),
        ("Finnish and Swedish hospitals", "FI SE", ""),
        ("networks FINPEDMED & IcePedMed, NorPedMed, DanPedMed, SwedPedMed", "", ""),
        ("Nordic networks FINPEDMED & IcePedMed, NorPedMed", "DK FI IS NO SE", ""),
        ("Denmark and Norway, the Nordic chapter of a society", "DK NO", ""),
        ("Scandinavian countries and Finland", "DK FI NO SE", ""),
        ("Nordic countries and Baltic region", "DK EE FI IS LT LV NO SE", ""),
        ("we polish protocols in Norway", "NO", ""),
        ("Greenlandic and Faroese clinics, Åland Islands", "AX FO GL", ""),
        ("Norway, Poland, Sweden and the Netherlands.", "NL NO PL SE", ""),
        (
            "the Nordic countries with Lithuania & Estonia as associate members",
            "DK FI IS NO SE",
            "EE LT",
        ),
        ("Denmark, Norway; associate members: Latvia, Lithuania", "DK NO", "LT LV"),
        ("Denmark, Norway and Estonia (associate member)", "DK NO", "EE"),
        ("Sweden and Norway - collaboration with Iceland and Cologne", "NO SE", "DE IS"),
        ("Norway, in collaboration with Norway and Germany", "NO", "DE"),
        (
            "Sweden, Denmark, Norway - operates in collaboration with the European Society",
            "DK NO SE",
            "",
        ),
    ],
)
def test_it_derives_countries_from_wording(wording, members, associates):
    assert countries_from_wording(wording) == (tuple(members.split()), tuple(associates.split()))
