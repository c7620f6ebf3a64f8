"""The nightly full re-match is what catches a patient crossing an age limit (no register
change happens on a birthday): on the day before, the 17-year-old is not eligible; the
run on the 18th birthday makes her an eligible match, with the age it used."""

from datetime import timedelta

import pytest
from dateutil.relativedelta import relativedelta
from django.utils import timezone

from tests.trials.factories import GBM, episode, patient, tree, trial
from trials import engine
from trials.models import Match

pytestmark = pytest.mark.django_db


def test_the_nightly_run_on_the_birthday_makes_the_match_eligible(monkeypatch):
    day_before = timezone.localdate()
    birthday = day_before + timedelta(days=1)
    adult_trial = trial(
        tree({"type": "diagnosis", "codes": [GBM]}, {"type": "age", "min_years": 18})
    )
    teenager = patient(birth_date=birthday - relativedelta(years=18))
    episode(teenager)

    engine.match_all()
    # Not eligible the day before: no candidate match (the SQL prefilter already drops her).
    assert (
        not Match.objects.filter(trial=adult_trial, active=True)
        .exclude(outcome="not_eligible")
        .exists()
    )

    # The beat task runs after midnight: the engine reads the day from Django's clock.
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: birthday)
    engine.match_all()
    match = Match.objects.get(trial=adult_trial, active=True)
    assert match.outcome == "eligible"
    age = next(v for v in match.verdicts if v["criterion"].startswith("age"))
    assert age["verdict"] == "met" and age["value"] == "18 years"
