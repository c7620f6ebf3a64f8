"""Aggregates of the register for every signed-in member: counts of tumour episodes by
WHO CNS5 diagnosis (and diagnosis group), CNS WHO grade, year of diagnosis, health region,
age group at diagnosis and sex, one dimension or two crossed, and the molecular-marker
profile of a diagnosis.

Small counts are protected by registry.suppression: a count of 1-4 shows "<5", and more
cells are hidden (":") until none can be worked out from the row and column totals.
Queries that overlap must not reveal together what each hides, so:
- every table is cut from the same cross-classification, and a dimension's totals are
  protected once, on their own (the one-dimension table); a crossed table takes those
  totals as they are (hidden or shown) and protects only its inner cells;
- the diagnoses and their groups are one table (the groups add up diagnoses), so the
  diagnosis and the diagnosis-group views hide the same figures;
- there are no free filters (a count "2020-2024" beside "2020-2023" would give 2024's by
  subtraction): the categories are fixed and do not overlap.
(Statistics Norway's practice, https://www.ssb.no/en/omssb/tjenester-og-verktoy/
data-til-forskning; Hundepool et al., Statistical Disclosure Control, Wiley 2012.)"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache

from django.core.cache import cache as django_cache
from django.db import connection

from consortium.models import Institution

from . import suppression, vocabulary
from .indicators import DIAGNOSIS_GROUPS, GROUP_OF_DIAGNOSIS
from .models import MarkerResult, Patient

TOTAL = "*"
CUBE_SECONDS = 60  # the counts are read again at most once a minute
# Age at diagnosis in the bands the Cancer Registry of Norway reports (0-17 children and
# adolescents, then adult bands; https://www.kreftregisteret.no/Generelt/Publikasjoner/
# Cancer-in-Norway/).
AGE_GROUPS = [
    ("0-17", "0–17", 0, 17),
    ("18-39", "18–39", 18, 39),
    ("40-59", "40–59", 40, 59),
    ("60-69", "60–69", 60, 69),
    ("70-79", "70–79", 70, 79),
    ("80+", "80 and over", 80, 200),
]
UNKNOWN = ""


@dataclass(frozen=True)
class Dimension:
    key: str
    label: str
    column: int  # position in the cube's rows
    hierarchical: bool = False


DIMENSIONS = {
    d.key: d
    for d in [
        Dimension("diagnosis", "WHO CNS5 diagnosis", 0, hierarchical=True),
        Dimension("diagnosis_group", "Diagnosis group", 0, hierarchical=True),
        Dimension("grade", "CNS WHO grade", 1),
        Dimension("year", "Year of diagnosis", 2),
        Dimension("region", "Health region", 3),
        Dimension("age_group", "Age group at diagnosis", 4),
        Dimension("sex", "Sex", 5),
    ]
}


def _age_band_sql() -> str:
    bands = " ".join(f"WHEN x.age <= {high} THEN '{code}'" for code, _, _, high in AGE_GROUPS)
    return f"CASE WHEN x.age IS NULL THEN '' {bands} END"


# One row per combination that occurs (a few thousand at 50,000 patients): the age group is
# formed in the query, so rows are not split by single years of age.
CUBE_SQL = f"""
SELECT e.diagnosis,
       COALESCE(e.who_grade::text, ''),
       COALESCE(EXTRACT(year FROM e.diagnosis_date)::int::text, ''),
       p.health_region,
       {_age_band_sql()},
       p.sex,
       count(*)
FROM registry_tumourepisode e JOIN registry_patient p ON p.id = e.patient_id
CROSS JOIN LATERAL (SELECT date_part('year', age(e.diagnosis_date, p.birth_date)) AS age) x
GROUP BY 1, 2, 3, 4, 5, 6
"""  # noqa: S608 - the bands are our constants
MARKER_SQL = """
SELECT e.diagnosis, m.marker, m.result, count(*)
FROM registry_molecularmarker m JOIN registry_tumourepisode e ON e.id = m.episode_id
GROUP BY 1, 2, 3
"""


def _read_cube() -> dict:
    with connection.cursor() as cursor:
        cursor.execute(CUBE_SQL)
        cube: dict[tuple, int] = {}
        for diagnosis, grade, year, region, age, sex, n in cursor.fetchall():
            # A code no longer in the vocabulary counts as "not given" (never a lost row).
            diagnosis = diagnosis if diagnosis in GROUP_OF_DIAGNOSIS else ""
            key = (diagnosis, grade, year, region or "", age or "", sex)
            cube[key] = cube.get(key, 0) + n
    return {"cube": list(cube.items()), "stamp": time.time()}


def _read_markers() -> list:
    with connection.cursor() as cursor:
        cursor.execute(MARKER_SQL)
        return [
            (d if d in GROUP_OF_DIAGNOSIS else "", marker, result, n)
            for d, marker, result, n in cursor.fetchall()
        ]


def counts() -> dict:
    """The register's cross-classification (one row per combination), read once a minute,
    with the markers' counts (read once a minute too, for the marker profiles)."""
    data = django_cache.get_or_set("research:cube:v1", _read_cube, CUBE_SECONDS)
    return {**data, "markers": _LazyMarkers(data["stamp"])}


