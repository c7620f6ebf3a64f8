"""Suggested-criteria benchmark (target: suggestions for 200 trials in under 10 s on a
2-core machine): prints the time to read 200 eligibility texts (the labelled set's public
records, cycled) and to store their suggestions (suggestions_refresh, what an import or
the weekly sync runs per trial), beside the floor: one compiled regular expression over
the same texts, the bare library call.

    DATABASE_URL=... DJANGO_DEBUG=1 .venv/bin/python benchmarks/suggestions_benchmark.py \
        [--trials 200]

The stored part runs in a transaction that is rolled back (use a development database)."""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "consortium.settings")

import django  # noqa: E402

django.setup()

from django.db import transaction  # noqa: E402

from trials import evaluation, services  # noqa: E402
from trials.models import Suggestion, Trial  # noqa: E402

LABELS = Path(__file__).resolve().parents[1] / "trials" / "demo_data" / "eligibility_labels"


class Rollback(Exception):
    pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    labelled = evaluation.load(LABELS)
    reads, floors = [], []
    for _ in range(args.runs):
        took, floor = evaluation.time_200(labelled, args.trials)
        reads.append(took)
        floors.append(floor)
    print(
        f"read {args.trials} texts: median {statistics.median(reads):.3f} s "
        f"(runs {', '.join(f'{r:.3f}' for r in reads)}); floor (one regex): "
        f"{statistics.median(floors):.3f} s"
    )
    texts = [t.text for t in labelled]
    stored = 0
    try:
        with transaction.atomic():
            trials = Trial.objects.bulk_create(
                Trial(
                    nct_id="", brief_title=f"Benchmark {i}", eligibility_text=texts[i % len(texts)]
                )
                for i in range(args.trials)
            )
            started = time.perf_counter()
            for trial in trials:
                services.suggestions_refresh(trial=trial)
            took = time.perf_counter() - started
            stored = Suggestion.objects.filter(trial__in=trials).count()
            raise Rollback
    except Rollback:
        pass
    print(
        f"read and store {args.trials} trials' suggestions: {took:.3f} s ({stored} suggestions; "
        f"target < 10 s)"
    )


if __name__ == "__main__":
    main()
