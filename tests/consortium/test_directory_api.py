"""GET /api/v1/directory/groups/ and the public directory pages: filters, shape, speed."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from consortium.models import NetworkGroup

pytestmark = pytest.mark.django_db


def names(response):
    return {g["name"] for g in response.json()["results"]}


def test_it_lists_every_group_to_anonymous_readers(client, directory):
    response = client.get("/api/v1/directory/groups/")
    assert response.status_code == 200
    assert response.json()["count"] == 35
    nlg = next(g for g in response.json()["results"] if g["acronym"] == "NLG")
    assert nlg["countries"] == ["DK", "FI", "NO", "SE"]
    assert nlg["category"] == {
        "slug": "haematological-malignancies",
        "name": "Haematological Malignancies",
        "parent": None,
    }
    assert nlg["url"] == f"/directory/{nlg['slug']}/"


def test_it_filters_by_country_code_including_associates(client, directory):
    norway = names(client.get("/api/v1/directory/groups/?country=NO"))
    assert len(norway) == 29
    assert "Nordic-European Initiative on Colorectal Cancer" in norway
    estonia = names(client.get("/api/v1/directory/groups/?country=ee"))
    assert estonia == {
        "Nordic Myeloma Study Group",
        "Nordic Society of Gynaecologic Oncology",
        "Nordic Society for Paediatric Haematology and Oncology",
    }
    assert names(client.get("/api/v1/directory/groups/?country=DE")) == {
        "Swedish and Norwegian Testicular Cancer Group"
    }


def test_it_filters_by_category_and_its_subcategories(client, directory):
    cross = names(client.get("/api/v1/directory/groups/?category=cross-cutting-nordic-structures"))
    assert len(cross) == 14
    sub = names(
        client.get(
            "/api/v1/directory/groups/?category=cross-cutting-nordic-structures-research-administration-and-support-infrastructures"
        )
    )
    assert "NorForsk" in sub and "NORDCAN" not in sub
    assert names(client.get("/api/v1/directory/groups/?category=neuro-oncology-brain-tumours")) == {
        "Scandinavian Neuro-Oncology"
    }


def test_it_searches_full_text_with_prefixes_and_acronyms(client, directory):
    assert "Nordic Lymphoma Group" in names(client.get("/api/v1/directory/groups/?search=lymphoma"))
    assert "Nordic Lymphoma Group" in names(client.get("/api/v1/directory/groups/?search=lymph"))
    assert names(client.get("/api/v1/directory/groups/?search=NOPHO")) == {
        "Nordic Society for Paediatric Haematology and Oncology"
    }
    brain = names(client.get("/api/v1/directory/groups/?search=brain tumours"))
    assert "Scandinavian Neuro-Oncology" in brain
    assert names(client.get("/api/v1/directory/groups/?search=zzzqqq")) == set()
    # Characters that would break a tsquery are simply not words.
    assert client.get("/api/v1/directory/groups/?search=%27%26%7C!(").status_code == 200


def test_search_and_country_combine(client, directory):
    found = names(client.get("/api/v1/directory/groups/?search=trials&country=EE"))
    assert found and all("Estonia" not in n for n in found)
    assert found <= names(client.get("/api/v1/directory/groups/?country=EE"))


def test_a_bad_filter_gets_the_one_error_format_naming_the_field(client, directory):
    response = client.get("/api/v1/directory/groups/?country=Norway")
    assert response.status_code == 400
    body = response.json()
    assert "country" in body["message"] and "ISO 3166 alpha-2" in body["message"]
    assert body["extra"]["fields"]["country"] == ["Use an ISO 3166 alpha-2 code, e.g. NO."]


def test_detail_by_slug_and_404_in_the_same_format(client, directory):
    slug = NetworkGroup.objects.get(acronym="NMTB").slug
    response = client.get(f"/api/v1/directory/groups/{slug}/")
    assert response.status_code == 200
    assert "Increase awareness of the Nordic region" in response.json()["key_activities"]
    missing = client.get("/api/v1/directory/groups/no-such-group/")
    assert missing.status_code == 404
    assert missing.json() == {"message": "Not found.", "extra": {}}


def test_removed_groups_leave_the_api_and_the_pages(client, directory):
    group = NetworkGroup.objects.get(acronym="NLG")
    NetworkGroup.objects.filter(pk=group.pk).update(removed_at="2026-01-01T00:00Z")
    assert client.get(f"/api/v1/directory/groups/{group.slug}/").status_code == 404
    assert client.get(f"/directory/{group.slug}/").status_code == 404
    assert client.get("/api/v1/directory/groups/").json()["count"] == 34


def add_groups(n):
    category = NetworkGroup.objects.first().category
    NetworkGroup.objects.bulk_create(
        NetworkGroup(
            slug=f"extra-{i}",
            name=f"Extra group {i}",
            category=category,
            countries=["NO"],
            heading=f"Extra group {i}",
        )
        for i in range(n)
    )


@pytest.mark.parametrize(
    "url",
    [
        "/directory/",
        "/directory/?q=cancer&country=NO",
        "/api/v1/directory/groups/",
        "/api/v1/directory/groups/?search=nordic",
    ],
)
def test_the_list_takes_the_same_few_queries_whatever_the_number_of_groups(client, directory, url):
    with CaptureQueriesContext(connection) as with_35:
        assert client.get(url).status_code == 200
    add_groups(40)
    with CaptureQueriesContext(connection) as with_75:
        assert client.get(url).status_code == 200
    assert len(with_35) < 20
    assert len(with_75) == len(with_35)


def test_the_directory_page_shows_categories_groups_and_the_country_chart(client, directory):
    page = client.get("/directory/").content.decode()
    assert "35 groups." in page
    assert "Cross-Cutting Nordic Structures" in page and "Research administration" in page
    assert '<th scope="row"><a href="?country=NO">Norway</a></th>' in page
    assert "<td>29</td>" in page


def test_live_search_returns_only_the_results_fragment(client, directory):
    response = client.get("/directory/?q=myeloma", headers={"HX-Request": "true"})
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="results"')
    assert "Nordic Myeloma Study Group" in body and "<html" not in body
