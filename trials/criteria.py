"""The structured eligibility of a trial or arm: a versioned JSON tree of all/any/not
over typed criteria, its schema, its plain-language reading, and its three-valued
evaluation against one episode's register facts. The criteria themselves, one class per
kind, are in trials/criteria_kinds.py (KINDS); this module walks the tree.

The shape follows MatchMiner's CTML match tree (and/or of typed leaves, negation explicit;
docs/trials-matching.md §1) with the register's own vocabulary (WHO CNS5 types, CNS WHO grade, the
register's markers) instead of OncoTree/genomic keys, which docs/trials-matching.md §1 shows lack
recurrence, performance status and MGMT. Verdicts are met / not met / unknown, TrialGPT's
criterion-level labels (docs/trials-matching.md §2): data missing in the register is unknown, never
not met, and the reason says what to record or test."""

import copy
from datetime import date
from operator import itemgetter

import jsonschema
from django.core.exceptions import ValidationError
from django.db.models import Q

from .criteria_kinds import KINDS, MET, NOT_MET, UNKNOWN
from .facts import Facts

__all__ = ["MET", "NOT_MET", "UNKNOWN", "Facts"]  # re-exported: callers say criteria.MET

SCHEMA_VERSION = 1

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["version", "criteria"],
    "additionalProperties": False,
    "properties": {
        "version": {"const": SCHEMA_VERSION},
        "criteria": {"$ref": "#/$defs/node"},
        "check_by_hand": {
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": 1000},
        },
    },
    "$defs": {
        "node": {
            "oneOf": [
                {
                    "type": "object",
                    "required": ["all"],
                    "additionalProperties": False,
                    "properties": {"all": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
                },
                {
                    "type": "object",
                    "required": ["any"],
                    "additionalProperties": False,
                    "properties": {
                        "any": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/node"}}
                    },
                },
                {
                    "type": "object",
                    "required": ["not"],
                    "additionalProperties": False,
                    "properties": {"not": {"$ref": "#/$defs/node"}},
                },
                *[
                    {
                        "type": "object",
                        "required": ["type", *kind.required],
                        "additionalProperties": False,
                        "properties": {"type": {"const": kind.type}, **kind.schema},
                    }
                    for kind in KINDS.values()
                ],
            ]
        },
    },
}
_validator = jsonschema.Draft202012Validator(SCHEMA)


def empty_tree() -> dict:
    return {"version": SCHEMA_VERSION, "criteria": {"all": []}, "check_by_hand": []}


def validate(tree, *, field: str = "criteria") -> dict:
    """The tree as given, or ValidationError({field: what is wrong and where})."""
    errors = sorted(_validator.iter_errors(tree), key=lambda e: len(list(e.absolute_path)))
    if errors:
        error = jsonschema.exceptions.best_match(errors)
        where = "/".join(str(p) for p in error.absolute_path) or "top level"
        raise ValidationError(
            {
                field: f"Criteria (schema version {SCHEMA_VERSION}) invalid at {where}: "
                f"{error.message}"
            }
        )
    for leaf in leaves(tree["criteria"]):
        kind = KINDS[leaf["type"]]
        low, high = (leaf.get(key) for key in kind.bounds) if kind.bounds else (None, None)
        if low is not None and high is not None and low > high:
            raise ValidationError(
                {
                    field: f"The {leaf['type'].replace('_', ' ')} criterion's lower bound "
                    f"({low}) is above its upper bound ({high})."
                }
            )
        problem = kind.check(leaf)
        if problem:
            raise ValidationError({field: problem})
    problems = contradictions(tree["criteria"])
    if problems:
        raise ValidationError({field: " ".join(problems)})
    return tree


def _required(node, negated: bool = False):
    """(leaf, negated) of the leaves every matching patient must satisfy: those reached
    through all and not only (an any-of group's leaves are alternatives)."""
    if "all" in node:
        for child in node["all"]:
            yield from _required(child, negated)
    elif "not" in node:
        inner = node["not"]
        if "type" in inner:
            yield inner, not negated
    elif "type" in node and not negated:
        yield node, False


