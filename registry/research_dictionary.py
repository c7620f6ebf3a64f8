"""The register's data dictionary, generated from the register itself: the models' fields
(name, label, type, choices with codes and labels), the forms' field lists (what a
clinician enters, section by section), the entry rules of rules.py (each field's error
messages, read from the rules' source) and the molecular markers of vocabulary.py. The
research extracts deliver exactly these variables, so the dictionary cannot drift from
the data.

A date is delivered as days from the date of diagnosis (`<name>_days`) and the birth date
as age at diagnosis; the exact dates and free text are *restricted* variables, delivered
only when a project's approval names them. The name, the national ID and the register
number are not variables at all. (REDCap's de-identification offers the same choices:
remove identifiers, shift dates; its data dictionary is an 18-column CSV,
https://linkml.io/linkml-redcap/reference/data_dictionary/Field/.)

The version is the newest registry migration plus a hash of the dictionary, so a schema
change or a new rule gives a new version."""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path

from django.db import models as dj

from consortium.models import Institution

from . import rules, vocabulary
from .models import MarkerMethod, MarkerResult, Patient, TumourEpisode
from .rules import EPISODE_FIELDS
from .sections import SECTIONS

# REDCap variable names: ^[a-z][0-9a-z_]*$, warned about above 26 characters
# (https://search.r-project.org/CRAN/refmans/REDCapR/html/validate.html).
EPISODE_TABLE = "episodes"
NEVER_DELIVERED = {"full_name", "national_id", "register_number", "synthetic_id"}


@dataclass(frozen=True)
class Variable:
    name: str
    table: str  # "episodes" (one row per episode) or a repeated section's long table
    label: str
    type: str  # integer, number, text, categorical, yesno, date, datetime, time
    unit: str = ""
    choices: tuple = ()  # (code, label)
    rule: str = ""
    note: str = ""
    restricted: bool = False  # exact dates: only when the approval names them
    # Free text is documented but never delivered: a name or a national ID typed into it
    # cannot be told apart reliably.
    deliverable: bool = True
    source: str = ""  # model.field it is read from
    transform: str = "value"  # value, days, age, year, hospital, marker_result, ...
    column: str = ""  # the database column

    @property
    def choices_text(self) -> str:
        return " | ".join(f"{code}, {label}" for code, label in self.choices)


@dataclass(frozen=True)
class Table:
    name: str
    label: str
    model: type | None
    related: str = ""  # the episode's related name (repeated sections)
    variables: list = field(default_factory=list)


def repeated_sections() -> list:
    """The repeated sections of an episode (registry/sections.py, the register's one list):
    each becomes a long table named by its key, with the fields its form enters."""
    return list(SECTIONS.values())


# --- The entry rules, read from rules.py ----------------------------------------------------


def rule_functions() -> dict[str, str]:
    """Rule function -> the form whose fields it checks: the patient's, the episode's and
    the markers', and each section's own rule (SECTIONS[...].check)."""
    found = {"check_patient": "patient", "check_episode": "episode", "check_markers": "markers"}
    found |= {section.check.__name__: section.key for section in SECTIONS.values()}
    return found


def _text(node) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "…" for v in node.values)
    return ""


@cache
def entry_rules() -> dict[tuple[str, str], list[str]]:
    """(form, field) -> the rules' messages for it, from rules.py's source: every
    `errors.add("field", "message")` in the form's rule function and the rule functions
    it calls, and the date-order rule for every field they pass to check_dates."""
    tree = ast.parse(Path(inspect.getfile(rules)).read_text(encoding="utf-8"))
    date_rule = inspect.getdoc(rules.check_dates).replace("\n", " ")
    functions = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}

    def calls(node) -> list[ast.Call]:
        return [n for n in ast.walk(node) if isinstance(n, ast.Call)]

    def reached(name: str, seen: set) -> list:
        seen.add(name)
        out = [functions[name]]
        for call in calls(functions[name]):
            callee = getattr(call.func, "id", None)
            if callee in functions and callee not in seen and callee != "check_dates":
                out += reached(callee, seen)
        return out

    found: dict[tuple[str, str], list[str]] = {}
    for root, form in rule_functions().items():
        if root not in functions:
            continue
        for function in reached(root, set()):
            for node in calls(function):
                name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
                if name == "add" and len(node.args) == 2 and isinstance(node.args[0], ast.Constant):
                    found.setdefault((form, node.args[0].value), []).append(_text(node.args[1]))
                if name == "check_dates" and len(node.args) >= 3:
                    if isinstance(node.args[2], ast.Dict):
                        for key in node.args[2].keys:
                            if isinstance(key, ast.Constant):
                                found.setdefault((form, key.value), []).insert(0, date_rule)
    return found


