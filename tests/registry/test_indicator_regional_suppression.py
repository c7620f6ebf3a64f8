"""Regional figures and small cells: where a health region has one hospital (three of the
four here), its regional figure IS that hospital's cell, so a hidden cell would be shown
under the region's name. The rule: such a regional figure is hidden with the cell; and
when exactly one regional figure is hidden, the next smallest region's is hidden too (with
one of its hospitals), so that the national figure minus the shown regions gives nothing
away. The national figure is always shown. Worked by hand in each test.

And the trend per hospital: one line and one table row per hospital, its small years
hidden as in that year's table."""

import pytest

from consortium.models import Role
from tests.conftest import make_member, sign_in
from tests.registry.test_indicator_pages import API, YEAR, cohort, coverage_rows, snapshot

pytestmark = pytest.mark.django_db


def _hidden(rows):
    return {code for (code, _), r in rows.items() if code and r["suppressed"]}


def test_a_one_hospital_region_hides_its_figure_with_the_hospitals_cell(client):
    # Denominators: OUS 10 (Sør-Øst alone), HUS 10 + SUS 12 (Vest), STOLAV 6 (Midt alone),
    # UNN 3 (Nord alone). UNN 3 < 5: hidden, and Nord's figure with it. Nationally one
    # cell hidden: the next smallest, STOLAV (6), is hidden; Midt's figure is then STOLAV's
    # and is hidden too. Two regional figures hidden: nothing follows from the nation.
    cohort({"OUS": (10, 0), "HUS": (5, 5), "SUS": (6, 6), "STOLAV": (3, 3), "UNN": (1, 2)})
    snapshot()
    sign_in(client, make_member(Role.RESEARCHER, institutions=("UIO-ICR",)))
    assert _hidden(coverage_rows(client)) == {"UNN", "STOLAV"}
    north = coverage_rows(client, region="north")[(None, "north")]
    assert north["suppressed"] is True
    assert north["numerator"] is north["denominator"] is north["value"] is None
    assert coverage_rows(client, region="central")[(None, "central")]["suppressed"] is True
    west = coverage_rows(client, region="west")[(None, "west")]
    assert (west["suppressed"], west["numerator"], west["denominator"]) == (False, 11, 22)
    east = coverage_rows(client, region="south_east")[(None, "south_east")]
    assert (east["numerator"], east["denominator"]) == (10, 10)
    # The nation is always shown: 25 of 41 (10 + 5 + 6 + 3 + 1 of 10 + 10 + 12 + 6 + 3).
    national = coverage_rows(client)[(None, "")]
    assert (national["suppressed"], national["numerator"], national["denominator"]) == (
        False,
        25,
        41,
    )
    # On the page too: Nord's figure is "<5", not 1 of 3.
    page = client.get("/registry/indicators/", {"year": YEAR, "region": "north"}).content.decode()
    assert "33,3\u00a0%" not in page and "33.3 %" not in page


def test_the_hospitals_own_members_see_their_regions_figure_exact(client):
    cohort({"OUS": (10, 0), "HUS": (5, 5), "SUS": (6, 6), "STOLAV": (3, 3), "UNN": (1, 2)})
    snapshot()
    sign_in(client, make_member(Role.CLINICIAN, institutions=("UNN",), with_totp=True))
    north = coverage_rows(client, region="north")[(None, "north")]
    assert (north["suppressed"], north["numerator"], north["denominator"]) == (False, 1, 3)
    # Midt is STOLAV's, not theirs: hidden.
    assert coverage_rows(client, region="central")[(None, "central")]["suppressed"] is True


def test_one_hidden_region_takes_the_next_smallest_region_with_it(client):
    # Denominators: OUS 20 (Sør-Øst), HUS 10 + SUS 12 (Vest), STOLAV 21 (Midt), UNN 3 (Nord).
    # UNN 3: hidden, and Nord's figure. Vest has no hidden cell yet. Nationally one hidden:
    # the next smallest, HUS (10), is hidden; Vest then has one hidden: SUS (12) too.
    # Regional figures: only Nord hidden, and the nation minus Sør-Øst, Vest and Midt would
    # give it: the next smallest region, Sør-Øst (20; Midt 21, Vest 22), is hidden too,
    # with its one hospital OUS (else OUS's cell would give Sør-Øst's figure).
    cohort({"OUS": (20, 0), "HUS": (5, 5), "SUS": (6, 6), "STOLAV": (11, 10), "UNN": (1, 2)})
    snapshot()
    sign_in(client, make_member(Role.RESEARCHER, institutions=("UIO-ICR",)))
    assert _hidden(coverage_rows(client)) == {"UNN", "HUS", "SUS", "OUS"}
    shown = {
        region: not coverage_rows(client, region=region)[(None, region)]["suppressed"]
        for region in ("south_east", "west", "central", "north")
    }
    assert shown == {"south_east": False, "west": True, "central": True, "north": False}
    # What is left shown leaks nothing: nation 66 - Vest 22 - Midt 21 = 23 = OUS + UNN,
    # two hidden cells; STOLAV 21 = Midt 21 is no one's secret.
    national = coverage_rows(client)[(None, "")]
    assert national["denominator"] == 66


def test_the_trend_per_hospital_with_its_small_years_hidden(client):
    # Last year: OUS 7 of 10, HUS 3 of 4 (hidden: < 5), SUS 6 of 12 (hidden with HUS).
    # The year before: OUS 4 of 8, HUS 5 of 5, SUS 2 of 6.
    cohort({"OUS": (7, 3), "HUS": (3, 1), "SUS": (6, 6)})
    cohort({"OUS": (4, 4), "HUS": (5, 0), "SUS": (2, 4)}, year=YEAR - 1)
    snapshot()
    sign_in(client, make_member(Role.CLINICIAN, institutions=("OUS",), with_totp=True))
    page = client.get("/registry/indicators/", {"year": YEAR}).content.decode()
    table = page[page.index('id="coverage-hospital-trend"') :]
    table = table[: table.index("</table>")]
    rows = {
        line.split("</th>")[0].rsplit(">", 1)[-1]: line
        for line in table.split("<tr>")
        if '<th scope="row">' in line
    }
    assert rows["OUS"].count("<td>") == 2
    assert "<td>50,0\u00a0%</td><td>70,0\u00a0%</td>" in rows["OUS"]  # Norwegian style
    assert "<td>100,0\u00a0%</td><td>&lt;5</td>" in rows["HUS"]
    assert "<td>33,3\u00a0%</td><td>&lt;5</td>" in rows["SUS"]
    # The chart: a line for the nation and one per hospital, HUS and SUS with no point in
    # the hidden year (one dot each), OUS drawn as the member's own.
    assert 'class="hospital-line own"' in page
    chart = page[page.index('id="coverage-trend-title"') :]
    chart = chart[: chart.index("</svg>")]
    assert chart.count("<title>HUS ") == 1 and chart.count("<title>OUS ") == 2
    assert f"HUS {YEAR}:" not in chart
    # Through the API the same cells, year by year.
    rows = client.get(API, {"code": "coverage", "year": YEAR - 1}).json()["results"]
    assert {r["institution"]: r["denominator"] for r in rows if r["institution"]} == {
        "OUS": 8,
        "HUS": 5,
        "SUS": 6,
    }
