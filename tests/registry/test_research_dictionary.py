"""The data dictionary is generated from the register: every entered field of every
section is a variable with its label, type, unit, codes and the entry rules' own messages;
the REDCap CSV has REDCap's 18 columns and valid variable names; the version moves with
the schema and the rules."""

import csv
import io
import re

import pytest

from consortium.models import Role
from registry import research_dictionary
from registry.sections import SECTIONS
from tests.conftest import make_member, sign_in
from tests.registry.factories import fast_password_hashing

__all__ = ["fast_password_hashing"]
REDCAP_NAME = re.compile(r"^[a-z][0-9a-z_]*$")  # REDCapR's validate_field_names


@pytest.fixture
def researcher_client(client, db):
    sign_in(client, make_member(Role.RESEARCHER, institutions=("UIO-ICR",)))
    return client


def test_every_entered_field_of_every_section_is_in_the_dictionary(db):
    tables = {t.name: t for t in research_dictionary.tables()}
    for section in SECTIONS.values():
        sources = {v.source for v in tables[section.key].variables}
        for field in section.form._meta.fields:
            assert f"{section.model.__name__}.{field}" in sources, (section.key, field)
    names = [v.name for v in research_dictionary.variables()]
    assert all(REDCAP_NAME.match(n) for n in names)
    assert not {"full_name", "national_id", "register_number"} & set(names)


def test_variables_carry_codes_units_and_the_entry_rules(db):
    variables = research_dictionary.variable_map()
    grade = variables["who_grade"]
    assert grade.choices[0] == ("1", "CNS WHO grade 1")
    assert "CNS WHO grades are 1 to 4." in grade.rule  # rules.check_episode's message
    dose = variables["radiotherapy.total_dose_gy"]
    assert dose.unit == "Gy" and dose.type == "number"
    assert "at most 80 Gy" in dose.rule
    assert variables["surgeries.surgery_days"].unit == "days"
    assert variables["surgeries.surgery_date"].restricted
    assert "nothing in the future" in variables["surgeries.surgery_days"].rule
    assert "surgeries.complications" not in variables  # free text: documented, not delivered
    ecog = variables["performance.ecog"]
    assert [c for c, _ in ecog.choices] == ["0", "1", "2", "3", "4", "5"]


def test_the_redcap_csv_and_the_page(researcher_client):
    response = researcher_client.get("/research/dictionary.csv")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == research_dictionary.REDCAP_COLUMNS and len(rows[0]) == 18
    by_name = {(r[1], r[0]): r for r in rows[1:]}
    grade = by_name[("episodes", "who_grade")]
    assert grade[3] == "dropdown" and grade[5].startswith("1, CNS WHO grade 1 | 2, ")
    assert by_name[("episodes", "age_at_diagnosis")][7] == "integer"
    assert by_name[("surgeries", "surgery_date")][10] == "y"  # restricted: an identifier
    page = researcher_client.get("/research/dictionary/").content.decode()
    assert research_dictionary.version() in page and "who_grade" in page
    api = researcher_client.get("/api/v1/research/dictionary/").json()
    assert api["version"] == research_dictionary.version()


def test_the_version_moves_with_the_rules(db, monkeypatch):
    before = research_dictionary.version()
    newest = max(
        p.stem
        for p in (
            research_dictionary.Path(research_dictionary.__file__).parent / "migrations"
        ).glob("[0-9]*.py")
    )
    assert before.startswith(newest[:4] + "-")
    rules = dict(research_dictionary.entry_rules())
    rules[("episode", "who_grade")] = ["A new rule."]
    monkeypatch.setattr(research_dictionary, "entry_rules", lambda: rules)
    research_dictionary.forget()
    try:
        assert research_dictionary.version() != before
    finally:
        monkeypatch.undo()
        research_dictionary.forget()
    assert research_dictionary.version() == before
