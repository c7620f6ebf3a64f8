"""Plate layouts and plate-reader readouts (docs/drug-sensitivity.md §3), parsed into plain data.
No database here: the services store what these functions return, so a file is checked
whole before anything is written ("refused whole, naming the line").

Layout CSV, one row per used well:
    plate,well,drug,concentration,unit,role
    P1,A1,DMSO,,,negative control
    P1,C3,Bortezomib,10,nM,sample
The unit may also sit in the concentration column ("10 nM"). Wells are A1..H12 (96) or
A1..P24 (384); A01 is read as A1 (docs/drug-sensitivity.md §3).

Readouts come in two shapes (docs/drug-sensitivity.md §3):
- long form: a header `plate,well,signal`, one row per well;
- a reader's grid export: header lines (one naming the plate, e.g. `Plate: P1`), a row of
  column numbers, then one line per row letter; several plates per file.
Comma, semicolon or tab separated."""

import csv
import itertools
import re
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError

from consortium.text_checks import NUL_MESSAGE, nul_line, text_lines

FORMATS = {96: (8, 12), 384: (16, 24)}
ROLES = {
    "sample": "sample",
    "drug": "sample",
    "positive control": "positive",
    "positive": "positive",
    "pos": "positive",
    "positive_control": "positive",
    "negative control": "negative",
    "negative": "negative",
    "neg": "negative",
    "negative_control": "negative",
    "empty": "empty",
    "": "empty",
}
UNITS_TO_NM = {"pm": 1e-3, "nm": 1.0, "um": 1e3, "µm": 1e3, "μm": 1e3, "mm": 1e6, "m": 1e9}
WELL = re.compile(r"^([A-Za-z]{1,2})0*([1-9][0-9]?)$")
# A plate's name in a reader's header: "Plate: P1", "Plate name = P1", "Plate ID #P1" in one
# cell, or a line of exactly two cells "Plate,P1". Other lines that mention plates ("Plate
# type: 384 well", "Plate information", a table header "Plate,Barcode,...") name nothing.
PLATE_LABEL = re.compile(
    r"^\s*plate(?:\s*(?:name|id|barcode))?\s*(?:[:=#]\s*(.*))?$", re.IGNORECASE
)


def plate_name_in_header(cells: list[str]) -> str:
    cells = [c.strip() for c in cells if c.strip()]
    match = PLATE_LABEL.match(cells[0]) if cells else None
    if match is None:
        return ""
    if match.group(1) is not None:
        return match.group(1).strip()
    return cells[1] if len(cells) == 2 else ""


def row_letter(index: int) -> str:
    return "ABCDEFGHIJKLMNOP"[index]


def parse_well(text: str, plate_format: int) -> tuple[int, int] | None:
    """(row, column), both from 0, or None when the name does not fit the format."""
    match = WELL.match(text.strip())
    if not match:
        return None
    rows, columns = FORMATS[plate_format]
    letters, number = match.group(1).upper(), int(match.group(2))
    if len(letters) != 1:
        return None
    row = ord(letters) - ord("A")
    if not (0 <= row < rows and 1 <= number <= columns):
        return None
    return row, number - 1


def well_name(row: int, column: int) -> str:
    return f"{row_letter(row)}{column + 1}"


@dataclass(frozen=True)
class LayoutWell:
    plate: str
    well: str
    row: int
    column: int
    drug: str
    concentration_nm: float | None
    role: str  # sample, positive, negative, empty
    line: int


@dataclass
class Layout:
    plate_format: int
    wells: list[LayoutWell] = field(default_factory=list)

    @property
    def plates(self) -> list[str]:
        return list(dict.fromkeys(w.plate for w in self.wells))

    def as_rows(self) -> list[dict]:
        """For saving as a lab template (JSON) and reading it back with layout_from_rows."""
        return [
            {
                "plate": w.plate,
                "well": w.well,
                "drug": w.drug,
                "concentration_nm": w.concentration_nm,
                "role": w.role,
            }
            for w in self.wells
        ]


