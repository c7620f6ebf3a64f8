"""The access-log review for admins: filters (member, patient, institution, local period,
page, flag), page names in words and Norwegian times, keyset pages both ways, the four
flags (each worked out by hand below), the CSV export through the safe writer, the monthly
summary mail, and constant queries."""

import csv
import io
from datetime import UTC, date, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail

from consortium.models import AccessLog, Institution, Role
from registry import access_review
from registry.models import AccessReviewSummary, CareRelationshipDeclaration, Patient
from registry.tasks import send_access_review_summary
from tests.conftest import make_member, sign_in

API = "/api/v1/registry/access-log/"
PAGE = "/registry/access-review/"


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def _patient(name: str, region: str, number: str) -> Patient:
    return Patient.objects.create(
        national_id=number,
        full_name=name,
        search_name=name.lower(),
        sex="female",
        birth_date=date(1960, 1, 1),
        health_region=region,
    )


def _log(user, patient_id: int, at: datetime, page: str = "registry:patient") -> AccessLog:
    return AccessLog.objects.create(
        user=user, patient_id=patient_id, at=at, page=page, path="/registry/patients/x/"
    )


@pytest.fixture
def world(db):
    ous = make_member(Role.CLINICIAN, institutions=("OUS",), email="ous@example.no")
    hus = make_member(Role.CLINICIAN, institutions=("HUS",), email="hus@example.no")
    lab = make_member(Role.LAB_SCIENTIST, institutions=("UIB-LAB",), email="lab@example.no")
    admin = make_member(Role.ADMIN, institutions=("OUS",), email="admin@example.no", with_totp=True)
    west = _patient("Vest Pasient", "west", "10000000001")
    east = _patient("Aust Pasient", "south_east", "10000000002")
    nowhere = _patient("Uten Region", "", "10000000003")
    return ous, hus, lab, admin, west, east, nowhere


def _flags_by_id(client, **params) -> dict[int, list[str]]:
    body = client.get(API, {"page_size": 200, **params}).json()
    return {entry["id"]: entry["flags"] for entry in body["results"]}


def test_each_flag_worked_out_by_hand(client, world):
    ous, hus, lab, admin, west, east, nowhere = world
    # Tuesday 10 March 2026; Norway is on CET (UTC+1) until 29 March.
    cases = {
        # An OUS (Helse Sør-Øst) clinician opens a Helse Vest patient at 10:00 local time.
        "other region": (_log(ous, west.pk, utc(2026, 3, 10, 9)), ["other_region"]),
        # A HUS clinician, their own region's patient, Saturday 14 March 10:00: a weekend.
        "weekend": (_log(hus, west.pk, utc(2026, 3, 14, 9)), ["outside_hours"]),
        # 06:59 local (05:59 UTC): before 07:00; and Helse Sør-Øst's patient for HUS.
        # (Made after HUS's clinician declared a care relationship to it: see below.)
        "early": (
            _log(hus, east.pk, utc(2026, 3, 10, 5, 59)),
            ["other_region", "outside_hours", "new_care_relationship"],
        ),
        # 16:59 local is within working hours; 17:00 is not.
        "16:59": (_log(hus, west.pk, utc(2026, 3, 10, 15, 59)), []),
        "17:00": (_log(hus, west.pk, utc(2026, 3, 10, 16)), ["outside_hours"]),
        # Summer time (CEST, UTC+2): 05:30 UTC on Tuesday 7 July is 07:30 local, in hours.
        "summer": (_log(hus, west.pk, utc(2026, 7, 7, 5, 30)), []),
        # A lab member's institution has no health region: no region to compare with.
        "no member region": (_log(lab, west.pk, utc(2026, 3, 10, 9)), []),
        # The patient has no health region recorded: nothing to compare either.
        "no patient region": (_log(ous, nowhere.pk, utc(2026, 3, 10, 9)), []),
    }
    # HUS's clinician declared a care relationship to the Sør-Øst patient on 1 March.
    CareRelationshipDeclaration.objects.create(
        patient=east,
        institution=Institution.objects.get(code="HUS"),
        member=hus,
        reason="Referred",
        at=utc(2026, 3, 1, 11),
    )
    cases["9 days after declaring"] = (
        _log(hus, east.pk, utc(2026, 3, 10, 9)),
        ["other_region", "new_care_relationship"],
    )
    cases["31 days after declaring"] = (
        _log(hus, east.pk, utc(2026, 4, 1, 11, 0, 1)),  # 30 days and a second: no longer new
        ["other_region"],
    )
    cases["before declaring"] = (_log(hus, east.pk, utc(2026, 2, 27, 9)), ["other_region"])
    cases["someone else"] = (_log(ous, east.pk, utc(2026, 3, 10, 9, 30)), [])
    sign_in(client, admin)
    flags = _flags_by_id(client)
    assert {name: flags[entry.pk] for name, (entry, _) in cases.items()} == {
        name: expected for name, (_, expected) in cases.items()
    }