def _rule(form: str, name: str) -> str:
    return " ".join(dict.fromkeys(entry_rules().get((form, name), [])))


# --- Variables from the models ----------------------------------------------------------


def _label(model_field) -> str:
    text = str(model_field.verbose_name)
    return text[0].upper() + text[1:]


def _unit(model_field) -> str:
    if "(Gy)" in str(model_field.verbose_name):
        return "Gy"
    return {"cycles": "cycles", "fractions": "fractions"}.get(model_field.name, "")


def _hospital_choices() -> tuple:
    return tuple(
        Institution.objects.filter(kind=Institution.Kind.HOSPITAL)
        .order_by("code")
        .values_list("code", "name")
    )


def _field_variables(model, names: list[str], table: str, form: str, form_class=None) -> list:
    out = []
    for name in names:
        if name in NEVER_DELIVERED:
            continue
        f = model._meta.get_field(name)
        base = dict(
            table=table,
            label=_label(f),
            rule=_rule(form, name),
            note=str(f.help_text or ""),
            source=f"{model.__name__}.{name}",
            column=f.column,
        )
        if isinstance(f, dj.DateTimeField):
            out.append(
                Variable(
                    f"{name.removesuffix('_at')}_days",
                    type="integer",
                    unit="days",
                    transform="days_datetime",
                    **{**base, "label": base["label"] + ", days from diagnosis"},
                )
            )
            out.append(Variable(name, type="datetime", restricted=True, **base))
        elif isinstance(f, dj.DateField):
            out.append(
                Variable(
                    f"{name.removesuffix('_date').removesuffix('_on')}_days",
                    type="integer",
                    unit="days",
                    transform="days",
                    **{**base, "label": base["label"] + ", days from diagnosis"},
                )
            )
            out.append(Variable(name, type="date", restricted=True, **base))
        elif isinstance(f, dj.TimeField):
            out.append(Variable(name, type="time", restricted=True, **base))
        elif isinstance(f, dj.ForeignKey) and f.related_model is Institution:
            out.append(
                Variable(
                    name,
                    type="categorical",
                    choices=_hospital_choices(),
                    transform="hospital",
                    **base,
                )
            )
        elif isinstance(f, dj.BooleanField):
            out.append(Variable(name, type="yesno", choices=(("1", "Yes"), ("0", "No")), **base))
        elif f.choices:
            choices = tuple((str(c), str(label)) for c, label in f.choices if c != "")
            out.append(Variable(name, type="categorical", choices=choices, **base))
        elif isinstance(f, dj.DecimalField):
            out.append(Variable(name, type="number", unit=_unit(f), **base))
        elif isinstance(f, dj.IntegerField):
            choices = ()  # a form may offer a fixed scale (ECOG 0-5, Karnofsky in tens)
            declared = getattr(form_class, "declared_fields", {}).get(name)
            if declared is not None and getattr(declared, "choices", None):
                choices = tuple((str(c), str(lbl)) for c, lbl in declared.choices if c != "")
            out.append(Variable(name, type="integer", unit=_unit(f), choices=choices, **base))
        else:  # free text: a name or a national ID can hide in it
            out.append(Variable(name, type="text", restricted=True, deliverable=False, **base))
    return out


