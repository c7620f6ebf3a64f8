"""The structured eligibility of a trial or arm: a versioned JSON tree of all/any/not
over typed criteria, its schema, its plain-language reading, and its three-valued
evaluation against one episode's register facts.

The shape follows MatchMiner's CTML match tree (and/or of typed leaves, negation explicit;
docs/trials-matching.md §1) with the register's own vocabulary (WHO CNS5 types, CNS WHO grade, the
register's markers) instead of OncoTree/genomic keys, which docs/trials-matching.md §1 shows lack
recurrence, performance status and MGMT. Verdicts are met / not met / unknown, TrialGPT's
criterion-level labels (docs/trials-matching.md §2): data missing in the register is unknown, never
not met, and the reason says what to record or test."""

import copy
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from operator import attrgetter, itemgetter

import jsonschema
from dateutil.relativedelta import relativedelta
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q

from registry import vocabulary
from registry.models import MolecularMarker, Surgery, SystemicTherapy

SCHEMA_VERSION = 1
MET, NOT_MET, UNKNOWN = "met", "not_met", "unknown"

REGIMENS = {**dict(SystemicTherapy.Regimen.choices), "radiotherapy": "Radiotherapy"}
EXTENTS = {k: v for k, v in Surgery.ExtentOfResection.choices if k != "unknown"}

_leaf = {"type": "object", "required": ["type"]}
LEAF_SCHEMAS = {
    "diagnosis": {
        "codes": {"type": "array", "minItems": 1, "items": {"enum": list(vocabulary.TUMOUR_TYPES)}}
    },
    "grade": {"grades": {"type": "array", "minItems": 1, "items": {"enum": [1, 2, 3, 4]}}},
    "marker": {
        "marker": {"enum": list(vocabulary.MARKERS)},
        "result": {"enum": ["altered", "wildtype"]},
    },
    "age": {
        "min_years": {"type": ["number", "null"], "minimum": 0, "maximum": 120},
        "max_years": {"type": ["number", "null"], "minimum": 0, "maximum": 120},
    },
    "sex": {"sex": {"enum": ["female", "male"]}},
    "performance": {
        "scale": {"enum": ["ecog", "karnofsky"]},
        "min": {"type": ["integer", "null"], "minimum": 0, "maximum": 100},
        "max": {"type": ["integer", "null"], "minimum": 0, "maximum": 100},
    },
    "setting": {
        "setting": {"enum": ["newly_diagnosed", "recurrent"]},
        "min_progressions": {"type": ["integer", "null"], "minimum": 1},
        "max_progressions": {"type": ["integer", "null"], "minimum": 1},
    },
    "prior_treatment": {"regimen": {"enum": list(REGIMENS)}},
    "radiotherapy_ended": {"min_weeks": {"type": "integer", "minimum": 1, "maximum": 520}},
    "resection": {"extents": {"type": "array", "minItems": 1, "items": {"enum": list(EXTENTS)}}},
}
REQUIRED = {
    "diagnosis": ["codes"],
    "grade": ["grades"],
    "marker": ["marker", "result"],
    "age": [],
    "sex": ["sex"],
    "performance": ["scale"],
    "setting": ["setting"],
    "prior_treatment": ["regimen"],
    "radiotherapy_ended": ["min_weeks"],
    "resection": ["extents"],
}

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
                        "required": ["type", *REQUIRED[kind]],
                        "additionalProperties": False,
                        "properties": {"type": {"const": kind}, **props},
                    }
                    for kind, props in LEAF_SCHEMAS.items()
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
        low, high = _bounds(leaf)
        if low is not None and high is not None and low > high:
            raise ValidationError(
                {
                    field: f"The {leaf['type'].replace('_', ' ')} criterion's lower bound "
                    f"({low}) is above its upper bound ({high})."
                }
            )
        if leaf["type"] == "performance":
            top = 5 if leaf["scale"] == "ecog" else 100
            if any(v is not None and v > top for v in (low, high)):
                raise ValidationError({field: f"{leaf['scale'].upper()} runs 0-{top}."})
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


def _years(value) -> str:
    return f"{number(value)}"


