"""The patient list: sorted by surname in Norwegian order, by register number or birth
date, both ways; filtered; paged by keyset (ties included); bad values are 400s naming the
parameter; constant queries whatever the page."""

import re
from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from consortium.models import Institution, Role
from consortium.pagination import keyset_page
from registry.filters import PatientFilter
from registry.models import Patient, PatientInstitution, TumourEpisode
from registry.selectors import SEARCH_COUNT_CAP, patient_search, with_diagnosis
from tests.conftest import make_member, sign_in

API = "/api/v1/registry/patients/"

# Written as people write them: given names, then the surname. The Norwegian order of the
# surnames, worked out by hand from the alphabet (… X Y Z Æ Ø Å, and "Aa" read as Å, as
# Språkrådet's rule for names and CLDR's Norwegian collation have it):
NAMES = [
    "Kari Aasen",
    "Ola Zahl",
    "Åse Ødegård",
    "Per Ås",
    "Liv Berg",
    "Nils Ærø",
    "Eva Andersen",
    "Tor Bergen",
    "Anne Østby",
]
BY_SURNAME = [
    "Eva Andersen",  # A
    "Liv Berg",  # "Berg" before "Bergen": a prefix first
    "Tor Bergen",
    "Ola Zahl",  # Z
    "Nils Ærø",  # Æ after Z
    "Åse Ødegård",  # Ø: "Ødegård" before "Østby" (d < s)
    "Anne Østby",
    "Per Ås",  # Å last, and "Ås" before "Aasen" (Aa = Å, then s = s, end first)
    "Kari Aasen",
]


@pytest.fixture
def clinician(db):
    return make_member(Role.CLINICIAN, institutions=("OUS",), email="list@ous.no", with_totp=True)


def _patients(names, *, codes=("OUS",), birth=None):
    rows = Patient.objects.bulk_create(
        Patient(
            national_id=f"{10_000_000_000 + i + Patient.objects.count() * 100:011d}",
            full_name=name,
            search_name=name.lower(),
            sex=Patient.Sex.FEMALE,
            birth_date=birth or date(1950 + i, 1 + i % 12, 1 + i % 28),
        )
        for i, name in enumerate(names)
    )
    for code in codes:
        institution = Institution.objects.get(code=code)
        PatientInstitution.objects.bulk_create(
            PatientInstitution(patient=p, institution=institution) for p in rows
        )
    return rows


def _names(body) -> list[str]:
    return [p["full_name"] for p in body["results"]]


def test_names_sort_by_surname_in_norwegian_order(client, clinician):
    _patients(NAMES)
    sign_in(client, clinician)
    assert _names(client.get(API).json()) == BY_SURNAME
    assert _names(client.get(API, {"sort": "-name"}).json()) == BY_SURNAME[::-1]
    page = client.get("/registry/").content.decode()
    positions = [page.index(f"<td>{name}</td>") for name in BY_SURNAME]
    assert positions == sorted(positions)
    assert 'aria-sort="ascending"' in page and "Name (by surname)" in page


def test_register_number_and_birth_date_sort_both_ways(client, clinician):
    rows = _patients(NAMES)
    sign_in(client, clinician)
    numbers = sorted(p.register_number for p in rows)
    body = client.get(API, {"sort": "register_number"}).json()
    assert [p["register_number"] for p in body["results"]] == numbers
    body = client.get(API, {"sort": "-register_number"}).json()
    assert [p["register_number"] for p in body["results"]] == numbers[::-1]
    births = sorted(str(p.birth_date) for p in rows)
    assert [p["birth_date"] for p in client.get(API, {"sort": "born"}).json()["results"]] == births
    assert [p["birth_date"] for p in client.get(API, {"sort": "-born"}).json()["results"]] == (
        births[::-1]
    )


