"""The funnel, the queue (page and API) and the funnel's CSV count the same matches: one
selector (selectors.trial_matches). Worked out by hand below: after the first match, a
re-match, a criteria change and the trial closing, the current matches and those no
longer matching agree everywhere."""

import csv
import io
import re
from datetime import date

import pytest

from consortium.models import Role
from tests.conftest import make_member, sign_in
from tests.trials.factories import GBM, episode, patient, tree, trial
from trials import engine, services
from trials.models import Match

pytestmark = pytest.mark.django_db

MGMT = {"type": "marker", "marker": "mgmt", "result": "altered"}


@pytest.fixture
def coordinator():
    return make_member(Role.COORDINATOR, institutions=("OUS",), with_totp=True, email="c@x.no")


def _everywhere(client, t) -> dict:
    """Every count the coordinator can read, by where it is read."""
    csv_rows = {
        row[1]: int(row[2])
        for row in csv.reader(
            io.StringIO(client.get(f"/trials/{t.pk}/funnel.csv").content.decode())
        )
        if row[0] != "trial"
    }
    api = client.get(f"/api/v1/trials/{t.pk}/funnel/").json()

    def queue_page(query):
        body = client.get(f"/trials/matches/?trial={t.pk}{query}").content.decode()
        return int(re.search(r'<p class="count">(\d+) match', body).group(1))

    def queue_api(query):
        return client.get(f"/api/v1/trials/matches/?trial={t.pk}{query}").json()["count"]

    page = client.get(f"/trials/{t.pk}/").content.decode()
    return {
        "funnel page": int(re.search(r'id="funnel-matched">(?:<a[^>]*>)?(\d+)<', page).group(1)),
        "funnel page gone": int(re.search(r'id="funnel-no-longer">(\d+)<', page).group(1)),
        "funnel api": api["matched"],
        "funnel api gone": api["no_longer_matching"],
        "csv": csv_rows["matched"],
        "csv gone": csv_rows["no longer matching"],
        "queue page": queue_page(""),
        "queue page gone": queue_page("&matching=no_longer_matching"),
        "queue api": queue_api(""),
        "queue api gone": queue_api("&matching=no_longer_matching"),
        "queue api all": queue_api("&matching=all"),
    }


def _expect(counts: dict, current: int, gone: int) -> None:
    for where, n in counts.items():
        wanted = current + gone if where.endswith(" all") else gone if "gone" in where else current
        assert n == wanted, f"{where}: {n}, expected {wanted} ({counts})"


def test_funnel_queue_and_csv_agree_through_rematch_criteria_change_and_closing(
    client, coordinator
):
    t = trial(tree({"type": "diagnosis", "codes": [GBM]}, MGMT), norwegian=True)
    old = [patient(birth_date=date(1950, 3, 1)) for _ in range(2)]
    young = [patient(birth_date=date(1990, 3, 1)) for _ in range(2)]
    untested = patient(birth_date=date(1950, 3, 1))
    wildtype = patient(birth_date=date(1950, 3, 1))
    for p in old + young:
        episode(p, markers={"mgmt": "altered"})
    episode(untested)  # MGMT not tested: possibly eligible
    episode(wildtype, markers={"mgmt": "wildtype"})  # not eligible: never a match
    engine.match_trial(t.pk)
    sign_in(client, coordinator)
    # 4 eligible + 1 possibly eligible = 5 current matches.
    _expect(_everywhere(client, t), current=5, gone=0)

    by_patient = {m.patient_id: m for m in Match.objects.filter(trial=t)}
    services.match_move(match=by_patient[young[0].pk], by=coordinator, step="under_review")
    services.match_move(
        match=by_patient[old[0].pk], by=coordinator, step="closed", close_reason="declined"
    )
    engine.match_trial(t.pk)  # a re-match with nothing changed
    counts = _everywhere(client, t)
    _expect(counts, current=5, gone=0)
    api = client.get(f"/api/v1/trials/{t.pk}/funnel/").json()
    assert (api["reviewed"], api["not_enrolled"]) == (2, {"declined": 1})

    # Criteria change: 60 or older. The two born 1990 drop out (no longer matching).
    t.refresh_from_db()
    services.trial_criteria_save(
        trial=t,
        by=coordinator,
        tree=tree({"type": "diagnosis", "codes": [GBM]}, MGMT, {"type": "age", "min_years": 60}),
        expected_version=t.version,
    )
    engine.match_trial(t.pk)
    _expect(_everywhere(client, t), current=3, gone=2)
    api = client.get(f"/api/v1/trials/{t.pk}/funnel/").json()
    # Of the current three, the closed one was reviewed; the reviewed young one is gone.
    assert (api["reviewed"], api["not_enrolled"]) == (1, {"declined": 1})

    # The trial closes: every match is no longer matching, none current.
    t.refresh_from_db()
    services.trial_update(
        trial=t, by=coordinator, expected_version=t.version, overall_status="COMPLETED"
    )
    engine.match_trial(t.pk)
    _expect(_everywhere(client, t), current=0, gone=5)