def contradictions(*nodes) -> list[str]:
    """Why the criteria (the trial's and, for an arm, the arm's, which are ANDed) can
    never be met by anyone, naming the conflicting criteria; [] when they can. Checked:
    disjoint age ranges, a marker required both present and wildtype (or both required
    and excluded), diagnoses with nothing in common, and grades the chosen diagnoses do
    not have (WHO CNS5 grades per type, registry.vocabulary)."""
    required = [pair for node in nodes for pair in _required(node)]
    problems = []
    ages = [leaf for leaf, negated in required if leaf["type"] == "age" and not negated]
    lows = [(leaf["min_years"], leaf) for leaf in ages if leaf.get("min_years") is not None]
    highs = [(leaf["max_years"], leaf) for leaf in ages if leaf.get("max_years") is not None]
    if lows and highs:
        low, low_leaf = max(lows, key=lambda x: x[0])
        high, high_leaf = min(highs, key=lambda x: x[0])
        if low > high:
            problems.append(
                f'The age criteria cannot all hold: "{describe_leaf(low_leaf)}" and '
                f'"{describe_leaf(high_leaf)}" have no age in common.'
            )
    wanted: dict = {}
    for leaf, negated in required:
        if leaf["type"] != "marker":
            continue
        result = leaf["result"]
        if negated:  # "not present" alone allows wildtype or untested: only a conflict
            result = "not " + result  # with the same result required
        wanted.setdefault(leaf["marker"], {})[result] = (leaf, negated)
    for marker, results in wanted.items():
        label = vocabulary.MARKERS[marker]
        for first, second in (
            ("altered", "wildtype"),
            ("altered", "not altered"),
            ("wildtype", "not wildtype"),
        ):
            if first in results and second in results:
                problems.append(
                    f'{label} is required both as "{describe_leaf(results[first][0])}" and '
                    f'as "{describe_leaf(*results[second])}": no patient has both.'
                )
                break
    diagnosis_sets = [
        set(leaf["codes"])
        for leaf, negated in required
        if leaf["type"] == "diagnosis" and not negated
    ]
    excluded = {
        code
        for leaf, negated in required
        if leaf["type"] == "diagnosis" and negated
        for code in leaf["codes"]
    }
    if diagnosis_sets:
        allowed = set.intersection(*diagnosis_sets) - excluded
        if not allowed:
            problems.append(
                "The diagnosis criteria have no diagnosis in common"
                + (" once the excluded ones are taken away" if excluded else "")
                + "."
            )
        else:
            possible = {g for code in allowed for g in vocabulary.TUMOUR_TYPES[code].grades}
            for leaf, negated in required:
                if leaf["type"] != "grade" or negated:
                    continue
                if not possible.intersection(leaf["grades"]):
                    names = " or ".join(vocabulary.TUMOUR_TYPES[c].label for c in sorted(allowed))
                    have = ", ".join(map(str, sorted(possible))) or "none"
                    problems.append(
                        f'"{describe_leaf(leaf)}" is not a grade of {names} (CNS WHO grades '
                        f"{have}, WHO Classification of CNS Tumours, 5th ed.)."
                    )
    return problems


def number(value):
    """A bound as entered: 18, not 18.0 (a whole number stays an int; JSON has one type)."""
    if value is None:
        return None
    as_float = float(value)
    return int(as_float) if as_float.is_integer() else as_float


BOUNDS = {
    "age": ("min_years", "max_years"),
    "performance": ("min", "max"),
    "setting": ("min_progressions", "max_progressions"),
}


def _bounds(leaf) -> tuple:
    keys = BOUNDS.get(leaf["type"])
    return (leaf.get(keys[0]), leaf.get(keys[1])) if keys else (None, None)


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

ORDINAL = {1: "first", 2: "second", 3: "third", 4: "fourth"}


def _span(low, high, unit="") -> str:
    low, high = (number(v) if isinstance(v, float) else v for v in (low, high))
    if low is not None and high is not None:
        return f"{low}-{high}{unit}" if low != high else f"{low}{unit}"
    if low is not None:
        return f"≥ {low}{unit}"
    return f"≤ {high}{unit}" if high is not None else "any"


def _marker_words(marker: str, result: str) -> str:
    """A marker's result in its own words (registry.vocabulary: MGMT methylated, 1p/19q
    codeleted); the wildtype side says "(negative)" explicitly, so a coordinator never reads a bare
    "wildtype" as a finding."""
    altered, wildtype = vocabulary.MARKER_RESULT_WORDS.get(marker, ("present", "wildtype"))
    return f"{wildtype} (negative)" if result == "wildtype" else altered