def _walk(client, params, size):
    """Every page forward by `next`, then every page back by `previous`."""
    forward, pages = [], []
    body = client.get(API, {**params, "page_size": size}).json()
    while True:
        pages.append([p["register_number"] for p in body["results"]])
        forward += pages[-1]
        if not body["next"]:
            break
        body = client.get(body["next"]).json()
    backward = [pages[-1]]
    while body["previous"]:
        body = client.get(body["previous"]).json()
        backward.append([p["register_number"] for p in body["results"]])
    return forward, pages, backward[::-1]


@pytest.mark.parametrize("sort", ["name", "-name", "born", "-born"])
def test_keyset_pages_walk_ties_once_each_way(client, clinician, sort):
    # Seven patients with the same name and birth date: only the id orders them.
    rows = _patients(["Kari Hansen"] * 7, birth=date(1960, 1, 1)) + _patients(["Ola Berg"] * 2)
    sign_in(client, clinician)
    forward, pages, backward = _walk(client, {"sort": sort}, 3)
    expected = [p["register_number"] for p in client.get(API, {"sort": sort}).json()["results"]]
    assert forward == expected and len(set(forward)) == len(rows) == 9
    assert [len(p) for p in pages] == [3, 3, 3]
    assert backward == pages  # the previous links give the same pages back
    ids = {p.register_number: p.pk for p in rows}
    hansens = [ids[n] for n in forward if n in {p.register_number for p in rows[:7]}]
    assert hansens == sorted(hansens, reverse=sort.startswith("-"))  # ties by id


def test_filters_narrow_the_list(client, clinician):
    living, dead = _patients(["Kari Hansen", "Ola Berg"])
    dead.vital_status = Patient.VitalStatus.DEAD
    dead.save()
    TumourEpisode.objects.create(
        patient=living,
        institution=Institution.objects.get(code="OUS"),
        diagnosis="glioblastoma_idh_wildtype",
        who_grade=4,
        diagnosis_date=date(2025, 1, 1),
    )
    sign_in(client, clinician)
    body = client.get(API, {"vital_status": "dead"}).json()
    assert _names(body) == ["Ola Berg"] and body["count"] == 1
    body = client.get(API, {"diagnosis": "glioblastoma_idh_wildtype"}).json()
    assert _names(body) == ["Kari Hansen"]
    assert body["results"][0]["diagnosis_label"] == "Glioblastoma, IDH-wildtype, CNS WHO grade 4"
    page = client.get("/registry/", {"vital_status": "alive"}).content.decode()
    assert "Glioblastoma, IDH-wildtype, CNS WHO grade 4" in page and "Ola Berg" not in page


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"sort": "first_name"}, "sort"),
        ({"vital_status": "asleep"}, "vital_status"),
        ({"diagnosis": "flu"}, "diagnosis"),
        ({"institution": "StOlav"}, "institution"),  # not one of the member's
        ({"vital_status": ""}, "vital_status"),
        ({"after": "not-a-cursor"}, "after"),
        ({"before": "WzEsMiwzXQ"}, "before"),  # [1,2,3]: a cursor of another list's shape
        ({"page_size": "0"}, "page_size"),
    ],
)
def test_a_bad_filter_sort_or_cursor_is_a_400_naming_it(client, clinician, params, field):
    _patients(["Kari Hansen"])
    sign_in(client, clinician)
    response = client.get(API, params)
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"message", "extra"} and set(body["extra"]["fields"]) == {field}
    if field != "page_size":  # the page has no page-size parameter
        page = client.get("/registry/", {k: v for k, v in params.items() if v})
        if params.get(field):
            assert page.status_code == 400 and 'role="alert"' in page.content.decode()


def test_coordinators_may_not_sort_by_name(client, db):
    coordinator = make_member(Role.COORDINATOR, institutions=("OUS",), with_totp=True)
    _patients(NAMES)
    sign_in(client, coordinator)
    refused = client.get(API, {"sort": "name"})
    assert refused.status_code == 400, refused.content
    body = client.get(API).json()
    numbers = [p["register_number"] for p in body["results"]]
    assert numbers == sorted(numbers)


