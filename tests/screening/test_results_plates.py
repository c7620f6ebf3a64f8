"""The layout and both readout parsers on good and bad files: a file that does not fit
its layout is refused whole, naming the line (docs/drug-sensitivity.md §3)."""

from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from screening import plates

DATA = Path(__file__).parent / "data"
LAYOUT = (DATA / "layout_two_plates.csv").read_text()
GRID = (DATA / "readout_two_plates_grid.csv").read_text()
LONG = (DATA / "readout_two_plates_long.csv").read_text()

SMALL_LAYOUT = """plate,well,drug,concentration,role
P1,A01,DMSO,,negative control
P1,A2,DMSO,,negative control
P1,B1,BzCl,,positive control
P1,B2,BzCl,,positive control
P1,C3,Bortezomib,10 nM,sample
P1,C4,Bortezomib,1 µM,sample
"""


def refused(call) -> str:
    with pytest.raises(ValidationError) as error:
        call()
    return " ".join(m for ms in error.value.message_dict.values() for m in ms)


def test_the_sample_layout_reads_two_plates_with_units():
    layout = plates.parse_layout(LAYOUT)
    assert layout.plates == ["P1", "P2"]
    assert len([w for w in layout.wells if w.role == "sample"]) == 300
    assert {w.concentration_nm for w in layout.wells if w.role == "sample"} == {
        1,
        10,
        100,
        1000,
        10000,
    }


def test_a01_and_unit_in_the_concentration_column():
    layout = plates.parse_layout(SMALL_LAYOUT, plate_format=96)
    assert layout.wells[0].well == "A1"
    assert [w.concentration_nm for w in layout.wells if w.role == "sample"] == [10, 1000]


def test_grid_and_long_form_give_the_same_signals():
    grid, long = plates.parse_readout(GRID), plates.parse_readout(LONG)
    assert set(grid) == {"P1", "P2"}
    assert {p: {w: s for w, (s, _) in ws.items()} for p, ws in grid.items()} == {
        p: {w: s for w, (s, _) in ws.items()} for p, ws in long.items()
    }
    assert len(grid["P2"]) == 384
    matched = plates.match_readout(plates.parse_layout(LAYOUT), grid)
    assert [len(p.wells) for p in matched] == [198, 198]  # 48 controls + 150 drug wells each


@pytest.mark.parametrize(
    "text,expected",
    [
        (SMALL_LAYOUT.replace("P1,C4", "P1,Q4"), "Line 7: 'Q4' is not a well of a 96-well plate"),
        (SMALL_LAYOUT.replace("1 µM", "1 furlong"), "Line 7: '1 furlong' is not a concentration"),
        (SMALL_LAYOUT.replace(",sample\n", ",treatment\n", 1), "Line 6: 'treatment' is not a role"),
        (
            SMALL_LAYOUT.replace("P1,C4", "P1,C3"),
            "Line 7: well C3 of plate P1 is already on line 6",
        ),
        (
            SMALL_LAYOUT.replace("BzCl,,positive control", "BzCl,,empty"),
            "Plate P1 needs positive and negative",
        ),
        ("plate,well,drug\n", "Line 1: the header must name"),
    ],
)
def test_bad_layouts_are_refused_naming_the_line(text, expected):
    assert expected in refused(lambda: plates.parse_layout(text, plate_format=96))


def test_a_non_numeric_signal_in_a_grid_names_the_line():
    lines = GRID.splitlines()
    row = lines.index(next(line for line in lines if line.startswith("C,")))
    lines[row] = lines[row].replace(",", ",oops,", 1).rsplit(",", 1)[0]
    assert f"Line {row + 1}: 'oops' is not a numeric signal" in refused(
        lambda: plates.parse_readout("\n".join(lines))
    )


def test_a_grid_with_a_missing_row_is_refused():
    lines = [line for line in GRID.splitlines() if not line.startswith("H,")]
    assert "expected row H of plate P1" in refused(lambda: plates.parse_readout("\n".join(lines)))


def test_a_missing_plate_is_refused():
    only_p1 = GRID.split("Reader:")[1]
    text = "Reader:" + only_p1
    assert "Plate P2 of the layout has no readout" in refused(
        lambda: plates.match_readout(plates.parse_layout(LAYOUT), plates.parse_readout(text))
    )


def test_an_unknown_plate_and_an_unknown_well_name_the_line():
    long = LONG.replace("\nP2,", "\nP9,")
    assert "plate P9 is not in the layout" in refused(
        lambda: plates.match_readout(plates.parse_layout(LAYOUT), plates.parse_readout(long))
    )
    small = plates.parse_layout(SMALL_LAYOUT, plate_format=96)
    readout = (
        "plate,well,signal\nP1,A1,100\nP1,A2,101\nP1,B1,1\nP1,B2,2\nP1,C3,50\nP1,C4,20\nP1,H12,7\n"
    )
    assert "Line 8: well H12 of plate P1 is not in the layout" in refused(
        lambda: plates.match_readout(small, plates.parse_readout(readout, plate_format=96))
    )
    missing = readout.replace("P1,C4,20\n", "").replace("P1,H12,7\n", "")
    assert "Line 7: well C4 of plate P1 has no signal" in refused(
        lambda: plates.match_readout(small, plates.parse_readout(missing, plate_format=96))
    )


def test_long_form_bad_signal_and_duplicate():
    assert "Line 3: 'n/a' is not a numeric signal" in refused(
        lambda: plates.parse_readout("plate,well,signal\nP1,A1,5\nP1,A2,n/a\n")
    )
    assert "Line 3: a second signal for well A1" in refused(
        lambda: plates.parse_readout("plate,well,signal\nP1,A1,5\nP1,A01,6\n")
    )


def test_reader_header_lines_that_only_mention_plates_name_no_plate():
    """'Plate type: 384 well' after 'Plate: P1' keeps P1; 'Plate information' and a table
    header 'Plate,Barcode,...' name nothing, so a good file is not refused."""
    text = GRID.replace(
        "Plate: P1\n",
        "Plate: P1\nPlate type: 384 well\nPlate information\nPlate,Barcode,Measured\n",
        1,
    )
    assert text != GRID
    assert list(plates.parse_readout(text)) == list(plates.parse_readout(GRID)) == ["P1", "P2"]
    assert plates.plate_name_in_header(["Plate", "P7"]) == "P7"
    assert plates.plate_name_in_header(["Plate name = X9"]) == "X9"
