"""Small-cell suppression: the one implementation the quality indicators and the research
aggregates share.

A count of 1-4 is hidden (primary suppression: Statistics Norway's and the Cancer
Registry's practice of not publishing counts under 5,
https://www.ssb.no/en/omssb/tjenester-og-verktoy/data-til-forskning). A hidden count
must not follow from the figures that are shown: a table's rows add up to its totals,
so more cells are hidden until none can be worked out (secondary or complementary
suppression, OECD glossary https://stats.oecd.org/glossary/detail.asp?ID=4510;
Hundepool et al., Statistical Disclosure Control, Wiley 2012, ch. 4).

The caller describes its table as cells with counts and *relations*: the members of a
relation add up to its total (a cell of the same table, or a figure always shown). Two
passes:

1. the classic rule: a relation with exactly one hidden cell gets a second one (its
   smallest non-zero member that may be hidden; non-zero, so the hidden cells of a
   relation can always move against each other by at least one);
2. an exact check: the shown figures and the relations are a linear system, and a
   hidden cell is recoverable when the system fixes its value (its unit vector lies in
   the row space of the hidden cells' coefficients). Such a cell gets a further
   complementary cell and both passes repeat. The rule alone misses, for example, two
   blocks of hidden cells that share one cell.

Deterministic: the same counts always hide the same cells, so two requests for the same
table, or tables that share margins and are protected with those margins fixed, never
disagree about a cell (two different patterns of the same table would together reveal
what each hides)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass

SMALL_CELL = 5  # counts 1..4 are hidden


@dataclass(frozen=True)
class Relation:
    """`members` add up to `total`: a key of the table, or None when the total is a
    figure shown elsewhere (a known constant)."""

    members: tuple
    total: Hashable | None = None

    @property
    def cells(self) -> tuple:
        return self.members + ((self.total,) if self.total is not None else ())


def is_small(count: int | None) -> bool:
    return count is not None and 0 < count < SMALL_CELL


def protect(
    counts: dict,
    relations: Iterable[Relation],
    *,
    primary: Iterable | None = None,
    fixed: dict | None = None,
    rank: Callable | None = None,
) -> set:
    """The keys of `counts` to hide.

    primary: the cells hidden in their own right (default: the counts 1-4 that are not
        fixed).
    fixed: key -> True (must stay hidden) or False (must stay shown); used for margins
        another table already decided, so both tables show the same figure. Fixed
        cells are never picked as complements.
    rank: the order complements are picked in (smallest first); default: the count,
        then the key's text, so the choice never depends on dict order."""
    relations = [r for r in relations if len(r.cells) > 1]
    fixed = fixed or {}
    rank = rank or (lambda key: (counts[key], str(key)))
    if primary is None:
        primary = (k for k, v in counts.items() if is_small(v) and k not in fixed)
    hidden = set(primary) | {k for k, hide in fixed.items() if hide}

    def candidates(relation: Relation, *, zero_too=False) -> list:
        return sorted(
            (
                k
                for k in relation.cells
                if k not in hidden and k not in fixed and (zero_too or counts[k] > 0)
            ),
            key=rank,
        )

    while True:
        _classic_rule(relations, hidden, candidates)
        recoverable = _recoverable(relations, hidden)
        if not recoverable:
            return hidden
        added = False
        for key in sorted(recoverable, key=rank):
            around = [r for r in relations if key in r.cells]
            options = sorted(
                {k for r in around for k in candidates(r)}
                or {k for r in around for k in candidates(r, zero_too=True)},
                key=rank,
            )
            if options:
                hidden.add(options[0])
                added = True
                break
        if not added:
            # Nothing left that may be hidden next to it: the fixed figures themselves
            # tell the cell (the caller's margins disagree with its table).
            return hidden


def _classic_rule(relations, hidden: set, candidates) -> None:
    changed = True
    while changed:
        changed = False
        for relation in relations:
            if sum(1 for k in relation.cells if k in hidden) != 1:
                continue
            options = candidates(relation) or candidates(relation, zero_too=True)
            if options:
                hidden.add(options[0])
                changed = True


PRIME = 2**61 - 1  # elimination modulo a large prime: exact integers, no rounding


def _recoverable(relations, hidden: set) -> set:
    """The hidden cells whose value the relations and the shown cells fix: x_j is fixed
    exactly when e_j lies in the row space of the hidden cells' coefficients, i.e. when
    column j is a pivot of the reduced row echelon form and its row has nothing else.
    Gauss-Jordan elimination on sparse rows of small integers (BLAS is no help at this
    size, and its threads stall on a loaded machine)."""
    pivots: dict = {}  # pivot column -> its row (pivot 1, no other pivot column in it)
    for relation in relations:
        row: dict = {}
        for k in relation.members:
            if k in hidden:
                row[k] = (row.get(k, 0) + 1) % PRIME
        if relation.total is not None and relation.total in hidden:
            row[relation.total] = (row.get(relation.total, 0) - 1) % PRIME
        for column in [c for c in row if c in pivots]:
            factor = row.get(column, 0)
            if factor:
                for c, v in pivots[column].items():
                    row[c] = (row.get(c, 0) - factor * v) % PRIME
        row = {c: v for c, v in row.items() if v}
        if not row:
            continue
        column = min(row, key=str)
        inverse = pow(row[column], PRIME - 2, PRIME)
        row = {c: v * inverse % PRIME for c, v in row.items()}
        for other in pivots.values():
            factor = other.get(column)
            if factor:
                for c, v in row.items():
                    other[c] = (other.get(c, 0) - factor * v) % PRIME
                for c in [c for c, v in other.items() if not v]:
                    del other[c]
        pivots[column] = row
    return {column for column, row in pivots.items() if len(row) == 1}