def test_any_page_takes_the_same_queries(client, clinician, django_assert_num_queries):
    _patients([f"Name{i:02d} Hansen" for i in range(30)])
    sign_in(client, clinician)
    first = client.get(API, {"page_size": 5}).json()
    client.get(first["next"])  # warm the session and count caches
    # session, member (with their MFA check), institutions, the page, the access log
    with django_assert_num_queries(5):
        later = client.get(first["next"])
    assert len(later.json()["results"]) == 5
    client.get("/registry/")
    # the same and the menu's unread count (the filter's institutions are the member's, read
    # once for the page)
    with django_assert_num_queries(6):
        page = client.get("/registry/", {"after": parse_qs(urlsplit(first["next"]).query)["after"]})
    assert page.status_code == 200
    # The institution select lists the member's institutions, by name as the queryset would.
    assert re.search(
        r'<select name="institution"[^>]*><option value="" selected>---------</option>'
        r'<option value="OUS">Oslo universitetssykehus \(OUS\)</option></select>',
        page.content.decode(),
    )
    assert client.get("/registry/", {"institution": "HUS"}).status_code == 400  # not theirs


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.ADMIN])
@pytest.mark.parametrize("sort", ["", "name", "-name", "register_number", "-born", "born"])
def test_the_opened_list_is_the_first_keyset_page(client, db, role, sort):
    """The unfiltered first page is read by a prepared query (registry.selectors.
    first_patients): the same rows, columns and next link as the keyset page of the
    filtered queryset, which serves every other page."""
    _patients(NAMES[:5] + ["Kari Hansen"] * 30, birth=date(1960, 1, 1))
    _patients(["Per Bergen"] * 3, codes=("HUS",))  # not the clinician's
    member = make_member(role, institutions=("OUS",), email=f"{role}@ous.no", with_totp=True)
    sign_in(client, member)
    params = {"sort": sort} if sort else {}
    opened = client.get("/registry/", params)
    rows = opened.context["page"]
    filters = PatientFilter(
        params, queryset=with_diagnosis(patient_search(user=member)), request=opened.wsgi_request
    )
    assert filters.is_valid()
    walked = keyset_page(filters.qs, size=25)
    assert [(p.pk, p.institution_codes, p.latest_diagnosis) for p in rows] == [
        (p.pk, p.institution_codes, p.latest_diagnosis) for p in walked
    ]
    assert len(rows) == 25 and rows.next_cursor == walked.next_cursor is not None
    assert rows.previous_cursor is None
    # Its next link continues where the keyset walk does.
    after = client.get("/registry/", {**params, "after": rows.next_cursor}).context["page"]
    assert [p.pk for p in after] == [
        p.pk for p in keyset_page(filters.qs, after=walked.next_cursor, size=25)
    ]
    # The API's opened list takes the same prepared path (its default page: 50 rows), and its
    # pages past the first the keyset walk: the same rows, diagnoses and count either way.
    body = client.get(API, {**params, "page_size": 20}).json()  # not the default: keyset
    opened_api = client.get(API, params).json()
    assert opened_api["count"] == body["count"] == filters.qs.count()
    assert [p["register_number"] for p in opened_api["results"]] == [
        p.register_number for p in keyset_page(filters.qs, size=50)
    ]
    assert opened_api["results"][:20] == body["results"] and opened_api["next"] is None