def _episode_variables() -> list[Variable]:
    t = EPISODE_TABLE
    grade_choices = tuple((str(g), f"CNS WHO grade {g}") for g in range(1, 5))
    variables = [
        Variable(
            "sex",
            t,
            "Sex",
            "categorical",
            choices=tuple((str(c), str(lbl)) for c, lbl in Patient.Sex.choices),
            source="Patient.sex",
            column="sex",
            transform="patient",
        ),
        Variable(
            "age_at_diagnosis",
            t,
            "Age at diagnosis",
            "integer",
            unit="years",
            rule=_rule("patient", "birth_date"),
            source="Patient.birth_date",
            transform="age",
            note="Completed years on the date of diagnosis.",
        ),
        Variable(
            "birth_date",
            t,
            "Birth date",
            "date",
            restricted=True,
            rule=_rule("patient", "birth_date"),
            source="Patient.birth_date",
            column="birth_date",
            transform="patient",
        ),
        Variable(
            "health_region",
            t,
            "Health region",
            "categorical",
            choices=tuple(Institution.HealthRegion.choices),
            source="Patient.health_region",
            column="health_region",
            transform="patient",
        ),
        Variable(
            "vital_status",
            t,
            "Vital status",
            "categorical",
            choices=tuple(Patient.VitalStatus.choices),
            rule=_rule("patient", "vital_status"),
            source="Patient.vital_status",
            column="vital_status",
            transform="patient",
        ),
        Variable(
            "death_days",
            t,
            "Date of death, days from diagnosis",
            "integer",
            unit="days",
            rule=_rule("patient", "date_of_death"),
            source="Patient.date_of_death",
            column="date_of_death",
            transform="patient_days",
        ),
        Variable(
            "date_of_death",
            t,
            "Date of death",
            "date",
            restricted=True,
            rule=_rule("patient", "date_of_death"),
            source="Patient.date_of_death",
            column="date_of_death",
            transform="patient",
        ),
        Variable(
            "reporting_hospital",
            t,
            "Reporting hospital",
            "categorical",
            choices=_hospital_choices(),
            source="TumourEpisode.institution",
            column="institution_id",
            transform="hospital",
        ),
        Variable(
            "diagnosis_year",
            t,
            "Year of diagnosis",
            "integer",
            unit="year",
            source="TumourEpisode.diagnosis_date",
            transform="year",
        ),
    ]
    fields = [n for n in EPISODE_FIELDS if n != "mdt_dates"]
    fields.insert(fields.index("who_grade") + 1, "morphology")
    for v in _field_variables(TumourEpisode, fields, t, "episode"):
        if v.name == "diagnosis_days":  # 0 by definition: the date itself is restricted
            continue
        if v.name == "who_grade":
            v = Variable(**{**asdict(v), "type": "categorical", "choices": grade_choices})
        if v.name == "morphology":
            codes = sorted(
                {
                    c
                    for tt in vocabulary.TUMOUR_TYPES.values()
                    for c in tt.morphology_by_grade.values()
                    if c
                }
            )
            v = Variable(
                **{
                    **asdict(v),
                    "type": "categorical",
                    "choices": tuple((c, c) for c in codes),
                    "restricted": False,
                    "note": "Filled from the type and grade (ICD-O-3).",
                }
            )
        variables.append(v)
    variables += [
        Variable(
            "mdt_count",
            t,
            "Number of MDT meetings",
            "integer",
            source="TumourEpisode.mdt_dates",
            column="mdt_dates",
            transform="count",
        ),
        Variable(
            "first_mdt_days",
            t,
            "First MDT meeting, days from diagnosis",
            "integer",
            unit="days",
            rule=_rule("episode", "mdt_dates"),
            source="TumourEpisode.mdt_dates",
            column="mdt_dates",
            transform="first_days",
        ),
        Variable(
            "mdt_dates",
            t,
            "MDT meeting dates",
            "text",
            restricted=True,
            note="Semicolon-separated, YYYY-MM-DD.",
            rule=_rule("episode", "mdt_dates"),
            source="TumourEpisode.mdt_dates",
            column="mdt_dates",
            transform="date_list",
        ),
        Variable(
            "report_status",
            t,
            "Report status",
            "categorical",
            choices=tuple(TumourEpisode.Status.choices),
            source="TumourEpisode.status",
            column="status",
        ),
    ]
    results = tuple((str(c), str(lbl)) for c, lbl in MarkerResult.choices)
    methods = tuple((str(c), str(lbl)) for c, lbl in MarkerMethod.choices)
    for marker, label in vocabulary.MARKERS.items():
        words = vocabulary.MARKER_RESULT_WORDS.get(marker)
        note = f"altered = {words[0]}, wildtype = {words[1]}" if words else ""
        variables += [
            Variable(
                f"{marker}_result",
                t,
                f"{label}: result",
                "categorical",
                choices=results,
                rule=_rule("markers", marker),
                note=note,
                source=f"MolecularMarker[{marker}].result",
                column=marker,
                transform="marker_result",
            ),
            Variable(
                f"{marker}_method",
                t,
                f"{label}: method",
                "categorical",
                choices=methods,
                source=f"MolecularMarker[{marker}].method",
                column=marker,
                transform="marker_method",
            ),
        ]
    return variables