def test_many_patients_within_one_hour(client, world):
    ous, hus, lab, admin, *_ = world
    # 20 different patients' own pages between 09:00 and 09:59 local on 11 March (08:xx UTC),
    # and one patient twice: 20 distinct, so every one of them is flagged.
    busy = [_log(ous, 1000 + i, utc(2026, 3, 11, 8, i * 3)) for i in range(20)]
    busy.append(_log(ous, 1000, utc(2026, 3, 11, 8, 59)))
    # The next hour: 19 patients only, and a list page showing 25 more (lists do not count).
    calm = [_log(ous, 2000 + i, utc(2026, 3, 11, 9, i)) for i in range(19)]
    listed = [
        _log(ous, 3000 + i, utc(2026, 3, 11, 9, 30), "registry:patient_list") for i in range(25)
    ]
    sign_in(client, admin)
    flags = _flags_by_id(client, member=ous.pk)
    assert all("many_patients" in flags[e.pk] for e in busy)
    assert not any("many_patients" in flags[e.pk] for e in calm + listed)
    only = client.get(API, {"flag": "many_patients", "page_size": 200}).json()
    assert {e["id"] for e in only["results"]} == {e.pk for e in busy} and only["count"] == 21


def test_filters_in_local_dates_member_patient_institution_and_page(client, world):
    ous, hus, lab, admin, west, east, _ = world
    late = _log(ous, west.pk, utc(2026, 3, 10, 22, 30))  # 23:30 on 10 March in Oslo
    after_midnight = _log(ous, west.pk, utc(2026, 3, 10, 23, 30))  # 00:30 on 11 March
    other = _log(hus, east.pk, utc(2026, 3, 10, 12), "registry:patient_history")
    sign_in(client, admin)

    def ids(**params):
        return {e["id"] for e in client.get(API, params).json()["results"]}

    assert ids(since="2026-03-10", until="2026-03-10") == {late.pk, other.pk}
    # (The review's own reads are logged too, today: hence the closed periods.)
    assert ids(since="2026-03-11", until="2026-03-11") == {after_midnight.pk}
    assert ids(member=hus.pk) == {other.pk}
    assert ids(member=ous.pk, since="2026-03-10") == {late.pk, after_midnight.pk}
    # (The admin's own reads of the patient are in the log too, on the review's pages.)
    assert ids(patient=west.register_number, page="registry:patient") == {
        late.pk,
        after_midnight.pk,
    }
    assert ids(institution="HUS") == {other.pk}  # the admin is at OUS
    assert ids(page="registry:patient_history") == {other.pk}
    entry = client.get(API, {"member": hus.pk}).json()["results"][0]
    assert entry["page_name"] == "Patient history" and entry["patient"] == east.register_number
    assert entry["at"] == "2026-03-10T13:00:00+01:00"  # local time with its offset
    page = client.get(PAGE, {"member": hus.pk}).content.decode()
    assert "Patient history" in page and "10.03.2026 13:00:00" in page
    assert "registry:patient_history" not in page.split("<tbody>")[1]


@pytest.mark.parametrize("sort", ["-at", "at"])
def test_keyset_pages_walk_ties_once_each_way(client, world, sort):
    ous, *_, admin, west, east, nowhere = world
    moment = utc(2026, 3, 10, 9)
    rows = [_log(ous, west.pk, moment) for _ in range(7)] + [_log(ous, east.pk, utc(2026, 3, 9))]
    sign_in(client, admin)
    body = client.get(API, {"sort": sort, "page_size": 3, "member": ous.pk}).json()
    pages = []
    while True:
        pages.append([e["id"] for e in body["results"]])
        if not body["next"]:
            break
        body = client.get(body["next"]).json()
    back = [pages[-1]]
    while body["previous"]:
        body = client.get(body["previous"]).json()
        back.append([e["id"] for e in body["results"]])
    descending = sort.startswith("-")
    expected = sorted((r.pk for r in rows[:7]), reverse=descending)
    expected = expected + [rows[7].pk] if descending else [rows[7].pk, *expected]
    assert sum(pages, []) == expected and [len(p) for p in pages] == [3, 3, 2]
    assert back[::-1] == pages
    # The page walks the same way.
    html = client.get(PAGE, {"sort": sort, "member": ous.pk}).content.decode()
    assert 'aria-sort="descending"' in html if descending else 'aria-sort="ascending"' in html


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"member": "someone"}, "member"),
        ({"patient": "Kari Nordmann"}, "patient"),
        ({"institution": "NOWHERE"}, "institution"),
        ({"since": "2026-13-01"}, "since"),
        ({"page": "registry:nowhere"}, "page"),
        ({"flag": "suspicious"}, "flag"),
        ({"sort": "member"}, "sort"),
        ({"after": "garbage"}, "after"),
        ({"until": ""}, "until"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(client, world, params, field):
    *_, admin, west, east, nowhere = world
    sign_in(client, admin)
    response = client.get(API, params)
    assert response.status_code == 400
    assert set(response.json()["extra"]["fields"]) == {field}
    if field != "after":  # the export has no pages
        assert client.get(API + "export/", params).status_code == 400
    if params[field]:
        page = client.get(PAGE, params)
        assert page.status_code == 400 and 'role="alert"' in page.content.decode()


def test_only_admins_review(client, world):
    clinician = make_member(Role.CLINICIAN, institutions=("OUS",), with_totp=True)
    sign_in(client, clinician)
    for url in (PAGE, PAGE + "export.csv", API, API + "export/"):
        assert client.get(url).status_code == 403, url


def test_the_export_is_csv_through_the_safe_writer_and_logged(client, world):
    ous, hus, lab, admin, west, *_ = world
    hus.full_name = "=HYPERLINK(1)"
    hus.save()
    entry = _log(hus, west.pk, utc(2026, 3, 14, 9))
    sign_in(client, admin)
    for url in (PAGE + "export.csv", API + "export/"):
        response = client.get(url, {"member": hus.pk})
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(response.content.decode())))
        assert rows[0] == access_review.CSV_HEADER
        assert rows[1] == [
            "14.03.2026 10:00:00",
            "'=HYPERLINK(1)",
            "hus@example.no",
            west.register_number,
            "Patient page",
            "/registry/patients/x/",
            "GET",
            "",
            "Outside working hours",
        ]
    assert AccessLog.objects.filter(
        user=admin, patient_id=west.pk, page="registry:access_review_export"
    ).exists()
    assert entry.pk


