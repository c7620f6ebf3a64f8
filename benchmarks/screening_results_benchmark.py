"""Screening results benchmark: analyses a synthetic five-plate 384-well
screen (300 drugs at 5 concentrations, DMSO and kill controls replicated on every plate)
and prints the time for parsing, normalisation with QC, curve fitting (all curves at once,
screening/fitting.py) and scoring, then the same analysis end to end through analysis.analyse
(what the Celery task runs), and the slowest single curve fitted alone through the same path.
In the same run, as the floor to compare with, a bare per-curve scipy.optimize.curve_fit loop
over the same points (same model, bounds and starting values; curve_fit's defaults, and the
max_nfev=2000 the per-curve path had). Targets on our 2-core machines: the whole analysis
under 1 s, the slowest curve under 50 ms. No database needed.

    .venv/bin/python benchmarks/screening_results_benchmark.py [--drugs 300] [--plates 5]
        [--replicates 1] [--repeat 5]

With 336 drug wells a plate, 300 drugs x 5 concentrations fill five plates once; use
--drugs 165 --replicates 2 for duplicates. Prints the median of --repeat runs (the machine
is shared: the load average is printed with the figures)."""

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "consortium.settings")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from scipy.optimize import OptimizeWarning, curve_fit  # noqa: E402

from screening import analysis, plates, synthetic  # noqa: E402


class Clock:
    """Wall and CPU seconds of a block: on a shared machine the wall time includes waiting for
    a core; the CPU time is what the work itself costs (close to the wall time when quiet)."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def once(layout_text: str, readout_text: str) -> dict:
    times = {}
    with Clock() as clock:
        layout = plates.parse_layout(layout_text)
        matched = plates.match_readout(layout, plates.parse_readout(readout_text))
    times["parse"] = clock

    with Clock() as clock:
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
    times["normalise+QC"] = clock

    drugs = sorted(points)
    curves = [([c for c, _ in points[d]], [v for _, v in points[d]]) for d in drugs]
    with Clock() as clock:
        fitted = analysis.fit_curves(curves)
    times["fit"] = clock

    with Clock() as clock:
        for (concentrations, _), fit in zip(curves, fitted, strict=True):
            analysis.dss(
                log_ic50=fit.log_ic50,
                slope=fit.slope,
                top=fit.top,
                x_min=np.log10(min(concentrations) * 1e-9),
                x_max=np.log10(max(concentrations) * 1e-9),
            )
    times["score"] = clock
    total = Clock()
    total.wall = sum(t.wall for t in times.values())
    total.cpu = sum(t.cpu for t in times.values())
    times["total"] = total

    # The same work through the function the Celery task runs (screening.services._analyse),
    # so the figures cannot drift from production: normalisation, QC, fits and scores.
    rows = [
        (
            p.name,
            [(w.well, w.row, w.column, w.role, w.drug, w.concentration_nm, s) for w, s in p.wells],
        )
        for p in matched
    ]
    with Clock() as clock:
        analysis.analyse(rows, rows=16, columns=24)
    times["analyse()"] = clock

    # Each curve alone through the production path (a batch of one, then the fallback when the
    # batch does not converge it): the slowest is the most one curve can cost.
    slowest = Clock()
    slowest.wall = slowest.cpu = 0.0
    for curve in curves:
        with Clock() as clock:
            analysis.fit_curve(*curve)
        if clock.wall > slowest.wall:
            slowest = clock
    times["slowest curve"] = slowest
    return {
        "times": times,
        "curves": curves,
        "not converged": sum(1 for f in fitted if not f.converged),
    }


def curve_fit_loop(curves: list) -> tuple[float, float, int]:
    """The floor: a bare scipy.optimize.curve_fit per curve, as the per-curve path ran it.
    Returns (total seconds, slowest curve in seconds, curves that stopped at max_nfev)."""
    total, slowest, failed = 0.0, 0.0, 0
    for concentrations, values in curves:
        x = np.log10(np.asarray(concentrations, dtype=float) * 1e-9)
        y = np.asarray(values, dtype=float)
        start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OptimizeWarning)
                curve_fit(
                    lambda xx, a, c, b: analysis.logistic4(xx, a, 0.0, c, b),
                    x,
                    y,
                    p0=analysis.starting_values(x, y),
                    bounds=([0.0, x.min() - 2, 1e-3], [100.0, x.max() + 2, 10.0]),
                    method="trf",
                    max_nfev=2000,
                )
        except RuntimeError:
            failed += 1
        seconds = time.perf_counter() - start
        total += seconds
        slowest = max(slowest, seconds)
    return total, slowest, failed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--drugs", type=int, default=300)
    parser.add_argument("--plates", type=int, default=5)
    parser.add_argument("--replicates", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    layout, grids, _ = synthetic.screen(
        [f"Drug {i:03d}" for i in range(args.drugs)],
        plates=args.plates,
        replicates=args.replicates,
        seed=11,
    )
    readout = synthetic.grid_export(grids)
    load = os.getloadavg()
    runs = [once(layout, readout) for _ in range(args.repeat)]
    reference, reference_slowest, reference_failed = curve_fit_loop(runs[0]["curves"])
    load = [max(a, b) for a, b in zip(load, os.getloadavg(), strict=True)]
    print(
        f"{args.plates} plates x 384 wells, {len(runs[0]['curves'])} drugs x 5 concentrations x "
        f"{args.replicates} replicate(s); median of {args.repeat} runs "
        f"(1-min load average up to {load[0]:.1f} on {os.cpu_count()} cores):"
    )
    print(f"  {'':<14} {'wall':>9}    {'CPU':>9}")

    def median(key, kind):
        return statistics.median(getattr(r["times"][key], kind) for r in runs)

    for key in ("parse", "normalise+QC", "fit", "score", "total", "analyse()", "slowest curve"):
        print(
            f"  {key:<14} {median(key, 'wall') * 1000:9.1f} ms {median(key, 'cpu') * 1000:9.1f} ms"
        )
    print(f"  not converged  {runs[0]['not converged']} curve(s), flagged")
    print(
        f"  floor: bare per-curve curve_fit loop {reference * 1000:.1f} ms wall, slowest curve "
        f"{reference_slowest * 1000:.1f} ms, {reference_failed} stopped at max_nfev"
    )
    whole = max(median("total", "wall"), median("analyse()", "wall"))
    slowest = median("slowest curve", "wall")
    print(f"  target whole analysis < 1 s (wall): {'met' if whole < 1 else 'MISSED'}")
    print(f"  target slowest curve < 50 ms (wall): {'met' if slowest < 0.05 else 'MISSED'}")


if __name__ == "__main__":
    main()
