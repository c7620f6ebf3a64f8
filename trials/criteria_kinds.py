"""The criterion kinds: one class per kind of leaf in a trial's criteria tree, holding
everything about it in one place (its JSON schema, its plain-language reading, its
three-valued verdict against an episode's register facts, the facts it reads, its SQL
prefilter and its row in the criteria editor), registered in KINDS. The tree-level code
(trials/criteria.py), the engine and the editor iterate over KINDS; adding a kind is a
class here (docs/architecture.md, "How to add a criterion kind").

Verdicts are met / not met / unknown, TrialGPT's criterion-level labels
(docs/trials-matching.md §2): data missing in the register is unknown, never not met, and
the reason says what to record or test."""

from datetime import date
from functools import lru_cache
from operator import attrgetter

from dateutil.relativedelta import relativedelta
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q

from registry import vocabulary
from registry.models import MolecularMarker, Surgery, SystemicTherapy

from . import criteria_readers

MET, NOT_MET, UNKNOWN = "met", "not_met", "unknown"

KINDS: dict = {}  # leaf "type" -> Kind, in the editor's order


def register(cls):
    """Class decorator: the kind joins KINDS (its place in the editor: definition order)."""
    if cls.type in KINDS:
        raise ValueError(f"Two criterion kinds are called {cls.type!r}.")
    KINDS[cls.type] = cls()
    return cls


class Kind:
    """One kind of criterion. A leaf is a dict {"type": <type>, <the kind's keys>}."""

    type: str  # the leaf's "type"
    label: str  # the editor's name for it
    schema: dict = {}  # JSON-schema properties of the leaf's keys (besides "type")
    required: tuple = ()  # keys the leaf must have
    bounds: tuple | None = None  # (lower key, upper key): validate() refuses lower > upper
    reads: tuple = ()  # the Facts attributes evaluate() reads (engine.load_facts loads them)
    form_fields: dict = {}  # the editor row's fields this kind uses: name -> form field

    def describe(self, leaf) -> str:
        raise NotImplementedError

    def describe_negated(self, leaf) -> str:
        return f"not {self.describe(leaf)}"

    def text(self, leaf, negated: bool = False) -> str:
        return self.describe_negated(leaf) if negated else self.describe(leaf)

    def check(self, leaf) -> str | None:
        """What is wrong with a leaf the schema accepts (a rule JSON schema cannot state)."""
        return None

    def conflicts(self, required: list) -> list[str]:
        """Why criteria every matching patient must satisfy ((leaf, negated) of all kinds,
        reached through all/not only) can never hold together, for this kind's leaves."""
        return []

    def evaluate(self, leaf, f, today: date) -> tuple[str, str, str]:
        """(verdict, the register value used, reason: what to record or test)."""
        raise NotImplementedError

    def key(self, leaf, today: date):
        """A function of the facts that evaluate()'s result depends on alone (for this leaf
        and day): the compiled judges work a row out once per distinct key. By default
        the attributes read; a kind reading a set, list or dict must give its own."""
        return attrgetter(*self.reads)

    def prefilter(self, leaf, today: date, negated: bool) -> Q:
        """A Q over TumourEpisode true for every episode whose verdict may be met or
        unknown (under `negated`: the negation's): it may drop only episodes certain to
        fail. Q() filters nothing."""
        return Q()

    def suggest(self, sentence) -> list:
        """This kind's criteria in one sentence of a registered eligibility text
        (trials/reading.Sentence), as trials/reading.Finding rows: the reader the
        suggested-criteria panel runs for this kind. A kind the text cannot state (age and
        sex come from the record's structured fields) reads nothing."""
        return []

    def from_form(self, data: dict) -> dict:
        """The leaf's keys from the editor row's cleaned data, or ValidationError naming
        the row's field."""
        return {}

    def to_form(self, leaf) -> dict:
        """The editor row's values of this kind's fields, for a leaf."""
        return {}


# --- Shared helpers ----------------------------------------------------------------