def test_the_review_page_is_access_logged_and_pages_in_constant_queries(
    client, world, django_assert_num_queries
):
    ous, hus, lab, admin, west, east, _ = world
    for i in range(12):
        _log(ous if i % 2 else hus, west.pk if i % 3 else east.pk, utc(2026, 3, 10, 8, i))
    sign_in(client, admin)
    seeded = {"page": "registry:patient"}  # not the review's own reads, logged as it goes
    first = client.get(API, {"page_size": 4, **seeded}).json()
    cursor = parse_qs(urlsplit(first["next"]).query)["after"][0]
    client.get(first["next"])
    # session, member (with whether they have a second factor), the count, the page (three
    # flags included), the page's patients per member and hour (the fourth flag), the access log
    with django_assert_num_queries(6):
        second = client.get(API, {"page_size": 4, "after": cursor, **seeded})
    assert len(second.json()["results"]) == 4 and second.json()["count"] == 12
    client.get(PAGE, seeded)
    # the same, the filter form's members and institutions, and the menu's unread count
    with django_assert_num_queries(9):
        page = client.get(PAGE, {"after": cursor, **seeded})
    assert page.status_code == 200
    logged = AccessLog.objects.filter(user=admin, page="registry:access_review")
    assert set(logged.values_list("patient_id", flat=True)) == {west.pk, east.pk}


def test_the_monthly_summary_goes_once_to_the_institutions_admins(world, settings):
    ous, hus, lab, admin, west, east, _ = world
    hus_admin = make_member(Role.ADMIN, institutions=("HUS",), email="hus-admin@example.no")
    make_member(Role.CLINICIAN, institutions=("HUS",), email="not-an-admin@example.no")
    # March 2026 by HUS's members: 3 entries, 2 patients; flagged: the Saturday one
    # (outside hours) and the Sør-Øst patient (other region): 2 of 3.
    _log(hus, west.pk, utc(2026, 3, 14, 9))  # Saturday: outside hours
    _log(hus, east.pk, utc(2026, 3, 10, 9))  # other region
    _log(hus, west.pk, utc(2026, 3, 10, 10))  # nothing
    _log(hus, west.pk, utc(2026, 2, 28, 22, 59))  # 23:59 on 28 February in Oslo: not March
    _log(hus, west.pk, utc(2026, 3, 31, 22, 30))  # 00:30 on 1 April (CEST): not March
    _log(ous, west.pk, utc(2026, 3, 10, 9))  # an OUS member: OUS's summary
    assert access_review.last_month(date(2026, 4, 1)) == date(2026, 3, 1)
    assert set(access_review.summary_recipients()) == {
        Institution.objects.get(code="OUS").pk,
        Institution.objects.get(code="HUS").pk,
    }
    hus_institution = Institution.objects.get(code="HUS")
    sent = send_access_review_summary.apply(args=[hus_institution.pk, "2026-03-01"]).get()
    assert sent == 3 and len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["hus-admin@example.no"]
    assert "Entries: 3; patients: 2; flagged entries: 2." in message.body
    assert "- Outside working hours: 1" in message.body
    assert "- Patient of another health region: 1" in message.body
    assert "hus@example.no): 2" in message.body
    assert "institution=HUS&since=2026-03-01&until=2026-03-31" in message.body
    assert west.register_number not in message.body and "Vest Pasient" not in message.body
    assert send_access_review_summary.apply(args=[hus_institution.pk, "2026-03-01"]).get() == 0
    assert len(mail.outbox) == 1  # once per institution and month
    assert AccessReviewSummary.objects.get(institution=hus_institution).flagged == 2
    assert hus_admin.pk
    from consortium.models import InboxItem

    item = InboxItem.objects.get(kind="report_ready")  # once, for the HUS admin
    assert item.recipient == hus_admin and "3 entries, 2 flagged" in item.text
    assert item.url.endswith("institution=HUS&since=2026-03-01&until=2026-03-31")