def describe_leaf(leaf, negated: bool = False) -> str:
    kind = leaf["type"]
    if kind == "diagnosis":
        text = " or ".join(vocabulary.TUMOUR_TYPES[c].label for c in leaf["codes"])
    elif kind == "grade":
        text = "CNS WHO grade " + " or ".join(map(str, leaf["grades"]))
    elif kind == "marker":
        label = vocabulary.MARKERS[leaf["marker"]]
        text = f"{label}: {_marker_words(leaf['marker'], leaf['result'])}"
    elif kind == "age":
        low, high = leaf.get("min_years"), leaf.get("max_years")
        units = {_age_unit(v)[0] for v in (low, high) if v is not None} or {"years"}
        if units == {"years"}:
            text = f"age {_span(low, high)} years"
        else:  # say a paediatric limit in the unit it was registered in
            said = [
                f"{_age_unit(v)[1]} {_age_unit(v)[0]}" if v is not None else None
                for v in (low, high)
            ]
            text = f"age {_span(*said)}"
    elif kind == "sex":
        text = leaf["sex"]
    elif kind == "performance":
        scale = "ECOG" if leaf["scale"] == "ecog" else "Karnofsky"
        text = f"{scale} {_span(leaf.get('min'), leaf.get('max'))}"
    elif kind == "setting":
        low, high = leaf.get("min_progressions"), leaf.get("max_progressions")
        if leaf["setting"] == "newly_diagnosed":
            text = "newly diagnosed"
        elif low and low == high:
            text = f"{ORDINAL.get(low, f'{low}th')} recurrence"
        else:
            text = "recurrent" + (
                f" ({_span(low or 1, high)} progressions)" if high or (low or 1) > 1 else ""
            )
    elif kind == "prior_treatment":
        text = f"prior {REGIMENS[leaf['regimen']].lower()}"
    elif kind == "radiotherapy_ended":
        text = f"≥ {leaf['min_weeks']} weeks since the end of radiotherapy"
    else:  # resection
        text = " or ".join(EXTENTS[e].lower() for e in leaf["extents"])
    if negated:
        return f"no {text}" if kind == "prior_treatment" else f"not {text}"
    return text


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


@dataclass
class Facts:
    """What the register says about one tumour episode, as the engine loads it in bulk."""

    episode_id: int
    patient_id: int
    diagnosis: str
    who_grade: int | None
    birth_date: date
    sex: str
    markers: dict  # marker -> result
    regimens: set
    radiotherapy_ends: list  # end dates; None for a course without one
    extent: str  # of the latest surgery; "" when none
    ecog: int | None  # latest assessment
    karnofsky: int | None
    follow_ups: int
    progressions: int


# ECOG <-> Karnofsky: the usual correspondence (Oken et al., Am J Clin Oncol 1982, as
# tabulated by ECOG-ACRIN; docs/trials-matching.md §4). A KPS maps to one ECOG grade, an
# ECOG grade to a KPS range.
KPS_TO_ECOG = {100: 0, 90: 0, 80: 1, 70: 1, 60: 2, 50: 2, 40: 3, 30: 3, 20: 4, 10: 4, 0: 5}
ECOG_TO_KPS = {0: (90, 100), 1: (70, 80), 2: (50, 60), 3: (30, 40), 4: (10, 20), 5: (0, 0)}


def _within(value, low, high) -> bool:
    return (low is None or value >= low) and (high is None or value <= high)


def _range_verdict(lo, hi, low, high):
    """A value known only as the range lo..hi against the bound low..high."""
    if _within(lo, low, high) and _within(hi, low, high):
        return MET
    if (high is not None and lo > high) or (low is not None and hi < low):
        return NOT_MET
    return UNKNOWN


@lru_cache(maxsize=256)
def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _age_unit(years: float) -> tuple[str, int]:
    """An age limit in the unit it was registered in: whole years, whole months, else
    days (ClinicalTrials.gov states "18 Years", "6 Months", "30 Days"; ctgov.age_in_years
    keeps them in years)."""
    if float(years).is_integer():
        return "years", int(years)
    months = years * 12
    if abs(months - round(months)) < 0.01:
        return "months", round(months)
    return "days", round(years * 365.25)


def age_cutoffs(low, high, today: date) -> tuple[date | None, date | None]:
    """(latest birth date meeting the minimum, earliest birth date *excluded* by the
    maximum). Limits are inclusive in their own unit, as ClinicalTrials.gov states them:
    "maximum 18 Years" holds until the day before the 19th birthday, "maximum 18 Months"
    until the day before 19 months. The SQL prefilter uses the same cutoffs."""

    def before(value, extra):
        unit, amount = _age_unit(value)
        if unit == "days":
            return today - relativedelta(days=amount + extra)
        return today - relativedelta(**{unit: amount + extra})

    latest = before(low, 0) if low is not None else None
    excluded = before(high, 1) if high is not None else None
    return latest, excluded