def number(value):
    """A bound as entered: 18, not 18.0 (a whole number stays an int; JSON has one type)."""
    if value is None:
        return None
    as_float = float(value)
    return int(as_float) if as_float.is_integer() else as_float


def _as_int(value):
    return None if value is None else int(value)


def _span(low, high, unit="") -> str:
    low, high = (number(v) if isinstance(v, float) else v for v in (low, high))
    if low is not None and high is not None:
        return f"{low}-{high}{unit}" if low != high else f"{low}{unit}"
    if low is not None:
        return f"≥ {low}{unit}"
    return f"≤ {high}{unit}" if high is not None else "any"


def _within(value, low, high) -> bool:
    return (low is None or value >= low) and (high is None or value <= high)


def _chosen(data: dict, name: str):
    if not data.get(name):
        raise ValidationError({name: f"Choose the {name.replace('_', ' ')} this criterion checks."})
    return data[name]


# The editor's "From"/"To": one pair of inputs for every kind with a range, so a row
# keeps its bounds when the kind is changed.
LOW = forms.DecimalField(
    label="From",
    required=False,
    min_value=0,
    max_digits=5,
    decimal_places=2,
    help_text="Age, score, progressions or weeks: the lower bound.",
    localize=False,
)
HIGH = forms.DecimalField(label="To", required=False, min_value=0, max_digits=5, decimal_places=2)
NO_TREATMENT = (
    UNKNOWN,
    "no treatment recorded",
    "Record the treatments given (radiotherapy, systemic therapy).",
)


# --- The kinds ---------------------------------------------------------------------


@register
class Diagnosis(Kind):
    """A WHO CNS5 tumour type (registry.vocabulary.TUMOUR_TYPES)."""

    type = "diagnosis"
    label = "Diagnosis (WHO CNS5)"
    schema = {
        "codes": {"type": "array", "minItems": 1, "items": {"enum": list(vocabulary.TUMOUR_TYPES)}}
    }
    required = ("codes",)
    reads = ("diagnosis",)
    # Checkboxes, not multi-selects: one click each, no ctrl-click.
    form_fields = {
        "diagnoses": forms.MultipleChoiceField(
            required=False,
            choices=[(k, t.label) for k, t in vocabulary.TUMOUR_TYPES.items()],
            widget=forms.CheckboxSelectMultiple,
        )
    }

    def describe(self, leaf):
        return " or ".join(vocabulary.TUMOUR_TYPES[c].label for c in leaf["codes"])

    def conflicts(self, required):
        allowed = allowed_diagnoses(required)
        if allowed is None or allowed:
            return []
        excluded = any(negated for leaf, negated in required if leaf["type"] == self.type)
        return [
            "The diagnosis criteria have no diagnosis in common"
            + (" once the excluded ones are taken away" if excluded else "")
            + "."
        ]

    def evaluate(self, leaf, f, today):
        if not f.diagnosis:
            return UNKNOWN, "not recorded", "Record the diagnosis."
        tumour = vocabulary.TUMOUR_TYPES.get(f.diagnosis)
        label = tumour.label if tumour else ""
        return (MET if f.diagnosis in leaf["codes"] else NOT_MET), label, ""

    def prefilter(self, leaf, today, negated):
        q = Q(diagnosis__in=leaf["codes"])
        return ~q & ~Q(diagnosis="") if negated else q

    def suggest(self, sentence) -> list:
        return criteria_readers.read_diagnosis(sentence)  # its vocabulary and patterns

    def from_form(self, data):
        return {"codes": _chosen(data, "diagnoses")}

    def to_form(self, leaf):
        return {"diagnoses": leaf["codes"]}


def allowed_diagnoses(required) -> set | None:
    """The diagnoses the required diagnosis criteria leave (None: none is required)."""
    positive = [
        set(leaf["codes"])
        for leaf, negated in required
        if leaf["type"] == "diagnosis" and not negated
    ]
    if not positive:
        return None
    excluded = {
        code
        for leaf, negated in required
        if leaf["type"] == "diagnosis" and negated
        for code in leaf["codes"]
    }
    return set.intersection(*positive) - excluded


