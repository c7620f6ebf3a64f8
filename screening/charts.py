"""The screening pages' drawings as coordinates for inline SVG, server-rendered (no script,
no inline style under the CSP): a shipment's temperature trace, a drug's dose-response curve
and a plate's heat map. The PDF report draws its curves from the same coordinates."""

import math

from .analysis import logistic4
from .models import Shipment
from .plates import FORMATS, row_letter


def temperature_chart(
    shipment: Shipment, readings, *, width: int = 640, height: int = 220
) -> dict | None:
    """The trace as coordinates for an inline SVG (server-rendered; no script, no inline
    style under the CSP): the allowed band, the line, the out-of-range points."""
    if not readings:
        return None
    sample_type = shipment.sample.sample_type
    low, high = float(sample_type.min_celsius), float(sample_type.max_celsius)
    values = [float(r.celsius) for r in readings]
    y_min, y_max = min(values + [low]) - 2, max(values + [high]) + 2
    t0, t1 = readings[0].at.timestamp(), readings[-1].at.timestamp()
    span = (t1 - t0) or 1
    left, right, top, bottom = 48, width - 10, 10, height - 30

    def x(at):
        return round(left + (at.timestamp() - t0) / span * (right - left), 1)

    def y(value):
        return round(bottom - (value - y_min) / (y_max - y_min) * (bottom - top), 1)

    points = [(x(r.at), y(float(r.celsius)), r) for r in readings]
    ticks = [round(y_min + i * (y_max - y_min) / 4, 1) for i in range(5)]
    return {
        "width": width,
        "height": height,
        "left": left,
        "right": right,
        "top": top,
        "bottom": bottom,
        "band_y": y(high),
        "band_height": round(y(low) - y(high), 1),
        "band_width": right - left,
        "polyline": " ".join(f"{px},{py}" for px, py, _ in points),
        "outside": [(px, py) for px, py, r in points if not low <= float(r.celsius) <= high],
        "ticks": [(y(t), t) for t in ticks],
        "start": readings[0].at,
        "end": readings[-1].at,
        "low": low,
        "high": high,
    }


def curve_chart(result, *, threshold: float = 10.0, width: int = 260, height: int = 160) -> dict:
    """Points, the fitted 4PL and the threshold as SVG coordinates; x is log10(M) over the
    tested range, y is % inhibition from -20 to 120 (noise outside 0..100 is kept)."""
    left, right, top, bottom = 34, width - 6, 6, height - 20
    x_lo, x_hi = result.x_min - 0.25, result.x_max + 0.25
    y_lo, y_hi = -20.0, 120.0

    def sx(x):
        return round(left + (x - x_lo) / (x_hi - x_lo) * (right - left), 1)

    def sy(y):
        return round(bottom - (min(max(y, y_lo), y_hi) - y_lo) / (y_hi - y_lo) * (bottom - top), 1)

    points = [(sx(math.log10(c * 1e-9)), sy(v)) for c, v in result.points]
    line = ""
    if result.top is not None:
        steps = [result.x_min + i * (result.x_max - result.x_min) / 40 for i in range(41)]
        curve = (result.top, result.bottom, result.log_ic50, result.slope)
        line = " ".join(f"{sx(x)},{sy(float(logistic4(x, *curve)))}" for x in steps)
    ticks = [
        (sx(x), f"{10 ** (x + 9):g}")
        for x in range(math.ceil(result.x_min), math.floor(result.x_max) + 1)
    ]
    return {
        "width": width,
        "height": height,
        "left": left,
        "right": right,
        "top": top,
        "bottom": bottom,
        "points": points,
        "line": line,
        "threshold_y": sy(threshold),
        "zero_y": sy(0),
        "hundred_y": sy(100),
        "ticks": ticks,
    }


def heat_map(plate, wells, *, cell: int = 14) -> dict:
    """A plate as a grid of cells coloured by % inhibition in ten bands (CSS classes)."""
    rows, columns = FORMATS[plate.upload.plate_format]
    cells = []
    for w in wells:
        band = (
            "empty" if w.inhibition is None else str(min(max(int((w.inhibition + 5) // 10), 0), 10))
        )
        cells.append(
            {
                "x": 20 + w.column * cell,
                "y": 14 + w.row * cell,
                "band": band,
                "role": w.role,
                "title": f"{w.well} {w.drug_name or w.get_role_display()}"
                + (f" {w.concentration_nm:g} nM" if w.concentration_nm else "")
                + (f": {w.inhibition:.0f} %" if w.inhibition is not None else ""),
            }
        )
    return {
        "width": 24 + columns * cell,
        "height": 18 + rows * cell,
        "cell": cell - 1,
        "cells": cells,
        "rows": [(14 + r * cell + cell - 4, row_letter(r)) for r in range(rows)],
        "columns": [(20 + c * cell + 2, c + 1) for c in range(columns)],
    }