def _age_ok(low, high, birth: date, today: date) -> bool:
    latest, excluded = age_cutoffs(low, high, today)
    return (latest is None or birth <= latest) and (excluded is None or birth > excluded)


def evaluate_leaf(leaf, f: Facts, today: date) -> tuple[str, str, str]:
    """(verdict, register value used, reason)."""
    kind = leaf["type"]
    if kind == "diagnosis":
        label = (
            vocabulary.TUMOUR_TYPES[f.diagnosis].label
            if f.diagnosis in vocabulary.TUMOUR_TYPES
            else ""
        )
        if not f.diagnosis:
            return UNKNOWN, "not recorded", "Record the diagnosis."
        return (MET if f.diagnosis in leaf["codes"] else NOT_MET), label, ""
    if kind == "grade":
        if f.who_grade is None:
            return UNKNOWN, "not recorded", "Record the CNS WHO grade."
        return (MET if f.who_grade in leaf["grades"] else NOT_MET), f"grade {f.who_grade}", ""
    if kind == "marker":
        label = vocabulary.MARKERS[leaf["marker"]]
        result = f.markers.get(leaf["marker"], "not_tested")
        if result == "not_tested":
            return UNKNOWN, "not tested", f"{label} not tested: test {label}."
        if result == "inconclusive":
            return UNKNOWN, "inconclusive", f"{label} inconclusive: repeat the test."
        wanted = leaf["result"]
        said = _marker_words(leaf["marker"], result)
        reason = f"Requires {label} wildtype (negative)." if wanted == "wildtype" else ""
        return (MET if result == wanted else NOT_MET), said, reason
    if kind == "age":
        low, high = leaf.get("min_years"), leaf.get("max_years")
        years = age_on(f.birth_date, today)
        # Limits are inclusive, as ClinicalTrials.gov states them ("18 Years" to "70 Years":
        # from the 18th birthday until the day before the 71st). Fractional limits (months)
        # compare the exact date.
        return (MET if _age_ok(low, high, f.birth_date, today) else NOT_MET), f"{years} years", ""
    if kind == "sex":
        if f.sex not in ("female", "male"):
            return UNKNOWN, "not recorded", "Record the patient's sex."
        return (MET if f.sex == leaf["sex"] else NOT_MET), f.sex, ""
    if kind == "performance":
        low, high = leaf.get("min"), leaf.get("max")
        if leaf["scale"] == "ecog":
            if f.ecog is not None:
                return (MET if _within(f.ecog, low, high) else NOT_MET), f"ECOG {f.ecog}", ""
            if f.karnofsky is not None:
                ecog = KPS_TO_ECOG[f.karnofsky]
                return (
                    (MET if _within(ecog, low, high) else NOT_MET),
                    f"Karnofsky {f.karnofsky} (≈ ECOG {ecog})",
                    "",
                )
        else:
            if f.karnofsky is not None:
                return (
                    (MET if _within(f.karnofsky, low, high) else NOT_MET),
                    f"Karnofsky {f.karnofsky}",
                    "",
                )
            if f.ecog is not None:
                lo, hi = ECOG_TO_KPS[f.ecog]
                verdict = _range_verdict(lo, hi, low, high)
                return (
                    verdict,
                    f"ECOG {f.ecog} (≈ Karnofsky {lo}-{hi})",
                    ("Assess the Karnofsky score." if verdict == UNKNOWN else ""),
                )
        return UNKNOWN, "not recorded", "Record a performance status (ECOG or Karnofsky)."
    if kind == "setting":
        if not f.follow_ups:
            return UNKNOWN, "no follow-up recorded", "Record a follow-up (progression or not)."
        value = "newly diagnosed" if not f.progressions else f"{f.progressions} progression(s)"
        if leaf["setting"] == "newly_diagnosed":
            return (MET if f.progressions == 0 else NOT_MET), value, ""
        low, high = leaf.get("min_progressions") or 1, leaf.get("max_progressions")
        return (MET if _within(f.progressions, low, high) else NOT_MET), value, ""
    if kind == "prior_treatment":
        # The register lists what was given: once any treatment is recorded, no row for this
        # one means not given. With no treatment recorded at all the history is missing,
        # and missing data is unknown, never "not met" (docs/trials-matching.md §2).
        given = leaf["regimen"] in f.regimens
        label = REGIMENS[leaf["regimen"]].lower()
        if given:
            return MET, f"{label} recorded", ""
        if not f.regimens:
            return (
                UNKNOWN,
                "no treatment recorded",
                "Record the treatments given (radiotherapy, systemic therapy).",
            )
        return NOT_MET, f"no {label} recorded", ""
    if kind == "radiotherapy_ended":
        if not f.radiotherapy_ends:
            if not f.regimens:
                return (
                    UNKNOWN,
                    "no treatment recorded",
                    "Record the treatments given (radiotherapy, systemic therapy).",
                )
            return MET, "no radiotherapy recorded", ""
        if None in f.radiotherapy_ends:
            return UNKNOWN, "end date missing", "Record when radiotherapy ended."
        last = max(f.radiotherapy_ends)
        ok = today >= last + relativedelta(weeks=leaf["min_weeks"])
        # The value names the date, not "n weeks ago": it must not change every night,
        # or every match would be rewritten by the nightly run.
        return (MET if ok else NOT_MET), f"ended {last:%d.%m.%Y}", ""
    # resection
    if not f.extent or f.extent == "unknown":
        return UNKNOWN, "not recorded", "Record the extent of resection."
    return (
        (MET if f.extent in leaf["extents"] else NOT_MET),
        EXTENTS.get(f.extent, f.extent).lower(),
        "",
    )


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