@register
class Grade(Kind):
    """A CNS WHO grade, 1-4 (WHO Classification of CNS Tumours, 5th ed.)."""

    type = "grade"
    label = "CNS WHO grade"
    schema = {"grades": {"type": "array", "minItems": 1, "items": {"enum": [1, 2, 3, 4]}}}
    required = ("grades",)
    reads = ("who_grade",)
    form_fields = {
        "grades": forms.TypedMultipleChoiceField(
            required=False,
            coerce=int,
            choices=[(g, g) for g in (1, 2, 3, 4)],
            widget=forms.CheckboxSelectMultiple,
        )
    }

    def describe(self, leaf):
        return "CNS WHO grade " + " or ".join(map(str, leaf["grades"]))

    def conflicts(self, required):
        """Grades the required diagnoses do not have (WHO CNS5 grades per type,
        registry.vocabulary)."""
        allowed = allowed_diagnoses(required)
        if not allowed:  # no diagnosis required, or none left (Diagnosis says so)
            return []
        possible = {g for code in allowed for g in vocabulary.TUMOUR_TYPES[code].grades}
        problems = []
        for leaf, negated in required:
            if leaf["type"] != self.type or negated or possible.intersection(leaf["grades"]):
                continue
            names = " or ".join(vocabulary.TUMOUR_TYPES[c].label for c in sorted(allowed))
            have = ", ".join(map(str, sorted(possible))) or "none"
            problems.append(
                f'"{self.describe(leaf)}" is not a grade of {names} (CNS WHO grades '
                f"{have}, WHO Classification of CNS Tumours, 5th ed.)."
            )
        return problems

    def evaluate(self, leaf, f, today):
        if f.who_grade is None:
            return UNKNOWN, "not recorded", "Record the CNS WHO grade."
        return (MET if f.who_grade in leaf["grades"] else NOT_MET), f"grade {f.who_grade}", ""

    def prefilter(self, leaf, today, negated):
        q = Q(who_grade__in=leaf["grades"])
        return (~q if negated else q) | Q(who_grade__isnull=True)

    def suggest(self, sentence) -> list:
        return criteria_readers.read_grade(sentence)  # its vocabulary and patterns

    def from_form(self, data):
        return {"grades": _chosen(data, "grades")}

    def to_form(self, leaf):
        return {"grades": leaf["grades"]}


def _marker_words(marker: str, result: str) -> str:
    """A marker's result in its own words (registry.vocabulary: MGMT methylated, 1p/19q
    codeleted); the wildtype side says "(negative)" explicitly, so a coordinator never reads a bare
    "wildtype" as a finding."""
    altered, wildtype = vocabulary.MARKER_RESULT_WORDS.get(marker, ("present", "wildtype"))
    return f"{wildtype} (negative)" if result == "wildtype" else altered