def _rows(text: str):
    """(line number, cells) one at a time: a bad line is refused before the rest of the
    file is read (a 50 MB file with an error on line 3 fails at once)."""
    sample = "\n".join(text[:4096].splitlines()[:5])
    delimiter = (
        "\t"
        if sample.count("\t") > max(sample.count(","), sample.count(";"))
        else (";" if sample.count(";") > sample.count(",") else ",")
    )
    for number, row in enumerate(csv.reader(text_lines(text), delimiter=delimiter), start=1):
        yield number, [cell.strip() for cell in row]


def _refuse(field_name: str, line: int | None, message: str):
    where = f"Line {line}: " if line else ""
    raise ValidationError({field_name: f"{where}{message}"})


def _refuse_nul(text: str, field_name: str) -> None:
    line = nul_line(text)
    if line:
        _refuse(field_name, line, f"the line {NUL_MESSAGE}.")


def _concentration_nm(value: str, unit: str, line: int) -> float:
    text = f"{value} {unit}".strip().replace(",", ".") if unit else value.replace(",", ".")
    match = re.match(r"^([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Zµμ]+)$", text.strip())
    if not match or match.group(2).lower() not in UNITS_TO_NM:
        _refuse("layout", line, f"'{text}' is not a concentration with a unit (e.g. 10 nM, 1 µM).")
    amount = float(match.group(1)) * UNITS_TO_NM[match.group(2).lower()]
    if amount <= 0:
        _refuse("layout", line, "a concentration must be above zero.")
    return amount


def parse_layout(text: str, *, plate_format: int = 384) -> Layout:
    if plate_format not in FORMATS:
        raise ValidationError({"plate_format": "Plates have 96 or 384 wells."})
    _refuse_nul(text, "layout")
    rows = ((n, r) for n, r in _rows(text) if any(r))
    first = next(rows, None)
    if first is None:
        _refuse("layout", None, "The layout file is empty.")
    header_line, header = first
    columns = [c.lower() for c in header]
    needed = ["plate", "well", "drug", "concentration", "role"]
    missing = [c for c in needed if c not in columns]
    if missing:
        _refuse(
            "layout",
            header_line,
            f"the header must name the columns plate, well, drug, concentration "
            f"(with unit, or a unit column) and role; missing: {', '.join(missing)}.",
        )
    at = {name: columns.index(name) for name in columns}
    layout = Layout(plate_format=plate_format)
    seen: dict[tuple[str, str], int] = {}
    for number, row in rows:
        row = row + [""] * (len(columns) - len(row))
        plate, raw_well = row[at["plate"]], row[at["well"]]
        role_text = row[at["role"]].lower()
        if not plate:
            _refuse("layout", number, "the plate is missing.")
        position = parse_well(raw_well, plate_format)
        if position is None:
            _refuse(
                "layout",
                number,
                f"'{raw_well}' is not a well of a {plate_format}-well plate "
                f"({'A1..H12' if plate_format == 96 else 'A1..P24'}).",
            )
        if role_text not in ROLES:
            _refuse(
                "layout",
                number,
                f"'{row[at['role']]}' is not a role (sample, positive control, "
                "negative control, empty).",
            )
        role = ROLES[role_text]
        name = well_name(*position)
        if (plate, name) in seen:
            _refuse(
                "layout",
                number,
                f"well {name} of plate {plate} is already on line {seen[(plate, name)]}.",
            )
        seen[(plate, name)] = number
        drug = row[at["drug"]]
        concentration = None
        if role == "sample":
            if not drug:
                _refuse("layout", number, "a sample well needs a drug.")
            raw = row[at["concentration"]]
            unit = row[at["unit"]] if "unit" in at else ""
            if not raw:
                _refuse("layout", number, "a sample well needs a concentration.")
            concentration = _concentration_nm(raw, unit, number)
        layout.wells.append(
            LayoutWell(plate, name, position[0], position[1], drug, concentration, role, number)
        )
    if not layout.wells:
        _refuse("layout", None, "The layout has no wells.")
    for plate in layout.plates:
        roles = {w.role for w in layout.wells if w.plate == plate}
        if not {"positive", "negative"} <= roles:
            _refuse(
                "layout",
                None,
                f"Plate {plate} needs positive and negative control wells to be normalised.",
            )
    return layout


