"""Screening results benchmark (issue #7): analyses a synthetic five-plate 384-well
screen (300 drugs at 5 concentrations, DMSO and kill controls replicated on every plate)
and prints the time for parsing, normalisation with QC, curve fitting and scoring, then the
same analysis end to end through analysis.analyse (what the Celery task runs).
Target: under 10 s on our 2-core machines. No database needed.

    .venv/bin/python benchmarks/screening_results_benchmark.py [--drugs 300] [--plates 5] [--replicates 1] [--repeat 3]

With 336 drug wells a plate, 300 drugs x 5 concentrations fill five plates once; use
--drugs 165 --replicates 2 for duplicates. Prints the median of --repeat runs."""

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

import numpy as np  # noqa: E402

from screening import analysis, plates, synthetic  # noqa: E402


def once(layout_text: str, readout_text: str) -> dict:
    times = {}
    start = time.perf_counter()
    layout = plates.parse_layout(layout_text)
    matched = plates.match_readout(layout, plates.parse_readout(readout_text))
    times["parse"] = time.perf_counter() - start

    start = time.perf_counter()
    points: dict[str, list] = {}
    for plate in matched:
        negative = [s for w, s in plate.wells if w.role == "negative"]
        positive = [s for w, s in plate.wells if w.role == "positive"]
        qc = analysis.plate_qc(
            negative,
            positive,
            edge_wells=[(w.row, w.column, s) for w, s in plate.wells if w.role == "negative"],
        )
        inhibition = analysis.percent_inhibition(
            [s for _, s in plate.wells], qc.mu_negative, qc.mu_positive
        )
        for (w, _), value in zip(plate.wells, inhibition, strict=True):
            if w.role == "sample":
                points.setdefault(w.drug, []).append((w.concentration_nm, float(value)))
    times["normalise+QC"] = time.perf_counter() - start

    start = time.perf_counter()
    fits = {
        drug: analysis.fit_curve([c for c, _ in p], [v for _, v in p])
        for drug, p in sorted(points.items())
    }
    times["fit"] = time.perf_counter() - start

    start = time.perf_counter()
    for drug, fit in fits.items():
        concentrations = [c for c, _ in points[drug]]
        analysis.dss(
            log_ic50=fit.log_ic50,
            slope=fit.slope,
            top=fit.top,
            x_min=np.log10(min(concentrations) * 1e-9),
            x_max=np.log10(max(concentrations) * 1e-9),
        )
    times["score"] = time.perf_counter() - start
    times["total"] = sum(times.values())
    times["drugs"] = len(fits)

    # The same work through the function the Celery task runs (screening.services._analyse),
    # so the figures cannot drift from production: normalisation, QC, fits and scores.
    start = time.perf_counter()
    analysis.analyse(
        [
            (
                p.name,
                [
                    (w.well, w.row, w.column, w.role, w.drug, w.concentration_nm, s)
                    for w, s in p.wells
                ],
            )
            for p in matched
        ],
        rows=16,
        columns=24,
    )
    times["analyse()"] = time.perf_counter() - start
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--drugs", type=int, default=300)
    parser.add_argument("--plates", type=int, default=5)
    parser.add_argument("--replicates", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    layout, grids, _ = synthetic.screen(
        [f"Drug {i:03d}" for i in range(args.drugs)],
        plates=args.plates,
        replicates=args.replicates,
        seed=11,
    )
    readout = synthetic.grid_export(grids)
    runs = [once(layout, readout) for _ in range(args.repeat)]
    print(
        f"{args.plates} plates x 384 wells, {runs[0]['drugs']} drugs x 5 concentrations x {args.replicates} "
        f"replicate(s); median of {args.repeat} runs:"
    )
    for key in ("parse", "normalise+QC", "fit", "score", "total", "analyse()"):
        print(f"  {key:<14} {statistics.median(r[key] for r in runs) * 1000:9.1f} ms")
    total = max(
        statistics.median(r["total"] for r in runs), statistics.median(r["analyse()"] for r in runs)
    )
    print(f"  target < 10 s: {'met' if total < 10 else 'MISSED'}")


if __name__ == "__main__":
    main()
