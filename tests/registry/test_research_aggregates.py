"""The research aggregates (/research/ and /api/v1/research/aggregates/): counts checked
against the episodes made here, small counts shown as "<5", and an attacker who asks
every table the API offers over the same register and solves the shown figures as one
linear system: no count that any table hides can be worked out, neither from one table's
margins nor from overlapping tables (diagnosis beside diagnosis group, one dimension
beside two crossed)."""

import itertools
from datetime import date

import numpy as np
import pytest

from consortium.models import Role
from registry.indicators import GROUP_OF_DIAGNOSIS
from tests.conftest import make_member, sign_in
from tests.registry.factories import clinician, fast_password_hashing, make_episode, make_patient

__all__ = ["fast_password_hashing"]

# (diagnosis, sex, health region) -> number of episodes. Worked so that there are small
# cells in every view: meningioma 1 in all; glioblastoma men 3; astrocytoma women 2.
COHORT = {
    ("glioblastoma_idh_wildtype", "female", "south_east"): 7,
    ("glioblastoma_idh_wildtype", "female", "west"): 5,
    ("glioblastoma_idh_wildtype", "male", "south_east"): 3,
    ("astrocytoma_idh_mutant", "female", "west"): 2,
    ("astrocytoma_idh_mutant", "male", "south_east"): 6,
    ("astrocytoma_idh_mutant", "male", "north"): 3,
    ("oligodendroglioma_idh_mutant_codeleted", "female", "central"): 6,
    ("oligodendroglioma_idh_mutant_codeleted", "male", "south_east"): 7,
    ("meningioma", "female", "west"): 1,
    ("pilocytic_astrocytoma", "male", "north"): 4,
    ("pxa", "female", "south_east"): 5,
}
GRADES = {
    "glioblastoma_idh_wildtype": 4,
    "astrocytoma_idh_mutant": 3,
    "oligodendroglioma_idh_mutant_codeleted": 2,
    "meningioma": 1,
    "pilocytic_astrocytoma": 1,
    "pxa": 2,
}


@pytest.fixture
def register(db):
    by = clinician("OUS")
    born = date(1960, 3, 1)
    for (diagnosis, sex, region), n in COHORT.items():
        for _ in range(n):
            patient = make_patient(by, birth_date=born, sex=sex, health_region=region)
            make_episode(
                patient,
                by,
                diagnosis_date=date(2024, 6, 1),
                diagnosis=diagnosis,
                who_grade=GRADES[diagnosis],
            )
    return by


@pytest.fixture
def researcher_api(client, db):
    sign_in(client, make_member(Role.RESEARCHER, institutions=("UIO-ICR",)))
    return client


def _get(client, rows, columns=""):
    response = client.get(
        "/api/v1/research/aggregates/", {"rows": rows, **({"columns": columns} if columns else {})}
    )
    assert response.status_code == 200, response.content
    return response.json()


def _count(cell):
    return cell["count"]


def test_one_dimension_counts_and_small_cells(register, researcher_api):
    table = _get(researcher_api, "diagnosis_group")
    rows = {r["code"]: r["total"] for r in table["table"]}
    # Groups: glioblastoma 15, astrocytoma 11, oligodendroglioma 13, meningiomas 1,
    # circumscribed astrocytic gliomas 4 + 5 = 9; total 49.
    assert table["total"] == {"count": 49, "suppressed": None}
    assert rows["glioblastoma_idh_wildtype"]["count"] == 15
    assert rows["oligodendroglioma_idh_mutant_codeleted"]["count"] == 13
    assert rows["meningiomas"] == {"count": None, "suppressed": "small"}
    # One small group alone would follow from the total: the smallest other non-zero
    # group (circumscribed, 9) is hidden too.
    assert rows["circumscribed_astrocytic_gliomas"] == {
        "count": None,
        "suppressed": "complementary",
    }
    assert rows["astrocytoma_idh_mutant"]["count"] == 11
    by_diagnosis = {r["code"]: r["total"] for r in _get(researcher_api, "diagnosis")["table"]}
    # Within the circumscribed group (pilocytic 4 + PXA 5 = 9) the 4 alone would follow
    # from the group's 9, and the group's relation is checked first: its smallest other
    # figure, PXA's 5, becomes the partner; only then does the groups' relation hide the
    # group itself as meningioma's partner.
    assert by_diagnosis["pilocytic_astrocytoma"]["suppressed"] == "small"
    assert by_diagnosis["pxa"] == {"count": None, "suppressed": "complementary"}
    assert by_diagnosis["meningioma"] == {"count": None, "suppressed": "small"}