class _LazyMarkers:
    """The markers' counts of the same minute, read only when a profile needs them."""

    def __init__(self, stamp: float):
        self.stamp = stamp

    def __iter__(self):
        key = f"research:markers:v1:{self.stamp}"
        return iter(django_cache.get_or_set(key, _read_markers, CUBE_SECONDS))


def _values(data: dict, *columns: int) -> dict:
    """The cube added up over every other dimension: (values of these columns) -> count."""
    out: dict = {}
    for key, n in data["cube"]:
        k = tuple(key[c] for c in columns)
        out[k] = out.get(k, 0) + n
    return out


# --- Categories ----------------------------------------------------------------------


def _diagnosis_label(code: str) -> str:
    if code == "":
        return "Diagnosis not given"
    tumour_type = vocabulary.TUMOUR_TYPES.get(code)
    return tumour_type.label if tumour_type else code


@dataclass
class Category:
    code: str
    label: str
    members: list[str] = field(default_factory=list)  # a group's diagnoses
    is_group: bool = False  # a diagnosis group's subtotal (as a column)


def categories(dimension: Dimension, data: dict) -> list[Category]:
    """The leaf categories of a dimension (for the diagnosis: the groups, each with its
    diagnoses), in their natural order, with those no episode has left out."""
    present = {key[dimension.column] for key, _ in data["cube"]}
    if dimension.hierarchical:
        out = []
        for slug, (label, codes) in DIAGNOSIS_GROUPS.items():
            members = [c for c in codes if c in present]
            if members:
                out.append(Category(slug, label, members))
        return out
    if dimension.key == "grade":
        options = [(str(g), f"Grade {g}") for g in range(1, 5)] + [(UNKNOWN, "Not graded")]
    elif dimension.key == "year":
        options = [(y, y) for y in sorted(present - {UNKNOWN})] + [(UNKNOWN, "Date not given")]
    elif dimension.key == "region":
        options = list(Institution.HealthRegion.choices) + [(UNKNOWN, "Region not given")]
    elif dimension.key == "age_group":
        options = [(code, label) for code, label, _, _ in AGE_GROUPS] + [(UNKNOWN, "Not known")]
    else:
        options = list(Patient.Sex.choices)
    return [Category(str(code), str(label)) for code, label in options if str(code) in present]


def _nodes(dimension: Dimension, cats: list[Category]) -> tuple[list, list[suppression.Relation]]:
    """The dimension's figures (leaves, groups, the total) and how they add up."""
    if dimension.hierarchical:
        leaves = [("d", code) for c in cats for code in c.members]
        groups = [("g", c.code) for c in cats]
        relations = [
            suppression.Relation(tuple(("d", code) for code in c.members), ("g", c.code))
            for c in cats
        ] + [suppression.Relation(tuple(groups), TOTAL)]
        return leaves + groups + [TOTAL], relations
    leaves = [("v", c.code) for c in cats]
    return leaves + [TOTAL], [suppression.Relation(tuple(leaves), TOTAL)]


def _leaf(dimension: Dimension, value: str):
    if dimension.hierarchical:
        return ("d", value)
    return ("v", value)


def _node_counts(dimension: Dimension, nodes: list, data: dict) -> dict:
    out = dict.fromkeys(nodes, 0)
    for (value,), n in _values(data, dimension.column).items():
        out[_leaf(dimension, value)] = out.get(_leaf(dimension, value), 0) + n
        if dimension.hierarchical:
            group = ("g", GROUP_OF_DIAGNOSIS.get(value, "not_given"))
            out[group] = out.get(group, 0) + n
        out[TOTAL] += n
    return out


@lru_cache(maxsize=256)
def _protect_margin_cached(dimension_key: str, frozen_counts: tuple) -> frozenset:
    dimension = DIMENSIONS[dimension_key]
    values = dict(frozen_counts)
    relations = _relations_for(dimension, list(values))
    return frozenset(
        suppression.protect(values, relations, fixed={TOTAL: suppression.is_small(values[TOTAL])})
    )


