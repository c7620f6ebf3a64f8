"""Synthetic screens from known four-parameter logistic curves, with a fixed seed: the
same call gives the same files, so the test data, the demo and the benchmark have known
expected scores. FIMM's format (docs/drug-sensitivity.md §3): each drug at 5 concentrations over a
10,000-fold range (1..10,000 nM); DMSO as negative and benzethonium chloride as positive
control on every plate.

384-well plan: DMSO in columns 1 and 12 (edge and inner wells, so the edge check has
both), benzethonium chloride in column 24, drugs in columns 2-11 and 13-23."""

from dataclasses import dataclass

import numpy as np

from .analysis import logistic4
from .plates import row_letter

CONCENTRATIONS_NM = [1.0, 10.0, 100.0, 1000.0, 10000.0]
NEGATIVE_SIGNAL, POSITIVE_SIGNAL = 50_000.0, 800.0
SAMPLE_COLUMNS = [c for c in range(2, 24) if c != 12]


@dataclass(frozen=True)
class Curve:
    drug: str
    top: float
    log_ic50: float  # log10 M
    slope: float


def curves_for(drugs: list[str], *, seed: int = 7) -> list[Curve]:
    rng = np.random.default_rng(seed)
    curves = []
    for i, drug in enumerate(drugs):
        if i % 10 == 9:  # a flat drug now and then: never reaches the threshold
            curves.append(Curve(drug, 5.0, -6.0, 1.0))
            continue
        curves.append(
            Curve(
                drug,
                float(rng.uniform(40, 100)),
                float(rng.uniform(-9.0, -4.0)),
                float(rng.uniform(0.6, 2.0)),
            )
        )
    return curves


def screen(
    drugs: list[str],
    *,
    plates: int = 2,
    replicates: int = 2,
    seed: int = 7,
    noise_percent: float = 3.0,
    edge_loss_percent: float = 0.0,
) -> tuple[str, dict[str, list[list[float]]], list[Curve]]:
    """(layout CSV text, {plate: 16x24 signals}, curves). Drugs are spread over the plates
    in order; each at 5 concentrations x `replicates` wells on the same plate."""
    rng = np.random.default_rng(seed)
    curves = curves_for(drugs, seed=seed)
    per_plate = -(-len(curves) // plates)
    capacity = 16 * len(SAMPLE_COLUMNS)
    if per_plate * len(CONCENTRATIONS_NM) * replicates > capacity:
        raise ValueError(f"{per_plate} drugs x 5 x {replicates} do not fit {capacity} sample wells")
    lines = ["plate,well,drug,concentration,unit,role"]
    grids = {}
    sample_wells = [(r, c) for c in SAMPLE_COLUMNS for r in range(16)]
    for p in range(plates):
        name = f"P{p + 1}"
        grid = [[0.0] * 24 for _ in range(16)]
        for r in range(16):
            for c, role, drug, signal in (
                (1, "negative control", "DMSO", NEGATIVE_SIGNAL),
                (12, "negative control", "DMSO", NEGATIVE_SIGNAL),
                (24, "positive control", "Benzethonium chloride", POSITIVE_SIGNAL),
            ):
                lines.append(f"{name},{row_letter(r)}{c},{drug},,,{role}")
                grid[r][c - 1] = signal
        slot = 0
        for curve in curves[p * per_plate : (p + 1) * per_plate]:
            for _ in range(replicates):
                for concentration in CONCENTRATIONS_NM:
                    r, c = sample_wells[slot]
                    slot += 1
                    lines.append(
                        f"{name},{row_letter(r)}{c},{curve.drug},{concentration:g},nM,sample"
                    )
                    inhibition = float(
                        logistic4(
                            np.log10(concentration * 1e-9),
                            curve.top,
                            0.0,
                            curve.log_ic50,
                            curve.slope,
                        )
                    )
                    grid[r][c - 1] = NEGATIVE_SIGNAL - inhibition / 100 * (
                        NEGATIVE_SIGNAL - POSITIVE_SIGNAL
                    )
        for r, c in sample_wells[slot:]:  # a full plate map: unused wells are listed as empty
            lines.append(f"{name},{row_letter(r)}{c},,,,empty")
        for r in range(16):
            for c in range(24):
                value = grid[r][c] or NEGATIVE_SIGNAL * 0.02  # empty wells: background
                value *= 1 + rng.normal(0, noise_percent / 100)
                if edge_loss_percent and (r in (0, 15) or c in (0, 23)):
                    value *= 1 - edge_loss_percent / 100
                grid[r][c] = round(value, 1)
        grids[name] = grid
    return "\n".join(lines) + "\n", grids, curves


def grid_export(grids: dict[str, list[list[float]]]) -> str:
    """A plate reader's grid export: header lines, then column numbers and row letters."""
    out = []
    for name, grid in grids.items():
        out += [
            "Reader: EnVision 2105",
            f"Plate: {name}",
            "Measurement: CellTiter-Glo luminescence",
            "",
        ]
        out.append("," + ",".join(str(c) for c in range(1, 25)))
        for r, values in enumerate(grid):
            out.append(row_letter(r) + "," + ",".join(f"{v:g}" for v in values))
        out.append("")
    return "\n".join(out)


def long_export(grids: dict[str, list[list[float]]]) -> str:
    out = ["plate,well,signal"]
    for name, grid in grids.items():
        for r, values in enumerate(grid):
            out += [f"{name},{row_letter(r)}{c + 1},{v:g}" for c, v in enumerate(values)]
    return "\n".join(out) + "\n"