@pytest.mark.parametrize("sort", ["name", "-name", "born", "-born", "register_number"])
def test_a_name_search_finds_its_page_ids_first_with_the_same_rows(client, clinician, sort):
    """PatientFilter.PAGE_IDS_FIRST: the page's ids are found in a subquery (the surname and
    birth-date indexes INCLUDE the searched name), then the rows by id. The same rows, in the
    same order, with the same cursors as reading the rows at once, on every page both ways."""
    _patients([f"Kari Johansen{i}" for i in range(4)] + ["Ola Hansen"] * 5 + ["Liv Berg"] * 3)
    _patients(["Per Hansen"] * 2, codes=("HUS",))  # not the clinician's
    sign_in(client, clinician)
    request = client.get("/registry/").wsgi_request
    filters = PatientFilter(
        {"sort": sort},
        queryset=with_diagnosis(patient_search(user=clinician, query="hansen")),
        request=request,
    )
    assert filters.is_valid()

    def walk(ids_first):
        pages, page = [], keyset_page(filters.qs, size=2, ids_first=ids_first)
        while True:
            pages.append(([p.pk for p in page], page.next_cursor, page.previous_cursor))
            if not page.next_cursor:
                break
            page = keyset_page(filters.qs, after=page.next_cursor, size=2, ids_first=ids_first)
        back = keyset_page(filters.qs, before=page.previous_cursor, size=2, ids_first=ids_first)
        return pages, [p.pk for p in back]

    pages, back = walk(ids_first=True)
    assert (pages, back) == walk(ids_first=False)
    assert sum(len(rows) for rows, _, _ in pages) == 9  # the Johansens and Ola Hansens
    assert back == pages[-2][0]
    # The list page and the API take the same path.
    body = client.get(API, {"search": "hansen", "sort": sort, "page_size": 2}).json()
    assert [
        Patient.objects.get(register_number=p["register_number"]).pk for p in body["results"]
    ] == (pages[0][0])


@pytest.mark.parametrize("sort", ["", "name", "-name", "born", "-born", "register_number"])
@pytest.mark.parametrize("query", ["hansen", "kari hansen", "han_en", "50%"])
def test_a_typed_name_search_is_the_first_keyset_page(client, clinician, sort, query):
    """A name search without filter or cursor reads its first page and count by prepared
    queries (registry.selectors.name_search_first_page): the same rows, columns, cursors and
    count as the keyset page of patient_search, which serves every other page. % and _ are
    letters to it, as to `contains`."""
    _patients(["Kari Hansen"] * 30 + ["Ola Johansen", "Kari Berg", "Hanne Hansen"])
    _patients(["Per Hansen"] * 3, codes=("HUS",))  # not the clinician's
    sign_in(client, clinician)
    params = {"q": query, **({"sort": sort} if sort else {})}
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/registry/", params)
    # Prepared: no query of the page is written out (and compiled) for it.
    assert not [q["sql"] for q in queries if "registry_patient" in q["sql"].split("/*")[0]]
    rows = response.context["page"]
    filters = PatientFilter(
        {"sort": sort} if sort else {},
        queryset=with_diagnosis(patient_search(user=clinician, query=query)),
        request=response.wsgi_request,
    )
    assert filters.is_valid()
    walked = keyset_page(filters.qs, size=25)
    assert [(p.pk, p.institution_codes, p.latest_diagnosis) for p in rows] == [
        (p.pk, p.institution_codes, p.latest_diagnosis) for p in walked
    ]
    assert (rows.next_cursor, rows.previous_cursor) == (walked.next_cursor, None)
    assert response.context["count"] == filters.qs.count()
    assert len(rows) == {"hansen": 25, "kari hansen": 25}.get(query, 0)


def test_a_typed_name_search_counts_its_matches_unordered(client, clinician):
    """The capped count of a typed name search is read without an order, as search_count
    reads it: ordered, PostgreSQL walks the name index to find the first 201 'Hansen's
    (at 50,000 patients, twice the time of the count itself)."""
    _patients(["Kari Hansen"] * 3)
    sign_in(client, clinician)
    assert client.get("/registry/", {"q": "hansen"}).context["count"] == 3
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s",
            [f"%LIMIT {SEARCH_COUNT_CAP + 1}%"],
        )
        counts = [statement for (statement,) in cursor.fetchall()]
    assert counts and all("ORDER BY" not in statement.upper() for statement in counts)
