"""The members list (admins): sorted by each column both ways, filtered, paged by keyset
with ties in order, a bad filter or sort is a 400 naming it; constant queries."""

import pytest

from consortium.models import Role
from tests.conftest import make_member, sign_in

API = "/api/v1/members/"


@pytest.fixture
def admin_client(client, db):
    admin = make_member(
        Role.ADMIN, institutions=("OUS",), email="a-admin@example.no", with_totp=True
    )
    admin.full_name = "Zed Admin"
    admin.save()
    sign_in(client, admin)
    return client


def _members():
    made = []
    for i, (role, code, name) in enumerate(
        [
            (Role.CLINICIAN, "OUS", "Åse Berg"),
            (Role.CLINICIAN, "HUS", "Ola Hansen"),
            (Role.COORDINATOR, "OUS", "Ola Hansen"),  # a tie on the name
            (Role.RESEARCHER, "UIO-ICR", "Kari Dahl"),
            (Role.LAB_SCIENTIST, "UIB-LAB", "Per Aas"),
        ]
    ):
        member = make_member(role, institutions=(code,), email=f"m{i}@example.no")
        member.full_name = name
        member.save()
        made.append(member)
    return made


def test_sorted_by_each_column_both_ways_and_ties_by_id(admin_client):
    made = _members()
    emails = [m["email"] for m in admin_client.get(API).json()["results"]]
    assert emails == sorted(emails)
    body = admin_client.get(API, {"sort": "-email"}).json()
    assert [m["email"] for m in body["results"]] == sorted(emails, reverse=True)
    names = [m["full_name"] for m in admin_client.get(API, {"sort": "name"}).json()["results"]]
    # By surname in Norwegian order: "Aas" is "Ås", after Z (worked out by hand).
    assert names == ["Zed Admin", "Åse Berg", "Kari Dahl", "Ola Hansen", "Ola Hansen", "Per Aas"]
    ties = [m["id"] for m in admin_client.get(API, {"sort": "name"}).json()["results"][3:5]]
    assert ties == sorted([made[1].pk, made[2].pk])
    roles = [m["role"] for m in admin_client.get(API, {"sort": "-role"}).json()["results"]]
    assert roles == sorted(roles, reverse=True)


def test_filters_and_keyset_pages(admin_client):
    _members()
    assert [m["email"] for m in admin_client.get(API, {"role": "clinician"}).json()["results"]] == [
        "m0@example.no",
        "m1@example.no",
    ]
    body = admin_client.get(API, {"institution": "OUS"}).json()
    assert {m["email"] for m in body["results"]} == {
        "a-admin@example.no",
        "m0@example.no",
        "m2@example.no",
    }
    assert [m["email"] for m in admin_client.get(API, {"search": "hansen"}).json()["results"]] == [
        "m1@example.no",
        "m2@example.no",
    ]
    first = admin_client.get(API, {"page_size": 4}).json()
    second = admin_client.get(first["next"]).json()
    assert len(first["results"]) == 4 and len(second["results"]) == 2 and not second["next"]
    back = admin_client.get(second["previous"]).json()
    assert back["results"] == first["results"]
    page = admin_client.get("/members/", {"sort": "-name"}).content.decode()
    assert 'aria-sort="descending"' in page and page.index("Per Aas") < page.index("Kari Dahl")
    assert page.index("Kari Dahl") < page.index("Åse Berg")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"role": "boss"}, "role"),
        ({"sort": "password"}, "sort"),
        ({"institution": "X"}, "institution"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(admin_client, params, field):
    response = admin_client.get(API, params)
    assert response.status_code == 400 and set(response.json()["extra"]["fields"]) == {field}
    page = admin_client.get("/members/", params)
    assert page.status_code == 400 and 'role="alert"' in page.content.decode()


def test_any_page_in_constant_queries(admin_client, django_assert_num_queries):
    _members()
    first = admin_client.get(API, {"page_size": 2}).json()
    admin_client.get(first["next"])
    # session, member (with their MFA check), count, page, the page's institutions
    with django_assert_num_queries(5):
        admin_client.get(first["next"])


# Surnames whose order only the Norwegian rules decide, as the patient list's test has them:
# Æ, Ø, Å after Z; Ø before Å; "Aa" is Å (CLDR nb, Språkrådet).
NORWEGIAN_ORDER = [
    "Eva Andersen",
    "Lise Berg",
    "Ola Zahl",
    "Nils Ærø",
    "Åse Ødegård",
    "Tor Østby",
    "Per Ås",
    "Kari Aasen",
]


def test_members_sort_by_surname_in_norwegian_order_wherever_listed(admin_client):
    for i, name in enumerate(reversed(NORWEGIAN_ORDER)):
        member = make_member(Role.CLINICIAN, institutions=("OUS",), email=f"n{i}@example.no")
        member.full_name = name
        member.save()
    expected = ["Zed Admin", *NORWEGIAN_ORDER]  # the signed-in admin: "Admin" before "Andersen"
    body = admin_client.get(API, {"sort": "name", "page_size": 20}).json()
    assert [m["full_name"] for m in body["results"]] == expected
    body = admin_client.get(API, {"sort": "-name", "page_size": 20}).json()
    assert [m["full_name"] for m in body["results"]] == expected[::-1]
    page = admin_client.get("/members/", {"sort": "name"}).content.decode()
    assert [page.index(n) for n in expected] == sorted(page.index(n) for n in expected)
    # The access review's member filter lists them in the same order.
    review = admin_client.get("/registry/access-review/").content.decode()
    options = review[review.index('name="member"') :]
    assert [options.index(f">{n}<") for n in expected] == sorted(
        options.index(f">{n}<") for n in expected
    )