def layout_from_rows(rows: list[dict], *, plate_format: int) -> Layout:
    layout = Layout(plate_format=plate_format)
    for number, r in enumerate(rows, start=1):
        row, column = parse_well(r["well"], plate_format)
        layout.wells.append(
            LayoutWell(
                r["plate"],
                r["well"],
                row,
                column,
                r["drug"],
                r["concentration_nm"],
                r["role"],
                number,
            )
        )
    return layout


# --- Readouts ---------------------------------------------------------------------------


def _signal(text: str, line: int) -> float:
    try:
        value = float(
            text.replace(",", ".")
        )  # a decimal comma only reaches here in ;- or tab-separated files
    except ValueError:
        _refuse("readout", line, f"'{text}' is not a numeric signal.")
    if value != value or value in (float("inf"), float("-inf")):
        _refuse("readout", line, f"'{text}' is not a numeric signal.")
    return value


def _is_long_form(row: list[str]) -> bool:
    lowered = [c.lower() for c in row]
    return "plate" in lowered and "well" in lowered and "signal" in lowered


def parse_readout(text: str, *, plate_format: int = 384) -> dict[str, dict[str, tuple[float, int]]]:
    """{plate: {well: (signal, line)}} from either shape, read line by line."""
    _refuse_nul(text, "readout")
    rows = _rows(text)
    leading = []  # the rows up to the first one with content, which tells the shape
    for number, row in rows:
        leading.append((number, row))
        if any(row):
            break
    rows = itertools.chain(leading, rows)
    if leading and _is_long_form(leading[-1][1]):
        return _parse_long(rows, plate_format)
    return _parse_grid(rows, plate_format)


def _parse_long(rows, plate_format: int):
    plates: dict[str, dict[str, tuple[float, int]]] = {}
    header = None
    for number, row in rows:
        if not any(row):
            continue
        if header is None:
            header = {c.lower(): i for i, c in enumerate(row)}
            continue
        row = row + [""] * (len(header) - len(row))
        plate, raw_well, raw_signal = (
            row[header["plate"]],
            row[header["well"]],
            row[header["signal"]],
        )
        position = parse_well(raw_well, plate_format)
        if not plate:
            _refuse("readout", number, "the plate is missing.")
        if position is None:
            _refuse(
                "readout", number, f"'{raw_well}' is not a well of a {plate_format}-well plate."
            )
        name = well_name(*position)
        wells = plates.setdefault(plate, {})
        if name in wells:
            _refuse("readout", number, f"a second signal for well {name} of plate {plate}.")
        wells[name] = (_signal(raw_signal, number), number)
    if not plates:
        _refuse("readout", None, "The readout has no wells.")
    return plates