@register
class Marker(Kind):
    """A molecular marker altered (mutant, methylated, deleted) or wildtype."""

    type = "marker"
    label = "Molecular marker"
    schema = {
        "marker": {"enum": list(vocabulary.MARKERS)},
        "result": {"enum": ["altered", "wildtype"]},
    }
    required = ("marker", "result")
    reads = ("markers",)
    form_fields = {
        "marker": forms.ChoiceField(
            required=False, choices=[("", "—"), *vocabulary.MARKERS.items()]
        ),
        "marker_result": forms.ChoiceField(
            required=False,
            initial="altered",
            choices=[
                ("altered", "present (mutant/methylated/deleted)"),
                ("wildtype", "wildtype / negative"),
            ],
        ),
    }

    def describe(self, leaf):
        label = vocabulary.MARKERS[leaf["marker"]]
        return f"{label}: {_marker_words(leaf['marker'], leaf['result'])}"

    def conflicts(self, required):
        """A marker required both present and wildtype (or both required and excluded)."""
        wanted: dict = {}
        for leaf, negated in required:
            if leaf["type"] != self.type:
                continue
            result = leaf["result"]
            if negated:  # "not present" alone allows wildtype or untested: only a conflict
                result = "not " + result  # with the same result required
            wanted.setdefault(leaf["marker"], {})[result] = (leaf, negated)
        problems = []
        for marker, results in wanted.items():
            label = vocabulary.MARKERS[marker]
            for first, second in (
                ("altered", "wildtype"),
                ("altered", "not altered"),
                ("wildtype", "not wildtype"),
            ):
                if first in results and second in results:
                    problems.append(
                        f'{label} is required both as "{self.text(results[first][0])}" and '
                        f'as "{self.text(*results[second])}": no patient has both.'
                    )
                    break
        return problems

    def evaluate(self, leaf, f, today):
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

    def key(self, leaf, today):
        return lambda f, m=leaf["marker"]: f.markers.get(m)

    def prefilter(self, leaf, today, negated):
        other = "wildtype" if leaf["result"] == "altered" else "altered"
        blocking = leaf["result"] if negated else other
        return ~Exists(
            MolecularMarker.objects.filter(
                episode=OuterRef("pk"), marker=leaf["marker"], result=blocking
            )
        )

    def suggest(self, sentence) -> list:
        return criteria_readers.read_marker(sentence)  # its vocabulary and patterns

    def from_form(self, data):
        return {"marker": _chosen(data, "marker"), "result": data["marker_result"] or "altered"}

    def to_form(self, leaf):
        return {"marker": leaf["marker"], "marker_result": leaf["result"]}


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


@register
class Age(Kind):
    """Age on the day of matching, limits inclusive in their own unit, as
    ClinicalTrials.gov states them ("18 Years" to "70 Years": from the 18th birthday until
    the day before the 71st; "6 Months" compares the exact date)."""

    type = "age"
    label = "Age (years)"
    schema = {
        "min_years": {"type": ["number", "null"], "minimum": 0, "maximum": 120},
        "max_years": {"type": ["number", "null"], "minimum": 0, "maximum": 120},
    }
    bounds = ("min_years", "max_years")
    reads = ("birth_date",)
    form_fields = {"low": LOW, "high": HIGH}

    def describe(self, leaf):
        low, high = leaf.get("min_years"), leaf.get("max_years")
        units = {_age_unit(v)[0] for v in (low, high) if v is not None} or {"years"}
        if units == {"years"}:
            return f"age {_span(low, high)} years"
        said = [  # a paediatric limit in the unit it was registered in
            f"{_age_unit(v)[1]} {_age_unit(v)[0]}" if v is not None else None for v in (low, high)
        ]
        return f"age {_span(*said)}"

    def conflicts(self, required):
        """Disjoint age ranges."""
        ages = [leaf for leaf, negated in required if leaf["type"] == self.type and not negated]
        lows = [(leaf["min_years"], leaf) for leaf in ages if leaf.get("min_years") is not None]
        highs = [(leaf["max_years"], leaf) for leaf in ages if leaf.get("max_years") is not None]
        if lows and highs:
            low, low_leaf = max(lows, key=lambda x: x[0])
            high, high_leaf = min(highs, key=lambda x: x[0])
            if low > high:
                return [
                    f'The age criteria cannot all hold: "{self.describe(low_leaf)}" and '
                    f'"{self.describe(high_leaf)}" have no age in common.'
                ]
        return []

    def evaluate(self, leaf, f, today):
        latest, excluded = age_cutoffs(leaf.get("min_years"), leaf.get("max_years"), today)
        birth = f.birth_date
        ok = (latest is None or birth <= latest) and (excluded is None or birth > excluded)
        return (MET if ok else NOT_MET), f"{age_on(birth, today)} years", ""

    def key(self, leaf, today):
        """Not the birth date itself (thousands of distinct ones): what the verdict
        depends on, worked out once per birth date."""
        by_birth: dict = {}
        latest, excluded = age_cutoffs(leaf.get("min_years"), leaf.get("max_years"), today)

        def key(f):
            found = by_birth.get(f.birth_date)
            if found is None:
                birth = f.birth_date
                ok = (latest is None or birth <= latest) and (excluded is None or birth > excluded)
                found = by_birth[birth] = (age_on(birth, today), ok)
            return found

        return key

    def prefilter(self, leaf, today, negated):
        if negated:
            return Q()
        q = Q()
        latest, excluded = age_cutoffs(leaf.get("min_years"), leaf.get("max_years"), today)
        if latest is not None:
            q &= Q(patient__birth_date__lte=latest)
        if excluded is not None:
            q &= Q(patient__birth_date__gt=excluded)
        return q

    def from_form(self, data):
        low, high = data.get("low"), data.get("high")
        if low is None and high is None:
            raise ValidationError({"low": "Give a lower or an upper age limit (years)."})
        # As entered: 18 stays 18 (not 18.0), 0.5 (six months) stays 0.5.
        return {"min_years": number(low), "max_years": number(high)}

    def to_form(self, leaf):
        return {"low": leaf.get("min_years"), "high": leaf.get("max_years")}


