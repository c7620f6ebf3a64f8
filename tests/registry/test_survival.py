"""Kaplan-Meier curves against the textbook example: the 6-MP group of Freireich et al.'s
leukaemia remission trial (Blood 1963), as tabulated in Kleinbaum & Klein, Survival
Analysis, 3rd ed., ch. 2: 21 patients, remission times in weeks, + = censored:
6 6 6 7 10 13 16 22 23 and 6+ 9+ 10+ 11+ 17+ 19+ 20+ 25+ 32+ 32+ 34+ 35+.

Worked by hand (product limit, n at risk just before each death time):
  t=6:  21 at risk, 3 deaths: S = 18/21                 = 0.8571
  t=7:  17 at risk, 1 death:  S = 0.8571 x 16/17        = 0.8067
  t=10: 15 at risk, 1 death:  S = 0.8067 x 14/15        = 0.7529
  t=13: 12 at risk, 1 death:  S = 0.7529 x 11/12        = 0.6902
  t=16: 11 at risk, 1 death:  S = 0.6902 x 10/11        = 0.6275
  t=22:  7 at risk, 1 death:  S = 0.6275 x 6/7          = 0.5378
  t=23:  6 at risk, 1 death:  S = 0.5378 x 5/6          = 0.4482 -> median 23 weeks
Greenwood at t=6: var = S^2 x 3/(21 x 18) = 0.7347 x 0.0079365 = 0.005831, SE 0.07636;
log-log band: theta = SE/(S |ln S|) = 0.07636/(0.8571 x 0.15415) = 0.5779;
S^exp(+-1.96 theta) = 0.8571^3.1018 = 0.6197 and 0.8571^0.3224 = 0.9515."""

from datetime import date, timedelta

import numpy as np
import pytest

from consortium.models import Role
from registry import survival
from tests.conftest import make_member, sign_in
from tests.registry.indicator_cohorts import episode, patient

DEATHS = [6, 6, 6, 7, 10, 13, 16, 22, 23]
CENSORED = [6, 9, 10, 11, 17, 19, 20, 25, 32, 32, 34, 35]
HAND = {6: 0.8571, 7: 0.8067, 10: 0.7529, 13: 0.6902, 16: 0.6275, 22: 0.5378, 23: 0.4482}


def test_kaplan_meier_matches_the_freireich_6mp_group():
    days = np.array(DEATHS + CENSORED, dtype=float)
    died = np.array([True] * len(DEATHS) + [False] * len(CENSORED))
    result = survival.kaplan_meier(days, died)
    by_day = {p[0]: p for p in result["points"]}
    for week, expected in HAND.items():
        assert by_day[week][1] == pytest.approx(expected, abs=1e-4), week
    assert result["median"] == 23
    low, high = by_day[6][2], by_day[6][3]
    assert low == pytest.approx(0.6197, abs=1e-3) and high == pytest.approx(0.9515, abs=1e-3)
    # At risk just before each time, as counted by hand above.
    assert by_day[6][4] == 21 and by_day[10][4] == 15 and by_day[23][4] == 6
    assert result["points"][0] == (0, 1.0, 1.0, 1.0, 21)


AS_OF = date(2025, 6, 30)


@pytest.fixture
def freireich_in_the_register(db):
    """The same 21 patients as glioblastomas reported by OUS, one week = one week: deaths
    diagnosed on 6 January 2020, censored ones diagnosed t weeks before the as-of date."""
    diagnosed = date(2020, 1, 6)
    for weeks in DEATHS:
        episode(
            patient(died=diagnosed + timedelta(weeks=weeks)),
            diagnosed=diagnosed,
        )
    for weeks in CENSORED:
        episode(patient(), diagnosed=AS_OF - timedelta(weeks=weeks))
    # Left out with a reason: old data with a death before the diagnosis, and a death
    # without a date.
    episode(patient(died=date(2019, 12, 1)), diagnosed=diagnosed)
    episode(patient(dead_without_date=True), diagnosed=diagnosed)
    # Another hospital's patient, not in OUS's curve.
    episode(patient(at=("HUS",)), reporting="HUS", diagnosed=diagnosed)


def test_the_registers_curve_is_the_textbook_curve(freireich_in_the_register):
    curve = survival.survival_curve(
        "overall_survival",
        as_of=AS_OF,
        group="glioblastoma_idh_wildtype",
        institution_id=_ous().pk,
    )
    assert (curve.patients, curve.deaths) == (21, 9)
    assert curve.left_out == {"death_before_origin": 1, "dead_without_date": 1}
    for week, expected in HAND.items():
        assert curve.survival_at(week * 7) == pytest.approx(expected, abs=1e-4)
    assert curve.median_days == 23 * 7
    everyone = survival.survival_curve("overall_survival", as_of=AS_OF)
    assert everyone.patients == 22


def _ous():
    from consortium.models import Institution

    return Institution.objects.get(code="OUS")


def test_survival_api_and_page(client, freireich_in_the_register):
    sign_in(client, make_member(Role.RESEARCHER, institutions=("UIO-ICR",)))
    response = client.get(
        "/api/v1/registry/indicators/overall_survival/survival/",
        {"institution": "OUS", "diagnosis_group": "glioblastoma_idh_wildtype"},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["patients"] == 21 and body["suppressed"] is False
    # Censored today, not on AS_OF: the censored patients are still at risk at every death
    # time then, so S(6 weeks) = 18/21 and S after the last death = 12/21 > 0.5 (no median).
    steps = {p["day"]: p["survival"] for p in body["points"]}
    assert steps[42] == pytest.approx(18 / 21)
    assert steps[161] == pytest.approx(12 / 21)
    assert body["median_days"] is None
    # A hospital's curve of fewer than 5 patients is hidden from other members.
    hus = client.get(
        "/api/v1/registry/indicators/overall_survival/survival/", {"institution": "HUS"}
    )
    assert hus.json()["suppressed"] is True and hus.json()["points"] == []
    bad = client.get("/api/v1/registry/indicators/overall_survival/survival/", {"region": "x"})
    assert bad.status_code == 400 and "region" in bad.json()["extra"]["fields"]
    assert client.get("/api/v1/registry/indicators/nope/survival/").status_code == 404
    page = client.get("/registry/indicators/survival/", {"institution": "OUS"})
    text = page.content.decode()
    assert page.status_code == 200 and '<svg class="survival"' in text
    assert "21 patients, 9 deaths. Median survival: not reached" in text
    assert "style=" not in text


def test_anonymous_callers_get_no_curves(client, db):
    response = client.get("/api/v1/registry/indicators/overall_survival/survival/")
    assert response.status_code in (401, 403)