def _relations_for(dimension: Dimension, nodes: list) -> list[suppression.Relation]:
    leaves = [n for n in nodes if n != TOTAL and n[0] in ("d", "v")]
    if not dimension.hierarchical:
        return [suppression.Relation(tuple(leaves), TOTAL)]
    groups = [n for n in nodes if n != TOTAL and n[0] == "g"]
    relations = [
        suppression.Relation(
            tuple(n for n in leaves if GROUP_OF_DIAGNOSIS.get(n[1], "not_given") == g[1]), g
        )
        for g in groups
    ]
    return relations + [suppression.Relation(tuple(groups), TOTAL)]


def margin(dimension: Dimension, data: dict) -> tuple[list, dict, set]:
    """A dimension on its own: its figures, their counts and the hidden ones. The same for
    every table that shows this dimension's totals."""
    nodes, _ = _nodes(dimension, categories(dimension, data))
    values = _node_counts(dimension, nodes, data)
    values = {n: values.get(n, 0) for n in nodes}
    key = "diagnosis" if dimension.hierarchical else dimension.key
    hidden = _protect_margin_cached(key, tuple(sorted(values.items(), key=lambda kv: str(kv[0]))))
    return nodes, values, set(hidden)


# --- Tables ------------------------------------------------------------------------------


@dataclass
class Cell:
    count: int | None
    hidden: str = ""  # "", "small" (1-4) or "complementary"

    @property
    def text(self) -> str:
        if self.hidden == "small":
            return "<5"
        if self.hidden:
            return ":"
        return str(self.count)

    def as_json(self) -> dict:
        return {"count": self.count, "suppressed": self.hidden or None}


def _cell(value: int, is_hidden: bool) -> Cell:
    if not is_hidden:
        return Cell(value)
    return Cell(None, "small" if suppression.is_small(value) else "complementary")


@dataclass
class Row:
    code: str
    label: str
    is_group: bool
    cells: list[Cell]
    total: Cell


@dataclass
class Table:
    rows_dimension: Dimension
    columns_dimension: Dimension | None
    columns: list[Category]
    rows: list[Row]
    column_totals: list[Cell]
    total: Cell

    @property
    def hidden_count(self) -> int:
        cells = [c for r in self.rows for c in [*r.cells, r.total]] + self.column_totals
        return sum(1 for c in cells if c.hidden)

    def as_json(self) -> dict:
        return {
            "rows": self.rows_dimension.key,
            "columns": self.columns_dimension.key if self.columns_dimension else None,
            "column_categories": [
                {"code": c.code, "label": c.label, "is_group": c.is_group} for c in self.columns
            ],
            "table": [
                {
                    "code": r.code,
                    "label": r.label,
                    "is_group": r.is_group,
                    "cells": [c.as_json() for c in r.cells],
                    "total": r.total.as_json(),
                }
                for r in self.rows
            ],
            "column_totals": [c.as_json() for c in self.column_totals],
            "total": self.total.as_json(),
        }


def _row_nodes(dimension: Dimension, cats: list[Category]) -> list[tuple]:
    """(node, code, label, is_group) in display order: for the diagnosis, each group then
    its diagnoses; a group of one WHO CNS5 type (glioblastoma, meningioma) is that
    diagnosis's row (the two figures are the same)."""
    if dimension.key == "diagnosis_group":
        return [(("g", c.code), c.code, c.label, True) for c in cats]
    if dimension.hierarchical:
        out = []
        for c in cats:
            codes = DIAGNOSIS_GROUPS[c.code][1]
            if len(codes) > 1:
                out.append((("g", c.code), c.code, c.label, True))
                out += [(("d", d), d, _diagnosis_label(d), False) for d in c.members]
            else:
                out.append((("g", c.code), codes[0], _diagnosis_label(codes[0]), False))
        return out
    return [(("v", c.code), c.code, c.label, False) for c in cats]


def crossed_counts(a: Dimension, b: Dimension, data: dict, a_nodes, b_nodes) -> dict:
    values = {(x, y): 0 for x in a_nodes for y in b_nodes}

    def up(dimension, value):
        nodes = [_leaf(dimension, value), TOTAL]
        if dimension.hierarchical:
            nodes.append(("g", GROUP_OF_DIAGNOSIS.get(value, "not_given")))
        return nodes

    for (va, vb), n in _values(data, a.column, b.column).items():
        for x in up(a, va):
            for y in up(b, vb):
                values[(x, y)] += n
    return values


