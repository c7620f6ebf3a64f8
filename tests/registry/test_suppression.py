"""Small-cell suppression (registry.suppression), on tables worked out by hand, and checked
against an independent test of what an attacker can recover: for each hidden cell, try to
solve the shown figures' equations for it with NumPy's least squares and see whether two
different solutions exist (a cell is recoverable exactly when every solution agrees on it)."""

import itertools

import numpy as np

from registry.suppression import Relation, is_small, protect


def recoverable_by_attacker(counts: dict, relations: list[Relation], hidden: set) -> set:
    """Independent of the module: the hidden cells whose value is the same in every
    real solution of the equations that the shown figures give (null-space test by SVD)."""
    order = sorted(hidden, key=str)
    if not order:
        return set()
    rows = []
    for r in relations:
        row = [0.0] * len(order)
        for k in r.members:
            if k in hidden:
                row[order.index(k)] += 1
        if r.total is not None and r.total in hidden:
            row[order.index(r.total)] -= 1
        rows.append(row)
    matrix = np.array(rows) if rows else np.zeros((1, len(order)))
    _, s, vt = np.linalg.svd(matrix)
    null = vt[int((s > 1e-9).sum()) :]
    if null.shape[0] == 0:
        return set(order)
    return {k for k, col in zip(order, np.abs(null).max(axis=0) < 1e-9, strict=True) if col}


def two_way(table: list[list[int]]) -> tuple[dict, list[Relation]]:
    """A table with its row totals, column totals and grand total as cells."""
    counts, relations = {}, []
    rows, cols = len(table), len(table[0])
    for i, j in itertools.product(range(rows), range(cols)):
        counts[(i, j)] = table[i][j]
    for i in range(rows):
        counts[(i, "T")] = sum(table[i])
        relations.append(Relation(tuple((i, j) for j in range(cols)), (i, "T")))
    for j in range(cols):
        counts[("T", j)] = sum(table[i][j] for i in range(rows))
        relations.append(Relation(tuple((i, j) for i in range(rows)), ("T", j)))
    counts[("T", "T")] = sum(map(sum, table))
    relations.append(Relation(tuple((i, "T") for i in range(rows)), ("T", "T")))
    relations.append(Relation(tuple(("T", j) for j in range(cols)), ("T", "T")))
    return counts, relations


def test_counts_1_to_4_are_small_and_0_and_5_are_not():
    assert [is_small(n) for n in (0, 1, 4, 5, None)] == [False, True, True, False, False]


def test_one_hidden_cell_in_a_row_gets_the_smallest_non_zero_partner():
    # 3 + 0 + 7 + 12 = 22 shown: 3 alone would be 22 - 0 - 7 - 12. The 0 is no partner
    # (a hidden 0 and a 3 could be told apart from the bounds); 7 is the smallest other.
    counts = {"a": 3, "b": 0, "c": 7, "d": 12, "T": 22}
    relations = [Relation(("a", "b", "c", "d"), "T")]
    assert protect(counts, relations) == {"a", "c"}


def test_two_small_cells_protect_each_other():
    counts = {"a": 2, "b": 4, "c": 9, "T": 15}
    assert protect(counts, [Relation(("a", "b", "c"), "T")]) == {"a", "b"}


def test_a_small_total_is_hidden_and_so_are_its_cells():
    counts = {"a": 1, "b": 2, "T": 3}
    assert protect(counts, [Relation(("a", "b"), "T")]) == {"a", "b", "T"}


def test_two_way_table_rows_and_columns_each_get_a_second_hidden_cell():
    # 2 in (0,0): row 0 needs a partner (smallest non-zero: 6 at (0,1)); then column 1
    # has one hidden, so its smallest non-zero other (8 at (1,1)); then row 1 has one,
    # so (1,0) = 9; column 0 now has two. Worked by hand; the totals stay shown.
    table = [[2, 6, 10], [9, 8, 20], [11, 14, 30]]
    counts, relations = two_way(table)
    hidden = protect(counts, relations)
    assert hidden == {(0, 0), (0, 1), (1, 1), (1, 0)}
    assert recoverable_by_attacker(counts, relations, hidden) == set()


def test_the_rule_alone_leaves_a_cell_recoverable_and_the_exact_check_finds_it():
    # Two 2x2 blocks of hidden cells joined by one hidden cell (1,3): every row and column
    # has 0 or at least 2 hidden cells, so the classic rule is content, yet (1,3) follows
    # from the totals (it lies on no cycle of hidden cells: shifting values round a cycle
    # is the only freedom the totals leave). protect() must hide more.
    table = [[9] * 5 for _ in range(5)]
    counts, relations = two_way(table)
    blocks = {(0, 0), (0, 1), (1, 0), (1, 1), (3, 3), (3, 4), (4, 3), (4, 4)}
    linked = blocks | {(1, 3)}
    for relation in relations:
        assert sum(1 for k in relation.cells if k in linked) != 1
    assert recoverable_by_attacker(counts, relations, linked) == {(1, 3)}
    assert recoverable_by_attacker(counts, relations, blocks) == set()
    hidden = protect(counts, relations, primary=linked)
    assert hidden > linked
    assert recoverable_by_attacker(counts, relations, hidden) == set()


def test_fixed_margins_stay_as_given_and_inner_cells_protect_a_hidden_margin():
    # The row totals 8 and 15 are hidden by the one-way table of the rows (each protects
    # the other there): this table must neither show them nor let its cells, all 5 or
    # more, add up to them.
    table = [[5, 3 + 3], [10, 12], [6, 9]]
    counts, relations = two_way(table)
    fixed = {(0, "T"): True, (1, "T"): False, (2, "T"): True}
    fixed |= {("T", 0): False, ("T", 1): False, ("T", "T"): False}
    assert protect(counts, relations) == set()  # on its own nothing is small
    hidden = protect(counts, relations, fixed=fixed)
    assert {(0, "T"), (2, "T")} <= hidden
    assert len(hidden & {(0, 0), (0, 1)}) >= 1 and len(hidden & {(2, 0), (2, 1)}) >= 1
    assert not hidden & {k for k, hide in fixed.items() if not hide}
    assert recoverable_by_attacker(counts, relations, hidden) == set()


def test_random_tables_never_leave_a_recoverable_cell():
    rng = np.random.default_rng(20261201)
    for _ in range(60):
        rows, cols = rng.integers(2, 6), rng.integers(2, 6)
        table = rng.choice([0, 1, 2, 3, 4, 5, 7, 12, 30], size=(rows, cols)).tolist()
        counts, relations = two_way(table)
        hidden = protect(counts, relations)
        assert recoverable_by_attacker(counts, relations, hidden) == set(), table
        assert {k for k, v in counts.items() if is_small(v)} <= hidden
        # deterministic: the same counts give the same pattern
        assert protect(dict(reversed(list(counts.items()))), relations) == hidden
