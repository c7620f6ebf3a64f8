"""The sample label's Code 128 barcode (docs/drug-sensitivity.md §2: a sample id and a barcode, and
the register number; never the name or the national ID). python-barcode encodes (start
code, code sets, check symbol, stop); we draw the bars ourselves, because its SVG writer
puts style="" attributes on every bar and the Content Security Policy forbids inline
styles."""

from dataclasses import dataclass

import barcode


@dataclass(frozen=True)
class Bar:
    x: int
    width: int


def label_text(*, register_number: str, label_id: str) -> str:
    return f"{register_number} {label_id}"


def code128_bars(text: str) -> tuple[list[Bar], int]:
    """The dark bars (x and width in modules) and the total width in modules, with the
    quiet zone of 10 modules either side that scanners need."""
    modules = barcode.Code128(text).build()[0]
    quiet = 10
    bars: list[Bar] = []
    start = None
    for i, module in enumerate(modules + "0"):
        if module == "1" and start is None:
            start = i
        elif module == "0" and start is not None:
            bars.append(Bar(start + quiet, i - start))
            start = None
    return bars, len(modules) + 2 * quiet
