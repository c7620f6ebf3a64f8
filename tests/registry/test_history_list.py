"""The patient's history as a long list: sorted by when, who (surname, Norwegian order) and
what, both ways; filtered by section, change, member, period and reason; paged by keyset
with the pages walked forward and back; a bad value is a 400 naming the parameter (API)
and a message on the page; access-logged; constant queries whatever the history holds.

Changes are made through the pages, one request (one transaction) each, so every change
has its own time as in real use."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from consortium.models import AccessLog, Role
from registry.models import Patient
from tests.conftest import make_member, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

TENOR_ID = "12829499914"


def _edit(client, patient, **changes):
    patient.refresh_from_db()
    data = {
        "full_name": patient.full_name,
        "sex": patient.sex,
        "birth_date": patient.birth_date.isoformat(),
        "health_region": patient.health_region,
        "vital_status": patient.vital_status,
        "date_of_death": "",
        "institutions": [i.pk for i in patient.institutions.all()],
        "version": patient.version,
        "reason": "",
        **changes,
    }
    response = client.post(f"{patient.get_absolute_url()}edit/", data)
    assert response.status_code == 302, response.content.decode()[:2000]


@pytest.fixture
def record(client):
    """Kari Berg registers the patient; Per Aasen, then Kari Berg, change the name."""
    from consortium.models import Institution

    berg = make_member(Role.CLINICIAN, email="berg@ous.no", with_totp=True)
    berg.full_name = "Kari Berg"
    berg.save()
    aasen = make_member(Role.CLINICIAN, email="aasen@ous.no", with_totp=True)
    aasen.full_name = "Per Aasen"
    aasen.save()
    sign_in(client, berg)
    other = Client()  # Per Aasen's own browser (a TOTP code signs in once per 30 s)
    sign_in(other, aasen)
    registered = client.post(
        "/registry/patients/new/",
        {
            "national_id": TENOR_ID,
            "full_name": "Kari Nordmann",
            "health_region": "south_east",
            "vital_status": "alive",
            "institutions": [Institution.objects.get(code="OUS").pk],
            "reason": "First visit",
            "treats_patient": "on",
            "care_reason": "Diagnosed at OUS",
        },
    )
    assert registered.status_code == 302
    patient = Patient.objects.get()
    _edit(other, patient, full_name="Kari Nordmann Hansen", reason="Married")
    _edit(client, patient, full_name="Kari Hansen", reason="Name corrected")
    return patient, berg, aasen


def _api(client, patient):
    return f"/api/v1/registry/patients/{patient.register_number}/history/"


def _rows(client, url, **params):
    body = client.get(url, {"page_size": 200, **params})
    assert body.status_code == 200, body.content
    return body.json()["results"]


def test_sorted_by_when_who_and_what_both_ways(client, record):
    patient, berg, aasen = record
    url = _api(client, patient)
    newest_first = _rows(client, url)
    names = [(r["what"], r["who"], r["reason"]) for r in newest_first[:2]]
    # The two edits, newest first (worked out from the order they were made above).
    assert names == [
        ("Patient changed", "Kari Berg", "Name corrected"),
        ("Patient changed", "Per Aasen", "Married"),
    ]
    times = [r["at"] for r in newest_first]
    assert times == sorted(times, reverse=True) and len(set(times)) >= 3
    assert _rows(client, url, sort="at") == newest_first[::-1]
    # Who: by surname in Norwegian order, "Aasen" is "Åsen", after "Berg"; then by time.
    by_who = _rows(client, url, sort="who")
    who = [r["who"] for r in by_who]
    assert who == ["Kari Berg"] * who.count("Kari Berg") + ["Per Aasen"]
    berg_times = [r["at"] for r in by_who if r["who"] == "Kari Berg"]
    assert berg_times == sorted(berg_times)
    assert _rows(client, url, sort="-who") == by_who[::-1]
    # What: the sections in alphabetical order of their names.
    sections = [r["what"].rsplit(" ", 1)[0] for r in _rows(client, url, sort="what")]
    assert sections == sorted(sections) and "Patient" in sections
    assert len(set(sections)) >= 2
    assert _rows(client, url, sort="-what") == _rows(client, url, sort="what")[::-1]


def test_filters_by_section_change_member_period_and_reason(client, record):
    patient, berg, aasen = record
    url = _api(client, patient)
    everything = _rows(client, url)
    patient_rows = _rows(client, url, section="registry.Patient")
    assert [r["what"] for r in patient_rows] == [
        "Patient changed",
        "Patient changed",
        "Patient added",
    ]
    assert all(r["record"] == "registry.Patient" for r in patient_rows)
    changed = _rows(client, url, change="update")
    assert [r["reason"] for r in changed] == ["Name corrected", "Married"]
    by_aasen = _rows(client, url, member=aasen.pk)
    assert [r["reason"] for r in by_aasen] == ["Married"]
    assert [(c["field"], c["old"], c["new"]) for c in by_aasen[0]["changes"]] == [
        ("full_name", "Kari Nordmann", "Kari Nordmann Hansen")
    ]
    assert by_aasen[0]["who_id"] == aasen.pk
    assert _rows(client, url, reason="marr") == by_aasen
    from django.utils import timezone

    today = timezone.localdate()
    assert _rows(client, url, since=today.isoformat(), until=today.isoformat()) == everything
    tomorrow = today + timezone.timedelta(days=1)
    assert _rows(client, url, since=tomorrow.isoformat()) == []


def test_keyset_pages_walk_forward_and_back(client, record):
    patient, *_ = record
    url = _api(client, patient)
    everything = _rows(client, url)
    assert len(everything) >= 4
    walked, pages, body = [], [], client.get(url, {"page_size": 1}).json()
    while True:
        pages.append(body["results"])
        walked += body["results"]
        if not body["next"]:
            break
        body = client.get(body["next"]).json()
    assert walked == everything and body["count"] == len(everything)
    back = client.get(body["previous"]).json()
    assert back["results"] == pages[-2]


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        ("sort", "name"),
        ("section", "registry.nothing"),
        ("change", "edited"),
        ("member", "999999"),
        ("since", "2025-13-01"),
        ("after", "not-a-cursor"),
        ("page_size", "0"),
    ],
)
def test_a_bad_value_is_a_400_naming_the_parameter(client, record, parameter, value):
    patient, *_ = record
    answer = client.get(_api(client, patient), {parameter: value})
    assert answer.status_code == 400
    assert parameter in answer.json()["extra"]["fields"]
    page = client.get(f"{patient.get_absolute_url()}history/", {parameter: value})
    if parameter == "page_size":
        return  # the page has a fixed page size and ignores it
    assert page.status_code == 400 and 'role="alert"' in page.content.decode()
    assert "Patient added" in page.content.decode()  # the first page, unfiltered


def test_the_page_sorts_filters_pages_and_is_access_logged(client, record):
    patient, berg, aasen = record
    url = f"{patient.get_absolute_url()}history/"
    page = client.get(url, {"sort": "-who"}).content.decode()
    assert 'aria-sort="descending"' in page
    assert page.index("Married") < page.index("Name corrected")  # Aasen (Å) first this way
    filtered = client.get(url, {"change": "update"}).content.decode()
    assert "Married" in filtered and "Patient added" not in filtered
    assert 'name="member"' in page and ">Per Aasen<" in page  # who changed this record
    logged = AccessLog.objects.filter(patient_id=patient.pk, page="registry:patient_history")
    assert logged.count() == 2
    client.get(_api(client, patient))
    assert AccessLog.objects.filter(
        patient_id=patient.pk, page="api:registry_patient_history"
    ).exists()


def test_queries_are_the_same_for_a_short_and_a_long_history(client, record):
    patient, berg, aasen = record
    url = f"{patient.get_absolute_url()}history/"
    api = _api(client, patient)

    def count(path):
        client.get(path)  # may renew the session (once a minute); not counted
        with CaptureQueriesContext(connection) as queries:
            assert client.get(path).status_code == 200
        return len(queries)

    few = count(url), count(api)
    for n in range(6):
        _edit(client, patient, full_name=f"Kari Hansen {n}", reason=f"Edit {n}")
    assert (count(url), count(api)) == few