@register
class Sex(Kind):
    type = "sex"
    label = "Sex"
    schema = {"sex": {"enum": ["female", "male"]}}
    required = ("sex",)
    reads = ("sex",)
    form_fields = {
        "sex": forms.ChoiceField(
            required=False, choices=[("", "—"), ("female", "female"), ("male", "male")]
        )
    }

    def describe(self, leaf):
        return leaf["sex"]

    def evaluate(self, leaf, f, today):
        if f.sex not in ("female", "male"):
            return UNKNOWN, "not recorded", "Record the patient's sex."
        return (MET if f.sex == leaf["sex"] else NOT_MET), f.sex, ""

    def prefilter(self, leaf, today, negated):
        if negated:
            return ~Q(patient__sex=leaf["sex"])
        return ~Q(patient__sex="female" if leaf["sex"] == "male" else "male")

    def from_form(self, data):
        return {"sex": _chosen(data, "sex")}

    def to_form(self, leaf):
        return {"sex": leaf["sex"]}


# ECOG <-> Karnofsky: the usual correspondence (Oken et al., Am J Clin Oncol 1982, as
# tabulated by ECOG-ACRIN; docs/trials-matching.md §4). A KPS maps to one ECOG grade, an
# ECOG grade to a KPS range.
KPS_TO_ECOG = {100: 0, 90: 0, 80: 1, 70: 1, 60: 2, 50: 2, 40: 3, 30: 3, 20: 4, 10: 4, 0: 5}
ECOG_TO_KPS = {0: (90, 100), 1: (70, 80), 2: (50, 60), 3: (30, 40), 4: (10, 20), 5: (0, 0)}


def _range_verdict(lo, hi, low, high):
    """A value known only as the range lo..hi against the bound low..high."""
    if _within(lo, low, high) and _within(hi, low, high):
        return MET
    if (high is not None and lo > high) or (low is not None and hi < low):
        return NOT_MET
    return UNKNOWN


