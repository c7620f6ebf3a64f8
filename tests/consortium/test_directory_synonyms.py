"""The directory search finds what people type: Norwegian and English words both (the
synonym list), with or without accents (PostgreSQL's unaccent), and the cancer-type filter
shows tidy labels. Over the real seed document."""

import pytest

from consortium.directory_synonyms import plain, synonyms
from consortium.selectors import cancer_type_label

pytestmark = pytest.mark.django_db

BRAIN = {
    "Scandinavian Neuro-Oncology (SNOG)",
    "Nordic Society for Paediatric Haematology and Oncology (NOPHO)",
}


def names(client, query: str) -> set[str]:
    response = client.get("/api/v1/directory/groups/", {"search": query})
    assert response.status_code == 200
    return {
        f"{g['name']} ({g['acronym']})" if g["acronym"] else g["name"]
        for g in response.json()["results"]
    }


@pytest.mark.parametrize(
    "typed",
    [
        "glioma",
        "Glioblastoma",
        "hjernesvulst",
        "hjernesvulster",
        "hjernetumor",
        "hjärntumör",
        "hjarntumor",
        "CNS",
        "hjernes",
    ],
)
def test_brain_tumour_words_find_the_cns_groups(client, directory, typed):
    found = names(client, typed)
    assert "Scandinavian Neuro-Oncology (SNOG)" in found, found
    assert not any("Neuroendocrine" in n or "Lymphoma" in n for n in found), found


def test_norwegian_and_english_words_find_the_same_groups(client, directory):
    for norwegian, english in [
        ("brystkreft", "breast"),
        ("lymfom", "lymphoma"),
        ("føflekkreft", "melanoma"),
        ("prostatakreft", "prostate"),
        ("sarkom", "sarcoma"),
        ("barnekreft", "paediatric"),
    ]:
        assert names(client, norwegian) == names(client, english) != set(), norwegian


def test_two_words_must_both_match_through_their_synonyms(client, directory):
    both = names(client, "barnekreft hjernesvulst")  # children's cancer and brain tumours
    assert "Nordic Society for Paediatric Haematology and Oncology (NOPHO)" in both
    assert both == names(client, "barnekreft") & names(client, "hjernesvulst")
    assert both == names(client, "paediatric glioma")


def test_accents_make_no_difference_either_way(client, directory):
    assert names(client, "Tromsø") == names(client, "Tromso")
    assert names(client, "leukémie") == names(client, "leukemie")


def test_the_search_still_takes_anything_typed(client, directory):
    assert names(client, "zzzqqq") == set()
    assert client.get("/api/v1/directory/groups/", {"search": "'&|!(:*"}).status_code == 200
    assert client.get("/directory/", {"q": "ø æ å :*"}).status_code == 200


def test_the_synonym_lookup():
    assert plain("Hjärntumör") == "hjarntumor" and plain("Føflekkreft") == "foflekkreft"
    assert {"brain", "glioma", "hjernesvulst"} <= synonyms("Glioma")
    assert "hjernesvulst" in synonyms("hjernes")  # a word on its way
    assert synonyms("xyz") == {"xyz"}
    assert synonyms("net") == {"net"}  # short words are not widened


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        ("testicular cancer/germ-cell cancer", "Testicular cancer / germ-cell cancer"),
        (
            "Paediatric leukaemia's, lymphomas, brain tumours and solid tumours",
            "Paediatric leukaemias, lymphomas, brain tumours and solid tumours",
        ),
        ("  Breast   cancer ", "Breast cancer"),
        ("Neuroendocrine tumors (NENs)", "Neuroendocrine tumors (NENs)"),
    ],
)
def test_cancer_type_labels_are_tidy(raw, label):
    assert cancer_type_label(raw) == label


def test_the_cancer_type_filter_shows_labels_and_filters_by_value(client, directory):
    page = client.get("/directory/").content.decode()
    select = page.split('name="cancer_type"', 1)[1].split("</select>", 1)[0]
    assert ">Testicular cancer / germ-cell cancer<" in select
    assert 'value="testicular cancer/germ-cell cancer"' in select
    assert "leukaemia&#x27;s" not in select.split('value="', 1)[0]
    filtered = client.get("/directory/", {"cancer_type": "testicular cancer/germ-cell cancer"})
    assert filtered.status_code == 200