def _parse_grid(rows, plate_format: int):
    n_rows, n_columns = FORMATS[plate_format]
    plates: dict[str, dict[str, tuple[float, int]]] = {}
    pending_name = ""
    current: dict | None = None
    expected_row = 0
    for number, row in rows:
        cells = row[:]
        while cells and not cells[-1]:
            cells.pop()
        if not cells:
            continue
        first = cells[0]
        numbers = cells[1:] if first == "" else cells
        if (
            all(c.isdigit() for c in numbers)
            and numbers
            and numbers == [str(i) for i in range(1, len(numbers) + 1)]
        ):
            if len(numbers) != n_columns:
                _refuse(
                    "readout",
                    number,
                    f"the grid has {len(numbers)} columns; a {plate_format}-well plate has "
                    f"{n_columns}.",
                )
            if current is not None and expected_row < n_rows:
                _refuse(
                    "readout",
                    number,
                    f"plate {current['name']} has only {expected_row} of {n_rows} rows.",
                )
            name = pending_name or f"#{len(plates) + 1}"
            if name in plates:
                _refuse("readout", number, f"plate {name} appears twice in the file.")
            current = {"name": name, "wells": {}}
            plates[name] = current["wells"]
            expected_row, pending_name = 0, ""
            continue
        if current is not None and expected_row < n_rows and len(first) == 1 and first.isalpha():
            if first.upper() != row_letter(expected_row):
                _refuse(
                    "readout",
                    number,
                    f"expected row {row_letter(expected_row)} of plate {current['name']}, "
                    f"found '{first}'.",
                )
            values = row[1 : 1 + n_columns]
            if len(values) < n_columns or any(v == "" for v in values):
                _refuse(
                    "readout",
                    number,
                    f"row {first.upper()} of plate {current['name']} needs {n_columns} signals.",
                )
            for column, raw in enumerate(values):
                current["wells"][well_name(expected_row, column)] = (_signal(raw, number), number)
            expected_row += 1
            continue
        if current is not None and 0 < expected_row < n_rows:
            _refuse(
                "readout",
                number,
                f"plate {current['name']} has only {expected_row} of {n_rows} rows.",
            )
        # A header line: remember a plate name if it gives one.
        pending_name = plate_name_in_header(cells) or pending_name
    if current is not None and expected_row < n_rows:
        _refuse(
            "readout", None, f"plate {current['name']} has only {expected_row} of {n_rows} rows."
        )
    if not plates:
        _refuse(
            "readout",
            None,
            "No plate grid found (a row of column numbers 1..N, then one line per row letter), "
            "and no long-form header 'plate,well,signal'.",
        )
    return plates


def merge_readouts(parts: list[dict]) -> dict:
    merged: dict = {}
    for part in parts:
        for plate, wells in part.items():
            if plate in merged:
                _refuse(
                    "readout",
                    next(iter(wells.values()))[1],
                    f"plate {plate} is in more than one readout file.",
                )
            merged[plate] = wells
    return merged


@dataclass
class PlateData:
    name: str
    wells: list[tuple[LayoutWell, float]]  # every non-empty layout well with its signal


def match_readout(layout: Layout, readout: dict) -> list[PlateData]:
    """Fit the readout to the layout, or refuse naming the line: a plate the layout lacks,
    a layout plate without readout, a signal for a well the layout does not use, a used
    well without signal. Grid plates without a name (`#1`, `#2`) are taken in the
    layout's plate order."""
    plates = layout.plates
    if all(name.startswith("#") for name in readout) and len(readout) == len(plates):
        readout = {plate: wells for plate, wells in zip(plates, readout.values(), strict=True)}
    for name, wells in readout.items():
        if name not in plates:
            line = min(number for _, number in wells.values())
            _refuse(
                "readout",
                line,
                f"plate {name} is not in the layout (layout plates: {', '.join(plates)}).",
            )
    result = []
    for plate in plates:
        if plate not in readout:
            raise ValidationError({"readout": f"Plate {plate} of the layout has no readout."})
        signals = readout[plate]
        used = {w.well: w for w in layout.wells if w.plate == plate and w.role != "empty"}
        known = {w.well for w in layout.wells if w.plate == plate}
        for well, (_, number) in signals.items():
            if well not in known and not _grid(signals):
                _refuse("readout", number, f"well {well} of plate {plate} is not in the layout.")
        data = []
        for well in used.values():
            if well.well not in signals:
                _refuse(
                    "layout",
                    well.line,
                    f"well {well.well} of plate {plate} has no signal in the readout.",
                )
            data.append((well, signals[well.well][0]))
        result.append(PlateData(plate, data))
    return result


def _grid(signals: dict) -> bool:
    """A grid export reads every well; wells the layout leaves out are simply unused."""
    return len({number for _, number in signals.values()}) < len(signals)