def test_the_page_shows_the_same_table_with_a_chart(register, researcher_api):
    response = researcher_api.get("/research/", {"rows": "diagnosis", "columns": "sex"})
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="aggregate-table"' in body and "<svg" in body
    assert "&lt;5" in body
    assert ">49<" in body  # the grand total
    same = researcher_api.get("/research/", {"rows": "sex", "columns": "sex"})
    assert "Choose two different dimensions" in same.content.decode()


def test_bad_dimensions_are_refused_naming_the_field(researcher_api):
    response = researcher_api.get("/api/v1/research/aggregates/", {"rows": "name"})
    assert response.status_code == 400
    assert "rows" in response.json()["extra"]["fields"]
    response = researcher_api.get(
        "/api/v1/research/aggregates/", {"rows": "diagnosis", "columns": "diagnosis_group"}
    )
    assert response.status_code == 400
    assert "columns" in response.json()["extra"]["fields"]


def test_anonymous_visitors_get_no_aggregates(client, db):
    assert client.get("/api/v1/research/aggregates/").status_code in (401, 403)
    assert client.get("/research/").status_code == 302


# --- The attacker ------------------------------------------------------------------------

DIMENSION_OF = {"diagnosis": 0, "diagnosis_group": 0, "sex": 1, "region": 2}


def _leaf_of(dimension: str, cube_key: tuple) -> str:
    value = cube_key[DIMENSION_OF[dimension]]
    return GROUP_OF_DIAGNOSIS[value] if dimension == "diagnosis_group" else value


def _figures(table: dict):
    """(row code, column code or None, cell) of every figure in an API table; totals have
    code None."""
    columns = [c["code"] for c in table["column_categories"]]
    for row in table["table"]:
        for code, cell in zip(columns, row["cells"], strict=True):
            yield row, code, cell
        yield row, None, row["total"]
    for code, cell in zip(columns, table["column_totals"], strict=True):
        yield None, code, cell
    yield None, None, table["total"]


def _membership(table: dict, row, column, cube: list[tuple]) -> np.ndarray:
    """Which cube cells a figure adds up."""
    rows_dim, cols_dim = table["rows"], table["columns"]
    groups = {c["code"] for c in table["column_categories"] if c.get("is_group")}
    column_is_group = column in groups

    def matches(dimension, code, key, is_group):
        if code is None:
            return True
        if dimension == "diagnosis":  # a group's subtotal row, or a diagnosis
            return (GROUP_OF_DIAGNOSIS[key[0]] if is_group else key[0]) == code
        return _leaf_of(dimension, key) == code

    return np.array(
        [
            float(
                matches(rows_dim, row["code"] if row else None, key, row and row["is_group"])
                and (cols_dim is None or matches(cols_dim, column, key, column_is_group))
            )
            for key in cube
        ]
    )


def test_no_hidden_count_follows_from_every_table_asked_together(register, researcher_api):
    dimensions = ["diagnosis", "diagnosis_group", "sex", "region"]
    queries = [(d, "") for d in dimensions] + [
        (a, b)
        for a, b in itertools.permutations(dimensions, 2)
        if {a, b} != {"diagnosis", "diagnosis_group"}
    ]
    diagnoses = sorted({k[0] for k in COHORT})
    cube = list(
        itertools.product(diagnoses, ["female", "male"], ["south_east", "west", "central", "north"])
    )
    truth = np.array([COHORT.get(k, 0) for k in cube], dtype=float)
    shown, hidden = [], []
    for rows, columns in queries:
        table = _get(researcher_api, rows, columns)
        for row, column, cell in _figures(table):
            vector = _membership(table, row, column, cube)
            if cell["suppressed"]:
                hidden.append((rows, columns, row and row["code"], column, vector))
                if cell["suppressed"] == "small":
                    assert 1 <= vector @ truth <= 4
            else:
                assert cell["count"] == vector @ truth, (rows, columns, row, column)
                shown.append(vector)
    assert hidden, "the cohort has small cells"
    basis = _span(np.array(shown))
    for rows, columns, row, column, vector in hidden:
        # A hidden figure is recoverable when its vector is a combination of the shown
        # figures' vectors.
        assert not _in_span(basis, vector), (
            f"{rows} x {columns or '-'}: {row} / {column} can be worked out"
        )