# What each kind of leaf reads from the facts: evaluate_leaf's result depends on this key
# alone (for a given leaf and day), so it is worked out once per distinct key.
_LEAF_KEYS = {
    "diagnosis": lambda leaf, today: attrgetter("diagnosis"),
    "grade": lambda leaf, today: attrgetter("who_grade"),
    "marker": lambda leaf, today: lambda f, m=leaf["marker"]: f.markers.get(m),
    # Not the birth date itself (thousands of distinct ones): what the verdict depends on.
    "age": lambda leaf, today: _age_key(leaf.get("min_years"), leaf.get("max_years"), today),
    "sex": lambda leaf, today: attrgetter("sex"),
    "performance": lambda leaf, today: attrgetter("ecog", "karnofsky"),
    "setting": lambda leaf, today: lambda f: (not f.follow_ups, f.progressions),
    "prior_treatment": lambda leaf, today: (
        lambda f, r=leaf["regimen"]: (r in f.regimens, not f.regimens)
    ),
    "radiotherapy_ended": lambda leaf, today: (
        lambda f: (tuple(f.radiotherapy_ends), not f.regimens)
    ),
    "resection": lambda leaf, today: attrgetter("extent"),
}


def _age_key(low, high, today):
    by_birth: dict = {}
    latest, excluded = age_cutoffs(low, high, today)  # once per leaf and day, not per patient

    def key(f):
        found = by_birth.get(f.birth_date)
        if found is None:
            birth = f.birth_date
            ok = (latest is None or birth <= latest) and (excluded is None or birth > excluded)
            found = by_birth[birth] = (age_on(birth, today), ok)
        return found

    return key


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
            (_LEAF_KEYS[leaf["type"]](leaf, today), {}, leaf, negated)
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
    kind = node["type"]
    if kind == "diagnosis":
        q = Q(diagnosis__in=node["codes"])
        return ~q & ~Q(diagnosis="") if negated else q
    if kind == "grade":
        q = Q(who_grade__in=node["grades"])
        return (~q if negated else q) | Q(who_grade__isnull=True)
    if kind == "marker":
        other = "wildtype" if node["result"] == "altered" else "altered"
        blocking = node["result"] if negated else other
        return ~Exists(
            MolecularMarker.objects.filter(
                episode=OuterRef("pk"), marker=node["marker"], result=blocking
            )
        )
    if kind == "age" and not negated:
        q = Q()
        latest, excluded = age_cutoffs(node.get("min_years"), node.get("max_years"), today)
        if latest is not None:
            q &= Q(patient__birth_date__lte=latest)
        if excluded is not None:
            q &= Q(patient__birth_date__gt=excluded)
        return q
    if kind == "sex":
        return (
            ~Q(patient__sex=node["sex"])
            if negated
            else ~Q(patient__sex="female" if node["sex"] == "male" else "male")
        )
    return Q()
