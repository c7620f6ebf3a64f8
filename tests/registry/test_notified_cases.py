"""The Cancer Registry's notified cases: imported whole or nothing by an admin (a bad line
named with its field, the national ID never echoed), counted by coverage_notified against
complete register reports, and the unreported ones on the hospital's worklist."""

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from consortium.models import Role
from registry import indicator_services, indicators
from registry.models import NotifiedCase
from tests.conftest import make_member, sign_in
from tests.registry.factories import tenor_id
from tests.registry.indicator_cohorts import episode, patient
from tests.registry.test_indicators import cell, regions

pytestmark = pytest.mark.django_db
HEADER = "national_id,diagnosis_date,icd10,hospital\n"


def _csv(*lines: str) -> str:
    return HEADER + "\n".join(lines) + "\n"


@pytest.fixture
def admin():
    return make_member(Role.ADMIN, institutions=(), with_totp=True)


def test_coverage_against_the_notified_cases(admin):
    complete = patient()
    episode(complete, diagnosed=date(2024, 3, 1), status="complete")
    draft = patient()
    episode(draft, diagnosed=date(2024, 3, 1), status="draft")
    late = patient()  # reported, but diagnosed 91 days from the notified date: no match
    episode(late, diagnosed=date(2024, 6, 1), status="complete")
    edge = patient()  # 90 days after the notified date: a match
    episode(edge, diagnosed=date(2024, 5, 30), status="complete")
    unreported = tenor_id(date(1961, 4, 2))
    text = _csv(
        f"{complete.national_id},2024-03-05,C71.1,OUS",
        f"{draft.national_id},2024-02-20,C71,OUS",
        f"{late.national_id},02.03.2024,C71.2,OUS",
        f"{edge.national_id},2024-03-01,D33.0,OUS",
        f"{unreported},2024-04-01,C71.9,OUS",
        f"{unreported},2024-09-01,C72.0,HUS",
    )
    source = indicator_services.notified_cases_import(by=admin, year=2024, text=text)
    assert source.cases == 6 and NotifiedCase.objects.count() == 6
    cells = indicators.compute_all(date(2025, 6, 30), regions())
    # OUS: 5 notified; complete and edge matched to complete reports -> 2 of 5.
    assert cell(cells, "coverage_notified", 2024, "OUS") == (2, 5, {})
    assert cell(cells, "coverage_notified", 2024, "HUS") == (0, 1, {})
    # A new import of the year replaces the old one.
    indicator_services.notified_cases_import(
        by=admin, year=2024, text=_csv(f"{complete.national_id},2024-03-05,C71.1,OUS")
    )
    assert NotifiedCase.objects.count() == 1


def test_a_bad_file_imports_nothing_and_names_each_line(admin):
    good = tenor_id(date(1970, 1, 1))
    text = _csv(
        f"{good},2024-03-05,C71.1,OUS",
        "12345678901,2024-03-05,C71.1,OUS",  # control digits wrong
        f"{good},2023-12-31,C71.1,OUS",  # another year
        f"{tenor_id(date(1971, 1, 1))},2024-03-05,K35,OUS",  # not a CNS tumour
        f"{tenor_id(date(1972, 1, 1))},2024-03-05,C71,XYZ",  # no such hospital
        f"{good},2024-03-05,C71.1,OUS",  # the same case twice
    )
    with pytest.raises(ValidationError) as refused:
        indicator_services.notified_cases_import(by=admin, year=2024, text=text)
    messages = refused.value.message_dict["file"]
    assert [m.split(":")[0] for m in messages] == ["Line 3", "Line 4", "Line 5", "Line 6", "Line 7"]
    assert "national_id" in messages[0] and "diagnosis_date" in messages[1]
    assert "icd10" in messages[2] and "hospital" in messages[3] and "earlier line" in messages[4]
    assert not any(good in m or "12345678901" in m for m in messages)
    assert NotifiedCase.objects.count() == 0
    with pytest.raises(ValidationError) as header:
        indicator_services.notified_cases_import(by=admin, year=2024, text="id,date\n1,2\n")
    assert "Line 1" in header.value.message_dict["file"][0]


def test_the_upload_page_and_the_worklist(client, admin):
    reported = patient()
    episode(reported, diagnosed=date(2024, 3, 1))
    unreported = tenor_id(date(1961, 4, 2))
    text = _csv(
        f"{reported.national_id},2024-03-05,C71.1,OUS", f"{unreported},2024-04-01,C71.9,OUS"
    )
    sign_in(client, admin)
    response = client.post(
        "/registry/indicators/notified/",
        {"year": "2024", "file": SimpleUploadedFile("notified.csv", text.encode())},
    )
    assert response.status_code == 302 and NotifiedCase.objects.count() == 2
    page = client.get("/registry/indicators/notified/").content.decode()
    assert unreported not in page and reported.national_id not in page
    bad = client.post(
        "/registry/indicators/notified/",
        {"year": "2024", "file": SimpleUploadedFile("bad.csv", (HEADER + "1,x,y,z\n").encode())},
    )
    assert "Line 2: national_id" in bad.content.decode()
    assert NotifiedCase.objects.count() == 2  # the bad file changed nothing
    client.logout()
    clinician = make_member(Role.CLINICIAN, institutions=("OUS",), with_totp=True)
    sign_in(client, clinician)
    worklist = client.get("/registry/worklist/").content.decode()
    # Only the unreported case, by birth date part, never the national ID.
    assert "Not yet reported (1)" in worklist
    assert f"{unreported[:6]}*****" in worklist and unreported not in worklist
    assert client.get("/registry/indicators/notified/").status_code == 403