def test_marker_profile_hides_small_counts_and_agrees_with_the_diagnosis_table(
    register, researcher_api
):
    response = researcher_api.get("/api/v1/research/markers/", {"diagnosis": "meningiomas"})
    assert response.status_code == 200
    profile = response.json()
    assert profile["episodes"] == {"count": None, "suppressed": "small"}
    idh = next(m for m in profile["markers"] if m["marker"] == "idh")
    assert {r["result"]: r["suppressed"] for r in idh["results"]}["not_recorded"] == "small"
    gbm = researcher_api.get(
        "/api/v1/research/markers/", {"diagnosis": "glioblastoma_idh_wildtype"}
    ).json()
    assert gbm["episodes"]["count"] == 15
    # No markers were recorded: every marker's "not recorded" is all 15.
    for marker in gbm["markers"]:
        counts = {r["result"]: r["count"] for r in marker["results"]}
        assert counts["not_recorded"] == 15 and counts["altered"] == 0
    assert (
        researcher_api.get("/api/v1/research/markers/", {"diagnosis": "ependymoma"}).status_code
        == 404
    )
    page = researcher_api.get("/research/markers/", {"diagnosis": "glioblastoma_idh_wildtype"})
    assert 'id="marker-table"' in page.content.decode()


def _attack(tables: list[dict], cube: list[tuple], truth: np.ndarray) -> list:
    shown, hidden = [], []
    for table in tables:
        for row, column, cell in _figures(table):
            vector = _membership(table, row, column, cube)
            if cell["suppressed"]:
                hidden.append(
                    (table["rows"], table["columns"], row and row["code"], column, vector)
                )
            else:
                assert cell["count"] == vector @ truth
                shown.append(vector)
    basis = _span(np.array(shown))
    return [h[:4] for h in hidden if _in_span(basis, h[4])]


def _span(system: np.ndarray) -> np.ndarray:
    """An orthonormal basis of the span of the shown figures' vectors."""
    _, s, vt = np.linalg.svd(system, full_matrices=False)
    return vt[: int((s > 1e-9 * s.max()).sum())]


def _in_span(basis: np.ndarray, vector: np.ndarray) -> bool:
    """Whether a figure follows from the shown ones: its vector's projection onto their
    span leaves nothing over."""
    return bool(np.linalg.norm(vector - basis.T @ (basis @ vector)) < 1e-6)


def test_random_registers_never_give_away_a_hidden_count(settings):
    """Many small registers (counts put straight into the cross-classification the
    tables are cut from), every table asked, solved together."""
    from django.core.cache import cache

    from registry import research_aggregates

    settings.CACHES = settings.CACHES  # the test's cache: cleared around each test
    rng = np.random.default_rng(1612)
    diagnoses = [
        "glioblastoma_idh_wildtype",
        "astrocytoma_idh_mutant",
        "meningioma",
        "pilocytic_astrocytoma",
        "pxa",
        "ependymoma_nos",
    ]
    sexes, regions = ["female", "male"], ["south_east", "west", "central", "north"]
    dimensions = ["diagnosis", "diagnosis_group", "sex", "region"]
    queries = [(d, "") for d in dimensions] + [
        (a, b)
        for a, b in itertools.permutations(dimensions, 2)
        if {a, b} != {"diagnosis", "diagnosis_group"}
    ]
    cube = list(itertools.product(diagnoses, sexes, regions))
    for trial in range(25):
        truth = rng.choice([0, 0, 1, 2, 3, 5, 8, 13], size=len(cube)).astype(float)
        rows = [
            ((d, "4", "2024", r, "60-69", s), int(n))
            for (d, s, r), n in zip(cube, truth, strict=True)
            if n
        ]
        cache.set("research:cube:v1", {"cube": rows, "stamp": trial}, 60)
        tables = [research_aggregates.table(a, b).as_json() for a, b in queries]
        assert _attack(tables, cube, truth) == [], f"trial {trial}"
