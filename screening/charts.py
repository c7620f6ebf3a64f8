"""The screening pages' drawings as coordinates for inline SVG, server-rendered (no script,
no inline style under the CSP): a shipment's temperature trace, a drug's dose-response curve
and a plate's heat map. The PDF report draws its curves from the same coordinates."""

import math

from reportlab.pdfbase.pdfmetrics import stringWidth

from consortium import formats

from .analysis import logistic4
from .models import Shipment
from .plates import FORMATS, row_letter

TICK_FONT_SIZE = 8  # svg.curve .tick in static/css/screening.css
# Tick labels are placed from their width in Helvetica's metrics (reportlab ships them), with
# room for a wider sans-serif on screen (DejaVu Sans digits are about 15 % wider).
SCREEN_FONT_ALLOWANCE = 1.2


def text_width(text: str, size: float = TICK_FONT_SIZE) -> float:
    return stringWidth(text, "Helvetica", size) * SCREEN_FONT_ALLOWANCE


def concentration_tick(log10_molar: int) -> str:
    """A decade of the concentration axis in nM, Norwegian style: 0,1 / 1 / 10 / 1 000."""
    exponent = log10_molar + 9
    return formats.number(10**exponent, max(0, -exponent))


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
    tick_text = [formats.quantity(t, "temperature") for t in ticks]
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
        "ticks": [(y(t), text) for t, text in zip(ticks, tick_text, strict=True)],
        "start": readings[0].at,
        "end": readings[-1].at,
        "low": low,
        "high": high,
    }


def curve_chart(result, *, threshold: float = 10.0, width: int = 260, height: int = 176) -> dict:
    """Points, the fitted 4PL and the threshold as SVG coordinates; x is log10(M) over the
    tested range, y is % inhibition from -20 to 120 (noise outside 0..100 is kept). Both axes
    carry a title with the unit; the plot's right edge leaves room for the last tick label,
    centred under its tick."""
    x_lo, x_hi = result.x_min - 0.25, result.x_max + 0.25
    decades = range(math.ceil(result.x_min), math.floor(result.x_max) + 1)
    labels = [concentration_tick(x) for x in decades]
    left, top, bottom = 44, 8, height - 32
    right = width - 6
    if labels:
        # Where the last tick lands for this right edge, and how far its label reaches past
        # it: move the edge in until the label's right half fits inside the drawing.
        half = text_width(labels[-1]) / 2
        for _ in range(3):
            last_x = left + (decades[-1] - x_lo) / (x_hi - x_lo) * (right - left)
            overflow = last_x + half - (width - 2)
            if overflow <= 0:
                break
            right -= overflow
    right = round(right, 1)
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
        "ticks": [(sx(x), label) for x, label in zip(decades, labels, strict=True)],
        "tick_y": bottom + 11,
        "y_ticks": [(sy(v), formats.quantity(v, "inhibition")) for v in (0, 50, 100)],
        "y_tick_x": left - 3,
        "x_title": "Concentration (nM, log scale)",
        "x_title_x": round((left + right) / 2, 1),
        "x_title_y": height - 6,
        "y_title": "Inhibition (%)",
        "y_title_x": 10,
        "y_title_y": round((top + bottom) / 2, 1),
    }


# The heat map's colour bands: band k holds inhibition from 10k - 5 % to 10k + 5 %.
BANDS = range(11)
LEGEND_SWATCH = 12


def _band_words(band: int) -> str:
    low, high = max(band * 10 - 5, 0), band * 10 + 5
    if band == 0:
        return "under 5 % inhibition"
    if band == 10:
        return "95 % inhibition or more"
    return f"{low}–{high} % inhibition"


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
                + (
                    f" {formats.quantity(w.concentration_nm, 'concentration')}"
                    if w.concentration_nm
                    else ""
                )
                + (
                    f": {formats.quantity(w.inhibition, 'inhibition')}"
                    if w.inhibition is not None
                    else ""
                ),
            }
        )
    # The colour legend below the plate: its title, one swatch per band with the inhibition
    # it stands for, 0 / 50 / 100 % under their bands, then the empty and control wells.
    legend_top = 18 + rows * cell + 10
    swatch_y = legend_top + 4
    label_y = swatch_y + LEGEND_SWATCH + 9
    key_y = label_y + 6
    swatches = [
        {"x": 20 + b * LEGEND_SWATCH, "band": str(b), "title": _band_words(b)} for b in BANDS
    ]
    legend_width = 20 + len(BANDS) * LEGEND_SWATCH + 4
    return {
        "width": max(24 + columns * cell, legend_width, 200),
        "height": key_y + LEGEND_SWATCH + 4,
        "cell": cell - 1,
        "cells": cells,
        "rows": [(14 + r * cell + cell - 4, row_letter(r)) for r in range(rows)],
        "columns": [(20 + c * cell + 2, c + 1) for c in range(columns)],
        "legend": {
            "title": "Inhibition (%)",
            "title_y": legend_top,
            "swatch_y": swatch_y,
            "swatch": LEGEND_SWATCH - 1,
            "swatches": swatches,
            "label_y": label_y,
            "labels": [
                (20 + b * LEGEND_SWATCH + LEGEND_SWATCH / 2, formats.quantity(b * 10, "inhibition"))
                for b in (0, 5, 10)
            ],
            "key_y": key_y,
            "empty_x": 20,
            "control_x": 100,
        },
    }
