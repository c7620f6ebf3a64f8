"""How well the eligibility readers suggest what a careful coordinator would encode:
precision and recall per criterion kind and overall against a labelled set, the share of
right suggestions whose span points at the words that justify them, and the time to read
200 trials. Used by `manage.py evaluate_suggestions PATH`.

A labelled trial is one JSON file: {"nct_id", "record": path of its ClinicalTrials.gov API
v2 record relative to the file (or "eligibility_text" and "arms" inline), "criteria":
[{"kind", "value", "polarity" (default include), "arms": [arm labels, or [] for the whole
trial], "words": [the words that justify it, as they stand in the text; optional]}],
"check_by_hand": [what the coordinator would leave to a human]}. A suggestion is right
when kind, value, polarity and arm all equal a labelled criterion's (one labelled
criterion per arm it names)."""

import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from . import ctgov, reading
from .criteria_readers import ANY_GATE, kind_readers


class LabelError(ValueError):
    """A label file that cannot be used; the message names the file and what is wrong."""


@dataclass
class Labelled:
    name: str
    text: str
    arms: list
    criteria: list  # [(key, words)]


def _value(kind: str, value: dict) -> str:
    leaf = {"type": kind, **{k: v for k, v in value.items() if v is not None and k != "type"}}
    return reading.canonical(leaf)


def load(path: Path) -> list[Labelled]:
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    if not files:
        raise LabelError(f"{path}: no label files (*.json).")
    out = []
    for file in files:
        try:
            label = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
            raise LabelError(f"{file.name}: not JSON ({error}).") from None
        if "eligibility_text" in label:
            text, arms = label["eligibility_text"], list(label.get("arms", []))
        elif "record" in label:
            record_path = (file.parent / label["record"]).resolve()
            try:
                record = json.loads(record_path.read_text(encoding="utf-8"))
                parsed = ctgov.parse_study(record)
            except (OSError, json.JSONDecodeError, ctgov.UnreadableRecord) as error:
                raise LabelError(f"{file.name}: record {label['record']}: {error}") from None
            text = parsed["fields"]["eligibility_text"]
            arms = [a["label"] for a in parsed["arms"]]
        else:
            raise LabelError(f"{file.name}: give 'record' or 'eligibility_text'.")
        criteria = []
        for i, c in enumerate(label.get("criteria", [])):
            try:
                key_value = _value(c["kind"], c["value"])
                words = c.get("words") or []
                words = words if isinstance(words, list) else [words]
                polarity = c.get("polarity", reading.INCLUDE)
            except (KeyError, TypeError, AttributeError) as error:
                raise LabelError(f"{file.name}: criteria[{i}]: missing {error}.") from None
            for w in words:
                if w not in text:
                    raise LabelError(f"{file.name}: criteria[{i}]: words {w!r} not in the text.")
            for arm in c.get("arms") or [None]:
                if arm is not None and arm not in arms:
                    raise LabelError(f"{file.name}: criteria[{i}]: no arm {arm!r} in the record.")
                criteria.append(((c["kind"], key_value, polarity, arm), words))
        out.append(Labelled(label.get("nct_id", file.stem), text, arms, criteria))
    return out


def suggested_keys(result: reading.Reading) -> list:
    """(key, start, end) per suggestion, one per arm it is stated for."""
    keys = []
    for f in result.findings:
        value = reading.canonical({k: v for k, v in f.value.items() if v is not None})
        for arm in f.arms or (None,):
            keys.append(((f.kind, value, f.polarity, arm), f.start, f.end))
    return keys


def _points_at(text: str, start: int, end: int, words: list) -> bool:
    for w in words:
        for m in re.finditer(re.escape(w), text):
            if m.start() < end and start < m.end():
                return True
    return False