@register
class Performance(Kind):
    """ECOG 0-5 or Karnofsky 0-100, the latest assessment; one scale read through the
    other when only that one was recorded."""

    type = "performance"
    label = "Performance status"
    schema = {
        "scale": {"enum": ["ecog", "karnofsky"]},
        "min": {"type": ["integer", "null"], "minimum": 0, "maximum": 100},
        "max": {"type": ["integer", "null"], "minimum": 0, "maximum": 100},
    }
    required = ("scale",)
    bounds = ("min", "max")
    reads = ("ecog", "karnofsky")
    form_fields = {
        "scale": forms.ChoiceField(
            required=False, initial="ecog", choices=[("ecog", "ECOG"), ("karnofsky", "Karnofsky")]
        ),
        "low": LOW,
        "high": HIGH,
    }

    def describe(self, leaf):
        scale = "ECOG" if leaf["scale"] == "ecog" else "Karnofsky"
        return f"{scale} {_span(leaf.get('min'), leaf.get('max'))}"

    def check(self, leaf):
        top = 5 if leaf["scale"] == "ecog" else 100
        if any(v is not None and v > top for v in (leaf.get("min"), leaf.get("max"))):
            return f"{leaf['scale'].upper()} runs 0-{top}."
        return None

    def evaluate(self, leaf, f, today):
        low, high = leaf.get("min"), leaf.get("max")
        if leaf["scale"] == "ecog":
            if f.ecog is not None:
                return (MET if _within(f.ecog, low, high) else NOT_MET), f"ECOG {f.ecog}", ""
            if f.karnofsky is not None:
                ecog = KPS_TO_ECOG[f.karnofsky]
                verdict = MET if _within(ecog, low, high) else NOT_MET
                return verdict, f"Karnofsky {f.karnofsky} (≈ ECOG {ecog})", ""
        else:
            if f.karnofsky is not None:
                verdict = MET if _within(f.karnofsky, low, high) else NOT_MET
                return verdict, f"Karnofsky {f.karnofsky}", ""
            if f.ecog is not None:
                lo, hi = ECOG_TO_KPS[f.ecog]
                verdict = _range_verdict(lo, hi, low, high)
                reason = "Assess the Karnofsky score." if verdict == UNKNOWN else ""
                return verdict, f"ECOG {f.ecog} (≈ Karnofsky {lo}-{hi})", reason
        return UNKNOWN, "not recorded", "Record a performance status (ECOG or Karnofsky)."

    def suggest(self, sentence) -> list:
        return criteria_readers.read_performance(sentence)  # its vocabulary and patterns

    def from_form(self, data):
        low, high = data.get("low"), data.get("high")
        if low is None and high is None:
            raise ValidationError(
                {"high": "Give the score range, e.g. ECOG to 1 or Karnofsky from 70."}
            )
        return {"scale": data["scale"] or "ecog", "min": _as_int(low), "max": _as_int(high)}

    def to_form(self, leaf):
        return {"scale": leaf["scale"], "low": leaf.get("min"), "high": leaf.get("max")}


ORDINAL = {1: "first", 2: "second", 3: "third", 4: "fourth"}


@register
class Setting(Kind):
    """Newly diagnosed or recurrent (optionally the how-manieth recurrence), counted from
    the follow-ups that record a progression."""

    type = "setting"
    label = "Disease setting"
    schema = {
        "setting": {"enum": ["newly_diagnosed", "recurrent"]},
        "min_progressions": {"type": ["integer", "null"], "minimum": 1},
        "max_progressions": {"type": ["integer", "null"], "minimum": 1},
    }
    required = ("setting",)
    bounds = ("min_progressions", "max_progressions")
    reads = ("follow_ups", "progressions")
    form_fields = {
        "setting": forms.ChoiceField(
            required=False,
            initial="newly_diagnosed",
            choices=[("newly_diagnosed", "newly diagnosed"), ("recurrent", "recurrent")],
        ),
        "low": LOW,
        "high": HIGH,
    }

    def describe(self, leaf):
        low, high = leaf.get("min_progressions"), leaf.get("max_progressions")
        if leaf["setting"] == "newly_diagnosed":
            return "newly diagnosed"
        if low and low == high:
            return f"{ORDINAL.get(low, f'{low}th')} recurrence"
        return "recurrent" + (
            f" ({_span(low or 1, high)} progressions)" if high or (low or 1) > 1 else ""
        )

    def evaluate(self, leaf, f, today):
        if not f.follow_ups:
            return UNKNOWN, "no follow-up recorded", "Record a follow-up (progression or not)."
        value = "newly diagnosed" if not f.progressions else f"{f.progressions} progression(s)"
        if leaf["setting"] == "newly_diagnosed":
            return (MET if f.progressions == 0 else NOT_MET), value, ""
        low, high = leaf.get("min_progressions") or 1, leaf.get("max_progressions")
        return (MET if _within(f.progressions, low, high) else NOT_MET), value, ""

    def key(self, leaf, today):
        return lambda f: (not f.follow_ups, f.progressions)

    def suggest(self, sentence) -> list:
        return criteria_readers.read_setting(sentence)  # its vocabulary and patterns

    def from_form(self, data):
        leaf = {"setting": data["setting"] or "newly_diagnosed"}
        if leaf["setting"] == "recurrent":
            leaf.update(
                min_progressions=_as_int(data.get("low")),
                max_progressions=_as_int(data.get("high")),
            )
        return leaf

    def to_form(self, leaf):
        return {
            "setting": leaf["setting"],
            "low": leaf.get("min_progressions"),
            "high": leaf.get("max_progressions"),
        }