def protect_crossed(a_relations, b_relations, a_nodes, b_nodes, values, a_hidden, b_hidden):
    """The hidden cells of a crossed table, its totals fixed as the dimensions alone have
    them: each relation of one dimension holds in every column (row) of the other."""
    relations = [
        suppression.Relation(tuple((m, y) for m in r.members), (r.total, y))
        for r in a_relations
        for y in b_nodes
    ] + [
        suppression.Relation(tuple((x, m) for m in r.members), (x, r.total))
        for r in b_relations
        for x in a_nodes
    ]
    fixed = {(x, TOTAL): x in a_hidden for x in a_nodes}
    fixed |= {(TOTAL, y): y in b_hidden for y in b_nodes}
    return suppression.protect(values, relations, fixed=fixed)


def _crossed(a, b, data, a_nodes, b_nodes, a_hidden, b_hidden) -> tuple[dict, set]:
    """A crossed table's counts and hidden cells, always protected in one orientation (the
    dimensions' fixed order), so "sex by region" hides exactly what "region by sex" does:
    two patterns of the same table would together give away what each hides."""
    if a.column > b.column:
        values, hidden = _crossed(b, a, data, b_nodes, a_nodes, b_hidden, a_hidden)
        return {(x, y): n for (y, x), n in values.items()}, {(x, y) for y, x in hidden}
    values = crossed_counts(a, b, data, a_nodes, b_nodes)
    hidden = protect_crossed(
        _relations_for(a, a_nodes),
        _relations_for(b, b_nodes),
        a_nodes,
        b_nodes,
        values,
        a_hidden,
        b_hidden,
    )
    return values, hidden


def table(rows: str, columns: str = "") -> Table:
    """One dimension, or two crossed (rows x columns); worked out once per reading of the
    counts (a minute), as every request for it in that minute gets the same table."""
    data = counts()
    key = f"research:table:v1:{data['stamp']}:{rows}:{columns}"
    found = django_cache.get(key)
    if found is None:
        found = _table(data, rows, columns)
        django_cache.set(key, found, CUBE_SECONDS)
    return found


def _table(data: dict, rows: str, columns: str) -> Table:
    a = DIMENSIONS[rows]
    a_cats = categories(a, data)
    a_nodes, a_values, a_hidden = margin(a, data)
    display = _row_nodes(a, a_cats)
    if not columns:
        out_rows = [
            Row(code, label, grp, [], _cell(a_values[n], n in a_hidden))
            for n, code, label, grp in display
        ]
        return Table(a, None, [], out_rows, [], _cell(a_values[TOTAL], TOTAL in a_hidden))
    b = DIMENSIONS[columns]
    b_cats = categories(b, data)
    b_nodes, b_values, b_hidden = margin(b, data)
    values, hidden = _crossed(a, b, data, a_nodes, b_nodes, a_hidden, b_hidden)
    columns_b = _row_nodes(b, b_cats)
    leaves_b = [n for n, _, _, _ in columns_b]
    out_rows = [
        Row(
            code,
            label,
            grp,
            [_cell(values[(n, y)], (n, y) in hidden) for y in leaves_b],
            _cell(values[(n, TOTAL)], (n, TOTAL) in hidden),
        )
        for n, code, label, grp in display
    ]
    return Table(
        a,
        b,
        [Category(code, label, is_group=grp) for _, code, label, grp in columns_b],
        out_rows,
        [_cell(values[(TOTAL, y)], (TOTAL, y) in hidden) for y in leaves_b],
        _cell(values[(TOTAL, TOTAL)], (TOTAL, TOTAL) in hidden),
    )


# --- The marker profile of a diagnosis ------------------------------------------------

MARKER_RESULTS = [(str(c), str(label)) for c, label in MarkerResult.choices] + [
    ("not_recorded", "Not recorded")
]


@dataclass
class MarkerRow:
    marker: str
    label: str
    cells: list[Cell]


def diagnosis_choices() -> list[tuple[str, str]]:
    data = counts()
    out = []
    for c in categories(DIMENSIONS["diagnosis"], data):
        out.append((c.code, c.label))
        if c.members != [c.code]:
            out += [(code, f"– {_diagnosis_label(code)}") for code in c.members]
    return out


