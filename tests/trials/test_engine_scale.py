"""The full re-match at scale: its query count does not grow with the number of patients
(from empty, with nothing changed, and with changes to write), the compiled judges the
runs use give exactly the reference judge()'s verdicts, and the run outside a
transaction (prefilter and inserts on second connections in threads) stores the same
matches, in batches, and rolls back whole when it fails."""

import itertools
import json
from datetime import date

import pytest
from dateutil.relativedelta import relativedelta
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from registry.models import MolecularMarker, Patient
from tests.trials.factories import (
    ASTRO,
    GBM,
    RECURRENT_GBM,
    episode,
    facts,
    patient,
    today,
    tree,
    trial,
)
from trials import criteria, engine
from trials.models import Match, Outcome, TrialArm

ARMS = tree(
    {"type": "diagnosis", "codes": [GBM, ASTRO]}, {"type": "age", "min_years": 18, "max_years": 70}
)


def _register(n: int) -> None:
    """n patients of a few kinds: eligible, possibly eligible, not eligible, arm-level."""
    for i in range(n):
        p = patient(
            birth_date=date(1960 + i % 30, 1 + i % 12, 1 + i % 28), sex=("female", "male")[i % 2]
        )
        kind = i % 4
        if kind == 0:
            episode(
                p, markers={"idh": "wildtype", "mgmt": "altered"}, ecog=1, follow_ups=[False, True]
            )
        elif kind == 1:
            episode(p, markers={"idh": "wildtype"}, ecog=0, follow_ups=[True])
        elif kind == 2:
            episode(
                p, diagnosis=ASTRO, grade=3, markers={"mgmt": "wildtype"}, regimens=["bevacizumab"]
            )
        else:
            episode(
                p,
                markers={"mgmt": "altered"},
                karnofsky=80,
                radiotherapy_end=date(2025, 3, 15),
                extent="subtotal",
            )


def _trials() -> None:
    trial(RECURRENT_GBM)
    trial(
        tree(
            {
                "any": [
                    {"type": "grade", "grades": [3]},
                    {"not": {"type": "marker", "marker": "mgmt", "result": "wildtype"}},
                ]
            },
            {"type": "radiotherapy_ended", "min_weeks": 12},
        )
    )
    with_arms = trial(ARMS)
    for result in ("altered", "wildtype"):
        TrialArm.objects.create(
            trial=with_arms,
            label=f"MGMT {result}",
            criteria={
                "version": 1,
                "criteria": {"all": [{"type": "marker", "marker": "mgmt", "result": result}]},
            },
        )


def _queries(run) -> int:
    engine.forget_targets()
    with CaptureQueriesContext(connection) as queries:
        run()
    return len(queries)


def _counts() -> tuple[int, int, int]:
    """Queries of a full re-match from empty, with nothing changed, and with every match
    changed (one marker re-tested on every episode). Each from cold (no cached targets),
    so the counts compare runs, not the cache."""
    Match.objects.all().delete()
    empty = _queries(engine.match_all)
    again = _queries(engine.match_all)
    MolecularMarker.objects.filter(marker="idh").update(result="inconclusive")
    MolecularMarker.objects.filter(marker="mgmt", result="wildtype").update(result="altered")
    changed = _queries(engine.match_all)
    assert Match.objects.filter(active=True).exists()
    return empty, again, changed


@pytest.mark.django_db
def test_full_rematch_takes_the_same_queries_for_n_and_3n_patients():
    _trials()
    _register(8)
    small = _counts()
    Match.objects.all().delete()
    Patient.objects.all().delete()
    MolecularMarker.objects.all().delete()
    _register(24)
    assert _counts() == small


TREES = [
    RECURRENT_GBM["criteria"],
    {
        "any": [
            {"type": "grade", "grades": [3]},
            {
                "not": {
                    "all": [
                        {"type": "marker", "marker": "idh", "result": "altered"},
                        {"type": "sex", "sex": "male"},
                    ]
                }
            },
        ]
    },
    {
        "all": [
            {"type": "age", "min_years": 18, "max_years": 70},
            {"type": "age", "min_years": 0.5, "max_years": 21.5},
            {"type": "radiotherapy_ended", "min_weeks": 12},
            {"type": "resection", "extents": ["gross_total"]},
            {"type": "performance", "scale": "karnofsky", "min": 70},
            {"type": "setting", "setting": "newly_diagnosed"},
            {"not": {"type": "prior_ttfields"}},
        ]
    },
    {"all": []},
]