@cache
def _tables() -> tuple[Table, ...]:
    tables = [
        Table(
            EPISODE_TABLE,
            "Tumour episodes (one row per episode)",
            TumourEpisode,
            variables=_episode_variables(),
        )
    ]
    for section in repeated_sections():
        model, key = section.model, section.key
        tables.append(
            Table(
                key,
                str(model._meta.verbose_name_plural).capitalize(),
                model,
                related=key,
                variables=_field_variables(
                    model, list(section.form._meta.fields), key, key, section.form
                ),
            )
        )
    return tuple(tables)


def tables() -> tuple[Table, ...]:
    return _tables()


def variables() -> list[Variable]:
    return [v for t in tables() for v in t.variables]


def variable_map() -> dict[str, Variable]:
    """The variables a project may be approved for, by the name it approves:
    `<table>.<name>` for repeated sections (two sections may both have a start date),
    the bare name for the episode table."""
    return {qualified(v): v for v in variables() if v.deliverable}


def qualified(v: Variable) -> str:
    return v.name if v.table == EPISODE_TABLE else f"{v.table}.{v.name}"


def default_variables() -> list[str]:
    """What an application asks for unless the researcher chooses: everything that is
    not restricted."""
    return [qualified(v) for v in variables() if not v.restricted and v.deliverable]


def _latest_migration() -> str:
    folder = Path(inspect.getfile(rules)).parent / "migrations"
    return max(p.stem for p in folder.glob("[0-9]*.py"))


@cache
def version() -> str:
    body = json.dumps([asdict(v) for v in variables()], sort_keys=True, default=str)
    digest = hashlib.sha256(body.encode()).hexdigest()[:12]
    return f"{_latest_migration()[:4]}-{digest}"


def forget() -> None:
    """Build the dictionary afresh (tests that add a hospital)."""
    _tables.cache_clear()
    version.cache_clear()


# --- REDCap's data dictionary CSV ---------------------------------------------------------

REDCAP_COLUMNS = [
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
]
_REDCAP_TYPE = {
    "integer": ("text", "integer"),
    "number": ("text", "number"),
    "date": ("text", "date_ymd"),
    "datetime": ("text", "datetime_ymd"),
    "time": ("text", "time"),
    "text": ("notes", ""),
    "categorical": ("dropdown", ""),
    "yesno": ("yesno", ""),
}


def redcap_rows(selected: list[str] | None = None) -> list[list]:
    """REDCap's 18 columns, one row per variable (the record's key first, per form);
    the unit and the entry rule go in the field note and the annotation."""
    rows = [REDCAP_COLUMNS]
    wanted = set(selected) if selected is not None else None
    for table in tables():
        keys = [
            ("pseudonym", "Patient pseudonym (this project only)"),
            ("episode", "Episode key (this project only)"),
        ]
        if table.name != EPISODE_TABLE:
            keys.append(("instance", "Instance of the section within the episode"))
        for name, label in keys:
            rows.append([name, table.name, "", "text", label] + [""] * 5 + ["y"] + [""] * 7)
        for v in table.variables:
            if wanted is not None and qualified(v) not in wanted:
                continue
            field_type, validation = _REDCAP_TYPE[v.type]
            never = "" if v.deliverable else "Free text: never delivered."
            note = " ".join(x for x in (f"Unit: {v.unit}." if v.unit else "", v.note, never) if x)
            rows.append(
                [
                    v.name,
                    table.name,
                    "",
                    field_type,
                    v.label,
                    v.choices_text,
                    note,
                    validation,
                    "",
                    "",
                    "y" if v.restricted else "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    v.rule,
                ]
            )
    return rows


def as_json(selected: list[str] | None = None) -> dict:
    wanted = set(selected) if selected is not None else None
    return {
        "version": version(),
        "tables": [
            {
                "name": t.name,
                "label": t.label,
                "variables": [
                    {
                        "name": v.name,
                        "qualified_name": qualified(v),
                        "label": v.label,
                        "type": v.type,
                        "unit": v.unit,
                        "choices": [{"code": c, "label": lbl} for c, lbl in v.choices],
                        "rule": v.rule,
                        "note": v.note,
                        "restricted": v.restricted,
                        "delivered": v.deliverable,
                    }
                    for v in t.variables
                    if wanted is None or qualified(v) in wanted
                ],
            }
            for t in tables()
        ],
    }