def contradictions(*nodes) -> list[str]:
    """Why the criteria (the trial's and, for an arm, the arm's, which are ANDed) can
    never be met by anyone, naming the conflicting criteria; [] when they can. Each kind
    says what conflicts among its leaves (Kind.conflicts: disjoint age ranges, a marker
    required both present and wildtype, diagnoses with nothing in common, grades the
    diagnoses do not have)."""
    required = [pair for node in nodes for pair in _required(node)]
    return [problem for kind in KINDS.values() for problem in kind.conflicts(required)]


def leaves(node):
    if "all" in node or "any" in node:
        for child in node.get("all", node.get("any", [])):
            yield from leaves(child)
    elif "not" in node:
        yield from leaves(node["not"])
    else:
        yield node


def diagnoses(tree) -> list[str]:
    """Diagnoses the criteria ask for (not negated ones), for the trial list's filter."""
    found = []

    def walk(node, negated):
        if "all" in node or "any" in node:
            for child in node.get("all", node.get("any", [])):
                walk(child, negated)
        elif "not" in node:
            walk(node["not"], not negated)
        elif node["type"] == "diagnosis" and not negated:
            found.extend(node["codes"])

    if tree:
        walk(tree["criteria"], False)
    return sorted(set(found))


# --- Plain language ----------------------------------------------------------------


def describe_leaf(leaf, negated: bool = False) -> str:
    return KINDS[leaf["type"]].text(leaf, negated)


def describe(node) -> str:
    """E.g. 'Glioblastoma, IDH-wildtype, recurrent (first recurrence), ECOG ≤ 1,
    no prior bevacizumab'."""
    if node is None:
        return "No structured criteria."
    if "criteria" in node:
        node = node["criteria"]
    if "all" in node:
        return ", ".join(describe(child) for child in node["all"]) or "no criteria"
    if "any" in node:
        return "(" + " or ".join(describe(child) for child in node["any"]) + ")"
    if "not" in node:
        inner = node["not"]
        return describe_leaf(inner, negated=True) if "type" in inner else f"not {describe(inner)}"
    return describe_leaf(node)


# --- Evaluation --------------------------------------------------------------------


def evaluate_leaf(leaf, f: Facts, today: date) -> tuple[str, str, str]:
    """(verdict, register value used, reason)."""
    return KINDS[leaf["type"]].evaluate(leaf, f, today)


NEGATE = {MET: NOT_MET, NOT_MET: MET, UNKNOWN: UNKNOWN}


def compile_labels(tree: dict) -> dict:
    """A copy of the tree whose leaves carry their plain-language text (both readings),
    so a run over many episodes builds each label once, not once per episode."""
    tree = copy.deepcopy(tree)
    for leaf in leaves(tree["criteria"]):
        leaf["_text"], leaf["_negated_text"] = (
            describe_leaf(leaf),
            describe_leaf(leaf, negated=True),
        )
    return tree


def evaluate(node, f: Facts, today: date, out: list, negated: bool = False) -> str:
    """Kleene's three-valued logic; appends one verdict row per leaf to `out`."""
    if "all" in node or "any" in node:
        results = [
            evaluate(child, f, today, out, negated) for child in node.get("all", node.get("any"))
        ]
        return _combine("all" in node, results)
    if "not" in node:
        return NEGATE[evaluate(node["not"], f, today, out, not negated)]
    verdict, value, reason = evaluate_leaf(node, f, today)
    out.append(verdict_row(node, negated, verdict, value, reason))
    return verdict


def _combine(is_all: bool, results: list) -> str:
    absorbing = NOT_MET if is_all else MET
    if absorbing in results:
        return absorbing
    return UNKNOWN if UNKNOWN in results else (MET if is_all else NOT_MET)


