"""Kaplan-Meier curves side by side (one curve per choice of one filter), worked by hand;
and the progress of an on-demand snapshot, shown while it runs."""

from datetime import date, timedelta

import pytest

from consortium.models import Role
from registry import indicator_services
from registry.models import IndicatorSnapshot
from tests.conftest import make_member, sign_in
from tests.registry.indicator_cohorts import episode, patient

pytestmark = pytest.mark.django_db
API = "/api/v1/registry/indicators/overall_survival/survival/compare/"
DIAGNOSED = date(2024, 1, 1)


@pytest.fixture
def three_hospitals():
    """Overall survival from diagnosis, 1 January 2024; the living are censored today.
    OUS, 5 patients: deaths on days 100 and 200, 3 alive.
      S = 4/5 = 0.8 from day 100, 0.8 x 3/4 = 0.6 from day 200: no median.
    HUS, 5 patients: deaths on days 50, 60, 70, 80, 1 alive.
      S = 0.8 (50), 0.6 (60), 0.4 (70): the median is day 70; then 0.2 (80).
    SUS, 3 patients (fewer than 5: hidden from members of other hospitals)."""
    for code, deaths, alive in (("OUS", [100, 200], 3), ("HUS", [50, 60, 70, 80], 1)):
        for day in deaths:
            p = patient(died=DIAGNOSED + timedelta(days=day), at=(code,))
            episode(p, reporting=code, diagnosed=DIAGNOSED)
        for _ in range(alive):
            episode(patient(at=(code,)), reporting=code, diagnosed=DIAGNOSED)
    for _ in range(3):
        episode(patient(at=("SUS",)), reporting="SUS", diagnosed=DIAGNOSED)


def test_curves_side_by_side_in_the_api_and_the_page(client, three_hospitals):
    sign_in(client, make_member(Role.RESEARCHER, institutions=("UIO-ICR",)))
    response = client.get(API, {"compare": "institution", "compare_value": ["OUS", "HUS", "SUS"]})
    assert response.status_code == 200, response.content
    curves = {c["label"]: c["curve"] for c in response.json()["curves"]}
    assert list(curves) == ["OUS", "HUS", "SUS"]
    ous, hus, sus = curves["OUS"], curves["HUS"], curves["SUS"]
    assert (ous["patients"], ous["deaths"], ous["median_days"]) == (5, 2, None)
    steps = {p["day"]: p["survival"] for p in ous["points"]}
    assert (steps[100], steps[200]) == (pytest.approx(0.8), pytest.approx(0.6))
    assert min(steps.values()) == pytest.approx(0.6)  # the rest censored: no further step
    assert (hus["patients"], hus["deaths"], hus["median_days"]) == (5, 4, 70)
    steps = {p["day"]: p["survival"] for p in hus["points"]}
    assert [steps[d] for d in (50, 60, 70, 80)] == pytest.approx([0.8, 0.6, 0.4, 0.2])
    assert min(steps.values()) == pytest.approx(0.2)
    assert sus["suppressed"] is True and sus["points"] == []
    # By region: Sør-Øst is OUS alone, Vest is HUS + SUS (8 patients, 4 deaths).
    regions = client.get(API, {"compare": "region", "compare_value": ["south_east", "west"]})
    by_region = {c["label"]: c["curve"] for c in regions.json()["curves"]}
    assert by_region["Helse Vest"]["patients"] == 8 and by_region["Helse Vest"]["deaths"] == 4
    # Bad choices are named.
    bad = client.get(API, {"compare": "colour"})
    assert bad.status_code == 400 and "compare" in bad.json()["extra"]["fields"]
    bad = client.get(API, {"compare": "institution", "compare_value": "XYZ"})
    assert "compare_value" in bad.json()["extra"]["fields"]
    # The page: one line per curve, the table with each median.
    page = client.get(
        "/registry/indicators/survival/",
        {"compare": "institution", "compare_value": ["OUS", "HUS", "SUS"]},
    ).content.decode()
    assert 'id="survival-comparison"' in page
    assert page.count('class="compare-line') == 2  # SUS hidden
    table = page[page.index('id="comparison-table"') :]
    table = table[: table.index("</table>")]
    assert "HUS</th><td>5</td><td>4</td><td>2,3</td>" in table  # 70 days = 2,3 months
    assert "Fewer than 5 patients" in table
    assert "style=" not in page


def test_an_on_demand_snapshot_shows_its_progress(client, django_capture_on_commit_callbacks):
    episode(patient(), status="complete")
    admin = make_member(Role.ADMIN, institutions=(), with_totp=True)
    sign_in(client, admin)
    with django_capture_on_commit_callbacks(execute=False):
        assert client.post("/registry/indicators/snapshots/").status_code == 302
    snapshot = IndicatorSnapshot.objects.get()
    page = client.get("/registry/indicators/").content.decode()
    assert 'id="snapshot-status"' in page and 'hx-trigger="every 1s"' in page
    assert "Waiting for a worker" in page
    # While it runs, the progress written to the cache is what the fragment shows.
    indicator_services.snapshot_progress_set(snapshot.pk, 40, "Counting postoperative MRI")
    fragment = client.get(f"/registry/indicators/snapshots/{snapshot.pk}/").content.decode()
    assert "40 %" in fragment and "Counting postoperative MRI" in fragment
    api = client.get(f"/api/v1/registry/indicator-snapshots/{snapshot.pk}/").json()
    assert api["status"] == "queued" and api["progress"]["percent"] == 40
    # The computation reports each indicator as it goes, and ends done.
    indicator_services.snapshot_compute(snapshot.pk)
    snapshot.refresh_from_db()
    assert snapshot.status == "done"
    assert indicator_services.snapshot_progress(snapshot.pk) == {
        "percent": 95,
        "text": "Storing the figures",
    }
    fragment = client.get(f"/registry/indicators/snapshots/{snapshot.pk}/").content.decode()
    assert "hx-trigger" not in fragment and "is done" in fragment
    assert client.get(f"/api/v1/registry/indicator-snapshots/{snapshot.pk}/").json()[
        "progress"
    ] == {"percent": 100, "text": "Done"}
    # Only admins start one through the API.
    client.logout()
    sign_in(client, make_member(Role.RESEARCHER, institutions=("UIO-ICR",), email="r@x.no"))
    assert client.post("/api/v1/registry/indicator-snapshots/").status_code == 403