def test_compiled_judges_agree_with_judge_on_every_combination():
    day = today()
    targets = [
        engine.Target(
            i, None, criteria.compile_labels({"version": 1, "criteria": node})["criteria"]
        )
        for i, node in enumerate(TREES)
    ]
    cases = [
        facts(
            episode_id=n,
            diagnosis=diagnosis,
            who_grade=grade,
            birth_date=birth,
            sex=sex,
            markers=markers,
            regimens=regimens,
            radiotherapy_ends=ends,
            extent=extent,
            ecog=ecog,
            karnofsky=kps,
            follow_ups=follow_ups,
            progressions=progressions,
        )
        for n, (
            diagnosis,
            grade,
            birth,
            sex,
            markers,
            regimens,
            ends,
            extent,
            (ecog, kps),
            (follow_ups, progressions),
        ) in enumerate(
            itertools.product(
                (GBM, ASTRO, ""),
                (4, 3, None),
                (
                    day - relativedelta(years=18),
                    day - relativedelta(years=71),
                    day - relativedelta(months=6),
                    date(1950, 2, 28),
                ),
                ("female", "male", "unknown"),
                (
                    {},
                    {"mgmt": "altered", "idh": "wildtype"},
                    {"mgmt": "inconclusive", "idh": "altered"},
                ),
                (set(), {"bevacizumab", "radiotherapy"}, {"tmz_adjuvant", "ttfields"}),
                ([], [None], [day - relativedelta(weeks=12)], [date(2020, 1, 1), day]),
                ("", "unknown", "gross_total"),
                ((None, None), (1, None), (None, 60), (3, 90)),
                ((0, 0), (2, 0), (2, 1), (3, 3)),
            )
        )
        if n % 7 == 0
    ]
    judges = engine._judges(targets, day)
    for target in targets:
        outcomes, digests, entries = judges[target.trial_id, None](cases)
        for f, outcome, digest, parts in zip(cases, outcomes, digests, entries, strict=True):
            verdicts = [part[1] for part in parts]
            assert (outcome, verdicts, digest) == engine.judge(target, f, day)
            assert "[" + ", ".join(part[3] for part in parts) + "]" == json.dumps(verdicts)


@pytest.mark.django_db(transaction=True)
def test_run_outside_a_transaction_writes_in_batches_on_its_own_connections(monkeypatch):
    """No transaction open (the Celery tasks): prefilter and inserts run in threads on
    second connections; the result is the same as inside one, a failure rolls back."""
    _trials()
    _register(12)
    assert not connection.in_atomic_block
    monkeypatch.setattr(engine, "_BATCH", 3)  # several batches through the writer thread
    result = engine.match_all()
    threaded = set(
        Match.objects.values_list("episode_id", "trial_id", "arm_id", "outcome", "verdict_set")
    )
    assert result.created == len(threaded) > 6
    assert Match.objects.filter(outcome=Outcome.ELIGIBLE).exists()
    assert Match.objects.filter(outcome=Outcome.POSSIBLY).exists()
    assert vars(engine.match_all())["updated"] == 0  # nothing changed: nothing written

    Match.objects.all().delete()
    with transaction.atomic():  # the same run on the caller's connection
        engine.match_all()
    assert (
        set(Match.objects.values_list("episode_id", "trial_id", "arm_id", "outcome", "verdict_set"))
        == threaded
    )

    Match.objects.all().delete()
    calls = []

    def failing(rows, now, per_trial):
        calls.append(len(rows))
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return insert(rows, now, per_trial)

    insert = engine._insert
    monkeypatch.setattr(engine, "_insert", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        engine.match_all()
    assert not Match.objects.exists()  # the first batch was rolled back with the rest