def marker_profile(diagnosis: str) -> tuple[Cell, list[MarkerRow]] | None:
    """The profile, worked out once per reading of the counts (see _marker_profile)."""
    data = counts()
    key = f"research:profile:v1:{data['stamp']}:{diagnosis}"
    found = django_cache.get(key)
    if found is None:
        found = _marker_profile(data, diagnosis) or "none"
        django_cache.set(key, found, CUBE_SECONDS)
    return None if found == "none" else found


def _marker_profile(data: dict, diagnosis: str) -> tuple[Cell, list[MarkerRow]] | None:
    """For a diagnosis or a group: per marker, how many episodes have each result. Each
    marker is a table diagnosis x result, protected with the diagnosis totals fixed as the
    diagnosis table has them, so profiles of a group and of its diagnoses never give away
    together what each hides. None for a diagnosis no episode has."""
    a = DIMENSIONS["diagnosis"]
    a_nodes, a_values, a_hidden = margin(a, data)
    node = ("g", diagnosis) if ("g", diagnosis) in a_values else ("d", diagnosis)
    if node not in a_values:
        return None
    by_marker: dict[str, dict[str, int]] = {}
    for code, marker, result, n in data["markers"]:
        by_marker.setdefault(marker, {})
        by_marker[marker][(code or "", result)] = n
    leaves = [n for n in a_nodes if n != TOTAL and n[0] == "d"]
    result_nodes = [("v", code) for code, _ in MARKER_RESULTS]
    b_nodes = result_nodes + [TOTAL]
    b_relation = [suppression.Relation(tuple(result_nodes), TOTAL)]
    out = []
    for marker, label in vocabulary.MARKERS.items():
        recorded = by_marker.get(marker, {})
        values = {(x, y): 0 for x in a_nodes for y in b_nodes}
        for leaf in leaves:
            code = leaf[1]
            row = {r: recorded.get((code, r), 0) for r, _ in MARKER_RESULTS[:-1]}
            row["not_recorded"] = a_values[leaf] - sum(row.values())
            group = ("g", GROUP_OF_DIAGNOSIS.get(code, "not_given"))
            for r, n in row.items():
                for x in (leaf, group, TOTAL):
                    values[(x, ("v", r))] += n
        for x in a_nodes:
            values[(x, TOTAL)] = a_values[x]
        b_values = {y: values[(TOTAL, y)] for y in b_nodes}
        b_hidden = suppression.protect(
            b_values, b_relation, fixed={TOTAL: suppression.is_small(b_values[TOTAL])}
        )
        del b_values
        hidden = protect_crossed(
            _relations_for(a, a_nodes), b_relation, a_nodes, b_nodes, values, a_hidden, b_hidden
        )
        out.append(
            MarkerRow(
                marker,
                label,
                [_cell(values[(node, y)], (node, y) in hidden) for y in result_nodes],
            )
        )
    return _cell(a_values[node], node in a_hidden), out


# --- Chart --------------------------------------------------------------------------------

PALETTE = ["#1f5f8b", "#e07b39", "#3f8f4f", "#a3417a", "#7a6a3a", "#5b5ea6", "#c0392b", "#2c8c99"]


def chart(t: Table, width: int = 640) -> dict:
    """Horizontal bars (stacked by the column categories when crossed) for the rows that
    are not groups' subtotals, drawn as SVG on the server. A hidden cell draws nothing; its
    row says so."""
    rows = [r for r in t.rows if not r.is_group or t.rows_dimension.key == "diagnosis_group"]
    label_width, bar_height, gap = 260, 16, 6
    largest = max([r.total.count or 0 for r in rows] + [1])
    scale = (width - label_width - 60) / largest
    bars = []
    for i, r in enumerate(rows):
        y = i * (bar_height + gap)
        segments, x = [], label_width
        parts = r.cells if t.columns_dimension else [r.total]
        for j, c in enumerate(parts):
            if c.count:
                w = c.count * scale
                segments.append(
                    {"x": f"{x:.1f}", "width": f"{w:.1f}", "fill": PALETTE[j % len(PALETTE)]}
                )
                x += w
        bars.append(
            {
                "label": r.label,
                "y": y,
                "text_y": y + bar_height - 4,
                "segments": segments,
                "value_x": f"{x + 4:.1f}",
                "value": r.total.text
                + (" (some hidden)" if any(c.hidden for c in r.cells) else ""),
            }
        )
    legend = [
        {"label": c.label, "fill": PALETTE[j % len(PALETTE)]} for j, c in enumerate(t.columns)
    ]
    return {
        "width": width,
        "height": len(rows) * (bar_height + gap) + 4,
        "bar_height": bar_height,
        "label_width": label_width - 6,
        "bars": bars,
        "legend": legend,
    }