# Given: the register's systemic regimens and radiotherapy. Tumour-treating fields, a device
# the register records with the systemic therapies, are a kind of their own (PriorTTFields):
# one way to say it.
REGIMENS = {
    **{
        k: v
        for k, v in SystemicTherapy.Regimen.choices
        if k != SystemicTherapy.Regimen.TTFIELDS.value
    },
    "radiotherapy": "Radiotherapy",
}


@register
class PriorTreatment(Kind):
    """A treatment given before (a systemic regimen, or radiotherapy)."""

    type = "prior_treatment"
    label = "Prior treatment"
    schema = {"regimen": {"enum": list(REGIMENS)}}
    required = ("regimen",)
    reads = ("regimens",)
    form_fields = {
        "regimen": forms.ChoiceField(required=False, choices=[("", "—"), *REGIMENS.items()])
    }

    def regimen(self, leaf) -> str:
        return leaf["regimen"]

    def treatment(self, leaf) -> str:
        return REGIMENS[leaf["regimen"]].lower()

    def describe(self, leaf):
        return f"prior {self.treatment(leaf)}"

    def describe_negated(self, leaf):
        return f"no prior {self.treatment(leaf)}"

    def evaluate(self, leaf, f, today):
        # The register lists what was given: once any treatment is recorded, no row for this
        # one means not given. With no treatment recorded at all the history is missing,
        # and missing data is unknown, never "not met" (docs/trials-matching.md §2).
        label = self.treatment(leaf)
        if self.regimen(leaf) in f.regimens:
            return MET, f"{label} recorded", ""
        if not f.regimens:
            return NO_TREATMENT
        return NOT_MET, f"no {label} recorded", ""

    def key(self, leaf, today):
        regimen = self.regimen(leaf)
        return lambda f: (regimen in f.regimens, not f.regimens)

    def suggest(self, sentence) -> list:
        return criteria_readers.read_prior_treatment(sentence)  # its vocabulary and patterns

    def from_form(self, data):
        return {"regimen": _chosen(data, "regimen")}

    def to_form(self, leaf):
        return {"regimen": leaf["regimen"]}


@register
class PriorTTFields(PriorTreatment):
    """Tumour-treating fields (TTFields, the Optune device) given before. EF-14 added them to
    maintenance temozolomide in newly diagnosed glioblastoma (Stupp et al., JAMA
    2017;318:2306-2316, https://doi.org/10.1001/jama.2017.18718), and glioma trials exclude
    patients who had them ("Tumor treating fields at any time", NCT05580562). Read from the
    register's systemic-therapy rows (regimen "ttfields") as any prior treatment is: none
    recorded among recorded treatments is not met, no treatment recorded at all is unknown."""

    type = "prior_ttfields"
    label = "Prior tumour-treating fields (TTFields)"
    schema = {}
    required = ()
    form_fields = {}

    def regimen(self, leaf):
        return SystemicTherapy.Regimen.TTFIELDS.value

    def suggest(self, sentence) -> list:
        return criteria_readers.read_prior_ttfields(sentence)  # the device's names

    def treatment(self, leaf):
        return "tumour-treating fields (TTFields)"

    def from_form(self, data):
        return {}

    def to_form(self, leaf):
        return {}