@dataclass
class Scores:
    true_positive: Counter = field(default_factory=Counter)
    false_positive: Counter = field(default_factory=Counter)
    false_negative: Counter = field(default_factory=Counter)
    spans_right: int = 0
    spans_checked: int = 0
    misses: list = field(default_factory=list)  # (trial, key) not suggested
    wrong: list = field(default_factory=list)  # (trial, key, words) suggested, not labelled

    @staticmethod
    def _ratio(a: int, b: int) -> float | None:
        return a / b if b else None

    def precision(self, kind: str | None = None) -> float | None:
        tp = self.true_positive[kind] if kind else sum(self.true_positive.values())
        fp = self.false_positive[kind] if kind else sum(self.false_positive.values())
        return self._ratio(tp, tp + fp)

    def recall(self, kind: str | None = None) -> float | None:
        tp = self.true_positive[kind] if kind else sum(self.true_positive.values())
        fn = self.false_negative[kind] if kind else sum(self.false_negative.values())
        return self._ratio(tp, tp + fn)

    def span_share(self) -> float | None:
        return self._ratio(self.spans_right, self.spans_checked)


def evaluate(labelled: list[Labelled]) -> Scores:
    scores = Scores()
    readers = kind_readers()
    for trial in labelled:
        result = reading.read(trial.text, readers, trial.arms, gate=ANY_GATE)
        gold = dict(trial.criteria)
        seen = set()
        for key, start, end in suggested_keys(result):
            if key in seen:
                continue
            seen.add(key)
            kind = key[0]
            if key in gold:
                scores.true_positive[kind] += 1
                if gold[key]:  # labelled with its words: does the span point at them?
                    scores.spans_checked += 1
                    scores.spans_right += _points_at(trial.text, start, end, gold[key])
            else:
                scores.false_positive[kind] += 1
                scores.wrong.append((trial.name, key, trial.text[start:end]))
        for key in gold:
            if key not in seen:
                scores.false_negative[key[0]] += 1
                scores.misses.append((trial.name, key))
    return scores


def time_200(labelled: list[Labelled], trials: int = 200) -> tuple[float, float]:
    """Seconds to read `trials` eligibility texts (the set's, cycled), and the floor: one
    compiled regular expression scanned over the same texts (the bare library call)."""
    texts = [(t.text, t.arms) for t in labelled] or [("", [])]
    batch = [texts[i % len(texts)] for i in range(trials)]
    readers = kind_readers()
    started = time.perf_counter()
    for text, arms in batch:
        reading.read(text, readers, arms, gate=ANY_GATE)
    took = time.perf_counter() - started
    floor_pattern = re.compile(r"karnofsky|ecog|glioma|radiotherapy|bevacizumab|IDH|MGMT", re.I)
    started = time.perf_counter()
    for text, _ in batch:
        sum(1 for _ in floor_pattern.finditer(text))
    floor = time.perf_counter() - started
    return took, floor


def report(scores: Scores, took: float, floor: float, trials: int) -> list[str]:
    def pct(v):
        return "  n/a" if v is None else f"{v:5.2f}"

    kinds = sorted(
        set(scores.true_positive) | set(scores.false_positive) | set(scores.false_negative)
    )
    lines = [f"{'kind':<20} {'precision':>9} {'recall':>7} {'right':>6} {'wrong':>6} {'missed':>7}"]
    for kind in kinds:
        lines.append(
            f"{kind:<20} {pct(scores.precision(kind)):>9} {pct(scores.recall(kind)):>7} "
            f"{scores.true_positive[kind]:>6} {scores.false_positive[kind]:>6} "
            f"{scores.false_negative[kind]:>7}"
        )
    lines.append(
        f"{'overall':<20} {pct(scores.precision()):>9} {pct(scores.recall()):>7} "
        f"{sum(scores.true_positive.values()):>6} {sum(scores.false_positive.values()):>6} "
        f"{sum(scores.false_negative.values()):>7}"
    )
    lines.append(f"Spans pointing at the labelled words: {pct(scores.span_share())}")
    lines.append(
        f"Suggestions for {trials} trials: {took:.3f} s (floor, one regex over the same texts: "
        f"{floor:.3f} s)"
    )
    for name, key, words in scores.wrong:
        lines.append(
            f"  suggested, not labelled: {name} {key[0]} {key[1]} {key[2]} {key[3] or ''} "
            f"<- {words!r}"
        )
    for name, key in scores.misses:
        lines.append(f"  labelled, not suggested: {name} {key[0]} {key[1]} {key[2]} {key[3] or ''}")
    return lines