def verdict_row(leaf, negated: bool, verdict: str, value: str, reason: str) -> dict:
    shown = verdict
    if negated:  # the row reads as the negated criterion ("no prior bevacizumab": met)
        shown = NEGATE[verdict]
        reason = (
            reason + " " if reason else ""
        ) + "Negated criterion: the patient must NOT have this."
    text = leaf.get("_negated_text" if negated else "_text") or describe_leaf(leaf, negated)
    return {"criterion": text, "verdict": shown, "value": value, "reason": reason}


def _kleene(node, verdicts) -> str:
    """The node's verdict from its leaves' verdicts (an iterator, depth first)."""
    if "all" in node or "any" in node:
        return _combine(
            "all" in node, [_kleene(child, verdicts) for child in node.get("all", node.get("any"))]
        )
    if "not" in node:
        return NEGATE[_kleene(node["not"], verdicts)]
    return next(verdicts)


def _signed_leaves(node, negated: bool = False):
    """(leaf, negated) depth first: the order evaluate() lists the rows in."""
    if "all" in node or "any" in node:
        for child in node.get("all", node.get("any")):
            yield from _signed_leaves(child, negated)
    elif "not" in node:
        yield from _signed_leaves(node["not"], not negated)
    else:
        yield node, negated


class Compiled:
    """A criteria node prepared for checking many episodes on one day, with evaluate()'s
    verdict and rows: each leaf's row is built once per distinct value it reads (most
    episodes share them), and the node's verdict once per combination of leaf verdicts.

    many() gives each episode's verdict and its entries: one per row, in evaluate()'s
    order, each (leaf verdict, row, *extra(row)). Entries are shared between episodes
    and must not be mutated; `extra` precomputes what the caller derives from a row (a
    fingerprint piece, its JSON). Built per run: the day is fixed."""

    def __init__(self, node: dict, today: date, extra=lambda row: ()):
        self.node, self.today, self.row_extra = node, today, extra
        self.leaves = [
            (KINDS[leaf["type"]].key(leaf, today), {}, leaf, negated)
            for leaf, negated in _signed_leaves(node)
        ]
        self.verdicts: dict = {}

    def many(self, facts: list) -> tuple[list, list]:
        """For a list of episodes' facts: their verdicts, and one column of entries per
        leaf (row i of each column is episode i's). Column-wise, so the work per episode
        and leaf is a key lookup done by map() rather than a Python call."""
        columns = []
        for key_of, cache, leaf, negated in self.leaves:
            keys = list(map(key_of, facts))
            missing = set(keys).difference(cache)
            if missing:  # most keys were met before (earlier targets, earlier batches)
                for key, f in zip(keys, facts, strict=True):
                    if key in missing:
                        missing.discard(key)
                        verdict, value, reason = evaluate_leaf(leaf, f, self.today)
                        row = verdict_row(leaf, negated, verdict, value, reason)
                        cache[key] = (verdict, row, *self.row_extra(row))
                        if not missing:
                            break
            columns.append(list(map(cache.__getitem__, keys)))
        signatures = (
            list(zip(*[list(map(itemgetter(0), column)) for column in columns], strict=True))
            if columns
            else [()] * len(facts)
        )
        known = self.verdicts
        for signature in set(signatures).difference(known):
            known[signature] = _kleene(self.node, iter(signature))
        return list(map(known.__getitem__, signatures)), columns


# --- SQL prefilter -----------------------------------------------------------------


def prefilter(node, today: date, negated: bool = False) -> Q:
    """A Q over TumourEpisode true for every episode whose verdict may be met or unknown:
    it drops only episodes certain to fail. MatchMiner compiles CTML to database queries
    the same way (docs/trials-matching.md §1); the exact verdict is then worked out in Python."""
    if "all" in node or "any" in node:
        children = [prefilter(child, today, negated) for child in node.get("all", node.get("any"))]
        if not children:
            return Q()
        joined = Q()
        is_and = ("all" in node) != negated  # De Morgan under a negation
        if not is_and and any(c == Q() for c in children):
            return Q()
        for child in children:
            joined = (joined & child) if is_and else (joined | child if joined != Q() else child)
        return joined
    if "not" in node:
        return prefilter(node["not"], today, not negated)
    return KINDS[node["type"]].prefilter(node, today, negated)
