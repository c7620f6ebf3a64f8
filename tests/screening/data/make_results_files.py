"""Regenerates the sample files beside it from known 4PL curves (fixed seed 7):
    .venv/bin/python tests/screening/data/make_results_files.py
layout_two_plates.csv (30 library drugs on two 384-well plates, 5 concentrations x 2
replicates), readout_two_plates_grid.csv (the reader's grid export) and
readout_two_plates_long.csv (the same signals in long form)."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from screening import synthetic  # noqa: E402
from screening.library import DRUGS  # noqa: E402

layout, grids, _ = synthetic.screen([name for name, _, _ in DRUGS], plates=2, seed=7)
(HERE / "layout_two_plates.csv").write_text(layout)
(HERE / "readout_two_plates_grid.csv").write_text(synthetic.grid_export(grids))
(HERE / "readout_two_plates_long.csv").write_text(synthetic.long_export(grids))