@register
class RadiotherapyEnded(Kind):
    """At least n weeks since the last radiotherapy course ended (no radiotherapy: met)."""

    type = "radiotherapy_ended"
    label = "Weeks since end of radiotherapy"
    schema = {"min_weeks": {"type": "integer", "minimum": 1, "maximum": 520}}
    required = ("min_weeks",)
    reads = ("radiotherapy_ends", "regimens")
    form_fields = {"low": LOW}

    def describe(self, leaf):
        return f"≥ {leaf['min_weeks']} weeks since the end of radiotherapy"

    def evaluate(self, leaf, f, today):
        if not f.radiotherapy_ends:
            return NO_TREATMENT if not f.regimens else (MET, "no radiotherapy recorded", "")
        if None in f.radiotherapy_ends:
            return UNKNOWN, "end date missing", "Record when radiotherapy ended."
        last = max(f.radiotherapy_ends)
        ok = today >= last + relativedelta(weeks=leaf["min_weeks"])
        # The value names the date, not "n weeks ago": it must not change every night,
        # or every match would be rewritten by the nightly run.
        return (MET if ok else NOT_MET), f"ended {last:%d.%m.%Y}", ""

    def key(self, leaf, today):
        return lambda f: (tuple(f.radiotherapy_ends), not f.regimens)

    def suggest(self, sentence) -> list:
        return criteria_readers.read_radiotherapy_ended(sentence)  # its vocabulary and patterns

    def from_form(self, data):
        if data.get("low") is None:
            raise ValidationError(
                {"low": "Give the least number of weeks since radiotherapy ended."}
            )
        return {"min_weeks": int(data["low"])}

    def to_form(self, leaf):
        return {"low": leaf["min_weeks"]}


EXTENTS = {k: v for k, v in Surgery.ExtentOfResection.choices if k != "unknown"}


@register
class Resection(Kind):
    """The extent of resection of the latest surgery."""

    type = "resection"
    label = "Extent of resection"
    schema = {"extents": {"type": "array", "minItems": 1, "items": {"enum": list(EXTENTS)}}}
    required = ("extents",)
    reads = ("extent",)
    form_fields = {
        "extents": forms.MultipleChoiceField(
            required=False, choices=list(EXTENTS.items()), widget=forms.CheckboxSelectMultiple
        )
    }

    def describe(self, leaf):
        return " or ".join(EXTENTS[e].lower() for e in leaf["extents"])

    def evaluate(self, leaf, f, today):
        if not f.extent or f.extent == "unknown":
            return UNKNOWN, "not recorded", "Record the extent of resection."
        verdict = MET if f.extent in leaf["extents"] else NOT_MET
        return verdict, EXTENTS.get(f.extent, f.extent).lower(), ""

    def suggest(self, sentence) -> list:
        return criteria_readers.read_resection(sentence)  # its vocabulary and patterns

    def from_form(self, data):
        return {"extents": _chosen(data, "extents")}

    def to_form(self, leaf):
        return {"extents": leaf["extents"]}


def form_fields() -> dict:
    """Every kind's editor fields, name -> field (a field shared by several kinds, e.g.
    From/To, once), those of one kind first, the shared ones last."""
    users: dict = {}
    fields: dict = {}
    for kind in KINDS.values():
        for name, field in kind.form_fields.items():
            if fields.setdefault(name, field) is not field:
                raise ValueError(f"Two different editor fields are called {name!r}.")
            users.setdefault(name, []).append(kind.type)
    return dict(sorted(fields.items(), key=lambda item: len(users[item[0]]) > 1))


def reads() -> set:
    """The Facts attributes some kind reads: what engine.load_facts loads."""
    return {name for kind in KINDS.values() for name in kind.reads}
