"""Reading a trial's registered eligibility text: the machinery every criterion kind's
reader shares, and the assembly of their findings into suggestions.

What is shared (not per kind): splitting the text into items and sentences with their
character offsets; which list an item is in (inclusion or exclusion, headed or not);
which arm or cohort it is stated for; negation and its scope; permission, hypothetical
and time-window modifiers; numbers written as words; comparison phrases; durations
converted to weeks; and whether the text is English at all.

Negation follows NegEx (Chapman WW et al. "A simple algorithm for identifying negated
findings and diseases in discharge summaries." J Biomed Inform 2001;34:301-310,
https://doi.org/10.1006/jbin.2001.1029) and its successor ConText (Harkema H et al.
"ConText: an algorithm for determining negation, experiencer, and temporal status from
clinical reports." J Biomed Inform 2009;42:839-851,
https://doi.org/10.1016/j.jbi.2009.05.002): trigger phrases before (or after) a finding
negate it up to a termination term or the end of the sentence, and pseudo-triggers
("no more than", "not only") negate nothing. ConText's other modifiers become our
"permitted" (an allowance, not a requirement: "prior bevacizumab is permitted"),
"hypothetical" ("eligible for surgery") and time-windowed mentions ("temozolomide within
the past 3 weeks"), which each reader treats as its kind needs.

ClinicalTrials.gov gives eligibility as one Markdown string ("Inclusion Criteria:",
bullet or numbered items, two-space nesting, backslash escapes:
https://clinicaltrials.gov/data-api/about-api/study-data-structure). Offsets always index
that string as stored, so a span highlights exactly the words it came from.

No library: negspacy, medspaCy and pyConTextNLP need a spaCy pipeline or model download,
and the triggers we need are a few dozen phrases (README, "Suggested criteria")."""

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

INCLUSION, EXCLUSION = "inclusion", "exclusion"
INCLUDE, EXCLUDE = "include", "exclude"


def text_hash(text: str) -> str:
    """What a suggestion was read from: a rejected one stays rejected, and a proposed one
    stays, only while the text is the same."""
    return hashlib.sha256((text or "").encode("utf-8")).hexdigest()


# --- Numbers written as words ----------------------------------------------------------

WORD_NUMBERS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "eighteen": 18, "twenty": 20,
    "twenty-four": 24, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90, "hundred": 100, "a": 1, "an": 1, "single": 1,
}  # fmt: skip
ORDINALS = {
    "first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4,
    "fifth": 5, "5th": 5,
}  # fmt: skip
_WORDS = "|".join(sorted((w for w in WORD_NUMBERS if w not in ("a", "an")), key=len, reverse=True))
# A number as digits or words ("12", "twelve", "twenty-four"); never "a"/"an" here, which
# only the duration pattern accepts ("a year").
NUMBER = rf"(?:\d+(?:[.,]\d+)?|(?:{_WORDS})\b)"
ORDINAL = r"(?:first|second|third|fourth|fifth|1st|2nd|3rd|4th|5th)"


def to_number(word: str) -> float | None:
    word = word.strip().lower()
    if word in WORD_NUMBERS:
        return WORD_NUMBERS[word]
    if word in ORDINALS:
        return ORDINALS[word]
    try:
        return float(word.replace(",", "."))
    except ValueError:
        return None


# --- Durations in weeks --------------------------------------------------------------

# A month is a twelfth of the Julian year (365.25 / 12 = 30.4375 days), as ClinicalTrials.gov
# converts its own "6 Months" ages (trials/ctgov.py). Rounded to the nearest week: "3 months"
# and "90 days" are both 13 weeks, which a coordinator can still edit.
DAYS_PER = {"day": 1, "week": 7, "month": 30.4375, "year": 365.25}
UNIT = r"(?:days?|weeks?|wks?|months?|mos?|years?|yrs?)"
DURATION = re.compile(
    rf"\b(?P<n>{NUMBER}|a|an)\s*(?:\(\s*\d+\s*\)\s*)?-?\s*(?P<unit>{UNIT})\b", re.I
)


def unit_of(word: str) -> str:
    word = word.lower()
    if word.startswith("d"):
        return "day"
    if word.startswith("w"):
        return "week"
    if word.startswith("mo"):
        return "month"
    return "year"


def to_weeks(amount: float, unit: str) -> int:
    """12 weeks -> 12; 3 months -> 13; 90 days -> 13; 1 year -> 52 (nearest week, half up)."""
    days = amount * DAYS_PER[unit_of(unit)]
    return int(days / 7 + 0.5)


# --- Comparisons ---------------------------------------------------------------------

# The comparison words of eligibility texts, with the backslash escapes of the registry's
# Markdown (\>=, \>/=) and the Unicode signs. Each maps to (">=", ">", "<=", "<").
_BS = r"\\?"
COMPARATORS = [
    (r"(?:greater|more|higher) than or equal to|at least|no less than|not less than|"
     r"minimum(?: of)?|a minimum of|≥|=>|" + _BS + r">\s*" + _BS + r"/?\s*=|" + _BS + r">=",
     ">="),
    (r"(?:less|lower|fewer) than or equal to|at most|no more than|not more than|"
     r"maximum(?: of)?|a maximum of|up to|≤|=<|" + _BS + r"<\s*" + _BS + r"/?\s*=|" + _BS
     + r"<=", "<="),
    (r"greater than|more than|higher than|above|over|exceeding|" + _BS + r">", ">"),
    (r"less than|lower than|fewer than|below|under|" + _BS + r"<", "<"),
]  # fmt: skip
COMPARATOR = "|".join(f"(?:{words})" for words, _ in COMPARATORS)
_COMPARATOR_RES = [(re.compile(rf"^(?:{words})$", re.I), op) for words, op in COMPARATORS]
# Words after a number that turn it into a bound: "60 or higher", "2 or less".
OR_MORE = (
    r"(?:%|percent)?\s*(?:or (?:more|higher|greater|above|better)|and (?:above|higher|over)|\+)"
)
OR_LESS = r"(?:%|percent)?\s*(?:or (?:less|lower|fewer|below|worse)|and (?:below|under))"


def comparator(words: str) -> str | None:
    words = re.sub(r"\s+", " ", words.strip())
    for pattern, op in _COMPARATOR_RES:
        if pattern.match(words):
            return op
    return None


def bounds(op: str, value: float, step: float = 1) -> tuple:
    """(low, high) inclusive from a comparison: '> 60' on a scale in steps of 10 is 70-."""
    if op == ">=":
        return value, None
    if op == ">":
        return value + step, None
    if op == "<=":
        return None, value
    return None, value - step


# --- Language ---------------------------------------------------------------------

# Function words per language: a registered text in another language is reported as not
# read rather than read wrongly (the vocabulary and triggers are English).
STOPWORDS = {
    "English": "the and of or with to in for be must have has not no at least prior patients "
    "criteria any who are is within by as on from an",
    "Norwegian": "og eller med til i for må ha har ikke ingen minst tidligere pasienter som er "
    "på av fra en et kriterier",
    "Swedish": "och eller med till i för måste ha har inte ingen minst tidigare patienter som "
    "är på av från en ett",
    "Danish": "og eller med til i for skal have har ikke ingen mindst tidligere patienter som "
    "er på af fra en et",
    "German": "und oder mit zu in für muss haben hat nicht kein keine mindestens vorherige "
    "patienten die der das ist von",
    "French": "et ou avec à dans pour doit avoir a pas aucun au moins antérieur patients les "
    "des est de du une",
    "Spanish": "y o con a en para debe tener tiene no ningún al menos previo pacientes los las "
    "es de del una",
    "Italian": "e o con a in per deve avere ha non nessun almeno precedente pazienti gli le è "
    "di del una",
    "Dutch": "en of met tot in voor moet hebben heeft niet geen minstens eerdere patiënten de "
    "het is van een",
}
_STOP = {lang: set(words.split()) for lang, words in STOPWORDS.items()}
_TOKEN = re.compile(r"[^\W\d_]+", re.UNICODE)


def language_of(text: str) -> str | None:
    """'English', another language's name, or None when too short to tell."""
    # The first 400 words tell the language as well as all of them.
    tokens = Counter(
        m.group(0).lower() for m, _ in zip(_TOKEN.finditer(text), range(400), strict=False)
    )
    if sum(tokens.values()) < 8:
        return None
    scores = {lang: sum(tokens[w] for w in words) for lang, words in _STOP.items()}
    best = max(scores, key=scores.get)
    if scores["English"] >= max(2, scores[best] * 0.8):
        return "English"
    return best if scores[best] >= 3 else None


# --- Items, sentences, sections ---------------------------------------------------------


@dataclass
class Sentence:
    """One sentence of one list item, with where it is in the whole text."""

    start: int
    end: int
    text: str
    section: str  # INCLUSION or EXCLUSION
    arms: tuple = ()  # labels of the arms it is stated for; () for the whole trial
    arm_words: str = ""  # the words that named them ("Cohort A1"), unresolved or not
    lead_negated: bool = False  # under "must not have any of the following:"
    lead: str = ""  # the open "...any of the following:" line it is listed under
    item: int = 0  # index of its list item (sentences of one item share it)

    @cached_property
    def lower(self) -> str:
        return self.text.lower()

    def absolute(self, start: int, end: int) -> tuple[int, int]:
        return self.start + start, self.start + end


_HEADING = re.compile(
    r"^\s*(?:\*\*)?(?P<head>[^\n:]{0,80}?\b(?P<which>inclusion|exclusion|eligibility|"
    r"exclusionary)\b(?:\s+criteria)?[^\n:]{0,120}?)(?::|$)(?:\*\*)?",
    re.I,
)
_BULLET = re.compile(
    r"^(?P<indent>[ \t]*)(?P<mark>(?:[*•·▪◦+-]{1,3}|\(?\d{1,2}[.)]|\(?[a-zA-Z][.)]|"
    r"\(?(?:i|ii|iii|iv|v|vi|vii|viii|ix|x)[.)])\s+)?"
)
# Sentence ends inside an item: ". " or "; " before a capital or a digit (not "e.g. ",
# "vs. ", "approx. ", "i.e. ").
_SENTENCE_END = re.compile(
    r"(?<!\be\.g)(?<!\bi\.e)(?<!\bvs)(?<!\bapprox)(?<!\bca)[.;]\s+(?=[A-Z0-9(\[])"
)
_NEGATED_LEAD = re.compile(
    r"\b(?:must not|may not|should not|cannot|can not|not have|none of|no(?:ne)?)\b.*:\s*$", re.I
)


def _heading(line: str):
    """(section or None, end of the heading in the line) when the line is a list heading."""
    m = _HEADING.match(line)
    if not m:
        return None, 0
    head = m.group("head")
    # A heading is short and says criteria (or is the bare word), not an item that
    # mentions an exclusion ("Patients excluded from ... ").
    if len(head.split()) > 14 or not re.search(
        r"criteri|^\W*(?:inclusion|exclusion)\W*$", head, re.I
    ):
        return None, 0
    which = m.group("which").lower()
    section = EXCLUSION if which.startswith("exclusion") else INCLUSION
    if which == "eligibility":
        section = INCLUSION
    return section, m.end()


ARM_WORD = r"(?:arms?|cohorts?|parts?|strat(?:um|a)|groups?|phases?|subgroups?)"
_ARM_REF = re.compile(
    rf"\b(?P<word>{ARM_WORD})\s+(?P<ids>[A-Z0-9]{{1,3}}[a-z]?(?:\s*(?:,\s*(?:and|or)?|and|or|&|/)\s*"
    rf"(?:{ARM_WORD}\s+)?[A-Z0-9]{{1,3}}[a-z]?)*)\b",
    re.I,
)


def _arm_key(word: str, ident: str) -> str:
    word = word.lower().rstrip("s")
    word = {"stratum": "strat", "strata": "strat", "subgroup": "group"}.get(word, word)
    word = "strat" if word.startswith("strat") else word
    return f"{word} {ident.lower()}"


@lru_cache(maxsize=4096)
def _arm_keys(label: str) -> frozenset:
    keys = set()
    for m in _ARM_REF.finditer(label):
        for ident in re.split(r"\s*(?:,\s*(?:and|or)?|and|or|&|/)\s*", m.group("ids")):
            ident = re.sub(rf"^{ARM_WORD}\s+", "", ident, flags=re.I)
            if ident:
                keys.add(_arm_key(m.group("word"), ident))
    return frozenset(keys)


def arm_scope(words: str, arms: list[str]) -> tuple[tuple, str]:
    """(labels of the arms the words name, the naming words) e.g. 'Cohort A1' in
    "Inclusion criteria specific to Cohort A1" -> (('Cohort A1: ALK-positive (alectinib
    arm)', ...), 'Cohort A1'). A reference naming every arm is the whole trial."""
    refs = list(_ARM_REF.finditer(words))
    if not refs:
        return (), ""
    wanted = set()
    for m in refs:
        for ident in re.split(r"\s*(?:,\s*(?:and|or)?|and|or|&|/)\s*", m.group("ids")):
            ident = re.sub(rf"^{ARM_WORD}\s+", "", ident, flags=re.I)
            if ident:
                wanted.add(_arm_key(m.group("word"), ident))
    said = ", ".join(m.group(0) for m in refs)
    # "Phase 2 and Phase 3" names the trial's phases, not arms, unless arms are named so.
    labels = tuple(label for label in arms if _arm_keys(label) & wanted)
    if labels and len(labels) == len(arms):
        return (), ""
    if not labels and all(k.startswith("phase ") for k in wanted):
        return (), ""
    return labels, said


# The prefix of an item that states its scope ("Part 1:", "Phase 3:", "For Cohort B,").
_SCOPE_PREFIX = re.compile(
    rf"^\W*(?:for\s+|in\s+)?(?:participants|patients|subjects)?\s*(?:in|of|enrolled in)?\s*"
    rf"(?P<scope>{ARM_WORD}\s+[^:,]{{1,60}}?)\s*(?:only)?\s*[:,)]",
    re.I,
)
_SCOPE_INLINE = re.compile(rf"\((?P<scope>(?:{ARM_WORD})\s+[^)]{{1,60}}?)(?:\s+only)?\)", re.I)


def split(text: str, arms: list[str] | None = None) -> list[Sentence]:
    """The text's sentences in order, each knowing its list, its arm scope and offsets.
    Before any heading, items count as inclusion (most records start with the inclusion
    list; a text without headings is a list of requirements)."""
    arms = arms or []
    sentences: list[Sentence] = []
    section, heading_arms, heading_words = INCLUSION, (), ""
    lead_stack: list[tuple[int, bool, str]] = []  # (indent, negated, text) of open leads
    item = 0
    offset = 0
    for line in text.splitlines(keepends=True):
        start_of_line = offset
        offset += len(line)
        body = line.rstrip("\r\n")
        if not body.strip():
            continue
        pos = 0
        found, heading_end = _heading(body)
        if found:
            section = found
            heading_arms, heading_words = arm_scope(body[:heading_end], arms)
            lead_stack.clear()
            pos = heading_end
            if not body[pos:].strip(" \t:*•"):
                continue
        m = _BULLET.match(body, pos)
        indent = len(m.group("indent").expandtabs(4)) if m else 0
        marked = bool(m and m.group("mark"))
        if marked or pos:
            item += 1
        content_start = m.end() if m else pos
        content = body[content_start:]
        # Leading whitespace and stray markers off the content.
        stripped = len(content) - len(content.lstrip(" \t•*-"))
        content_start += stripped
        content = body[content_start:].rstrip()
        if not content:
            continue
        while lead_stack and lead_stack[-1][0] >= indent and marked:
            lead_stack.pop()
        lead_negated = any(negated for _, negated, _ in lead_stack)
        lead = lead_stack[-1][2] if lead_stack else ""
        scope = _SCOPE_PREFIX.match(content) or _SCOPE_INLINE.search(content)
        item_arms, item_words = heading_arms, heading_words
        if scope:
            found_arms, said = arm_scope(scope.group("scope"), arms)
            if said:
                item_arms, item_words = found_arms, said
        pieces = []
        last = 0
        for end in _SENTENCE_END.finditer(content):
            pieces.append((last, end.start() + 1))
            last = end.end()
        pieces.append((last, len(content)))
        for a, b in pieces:
            piece = content[a:b]
            if not piece.strip():
                continue
            s = start_of_line + content_start + a
            sentences.append(
                Sentence(
                    start=s,
                    end=s + len(piece),
                    text=piece,
                    section=section,
                    arms=item_arms,
                    arm_words=item_words,
                    lead_negated=lead_negated,
                    lead=lead,
                    item=item,
                )
            )
        if content.endswith(":"):
            lead_stack.append((indent, bool(_NEGATED_LEAD.search(content)), content))
    return sentences


# --- Negation and the other modifiers (NegEx / ConText) -----------------------------------

_PSEUDO = (
    r"no more than|not more than|no less than|not less than|no later than|no sooner than|"
    r"not only|no change|no increase|not exceed(?:ing)?|no greater than|not greater than|"
    r"no fewer than|not fewer than|not necessarily|no longer than|not to exceed|"
    r"without (?:a |any )?(?:dose )?(?:increase|change)"
)
_PRE_NEGATION = (
    r"no|not|without|never|none|neither|nor|absence of|absent|free of|lack of|lacking|"
    r"must not|may not|should not|cannot|can ?not|unable to|no (?:prior|previous|history of)|"
    r"no evidence of|negative for|rule[sd]? out|exclud(?:e|es|ed|ing)"
)
_POST_NEGATION = (
    r"(?:is|are|will be|were|was)?\s*(?:not (?:allowed|permitted|eligible)|ineligible|"
    r"excluded|prohibited|not acceptable)"
)
_TERMINATION = (
    r"\bbut\b|\bhowever\b|\bexcept\b|\bapart from\b|\baside from\b|\balthough\b|"
    r"\bunless\b|\bother than\b|\bexcluding\b|[;:]|\bwhich\b|\bwho\b|\bprovided\b|\bif\b"
)
_PERMITTED = (
    r"(?:is|are|will be|may be|can be)\s+(?:allowed|permitted|acceptable|eligible|accepted)|"
    r"\ballowed\b|\bpermitted\b|\bmay have (?:had|received)\b|\bregardless of\b|"
    r"\bwith or without\b|\birrespective of\b|\bcan be included\b|\bor not\b"
)
_HYPOTHETICAL = (
    r"\b(?:eligible for|candidates? for|planned|scheduled|will (?:undergo|receive)|to undergo|"
    r"willing to|plan(?:s|ned)? to|intend(?:s|ed)? to|suitable for|amenable to|"
    r"fit for|decision for)\b"
)
_WINDOW = re.compile(
    rf"\bwithin\s+(?:the\s+)?(?:past|last|previous|prior)?\s*(?:{NUMBER}|a|an)?\s*{UNIT}|"
    rf"\b(?:in|during) the (?:past|last|previous) (?:{NUMBER}\s*)?{UNIT}|"
    rf"\b{NUMBER}\s*{UNIT} (?:prior to|before) (?:randomi[sz]ation|enrol(?:l)?ment|registration|"
    rf"study (?:entry|treatment|drug)|the first dose|day 1|start)",
    re.I,
)
# "Patients who received X must ...": a condition on some patients, not a requirement of all.
_CONDITIONAL_RE = re.compile(
    r"^\W*(?:if\b|(?:patients|participants|subjects|those)\s+(?:who|that|with\s+a\s+history)\s+"
    r"(?:have\s+|had\s+|has\s+)?(?:previously\s+)?(?:received|had|undergone|underwent|been))",
    re.I,
)
_PSEUDO_RE = re.compile(rf"\b(?:{_PSEUDO})\b", re.I)
_PRE_RE = re.compile(rf"(?<![\w-])(?:{_PRE_NEGATION})(?![\w])", re.I)
# A post-trigger right after the finding, or after a few words of it ("prior bevacizumab
# therapy are not eligible").
_POST_RE = re.compile(rf"^\W*(?:[\w-]+\W+){{0,3}}?(?:{_POST_NEGATION})\b", re.I)
_TERM_RE = re.compile(_TERMINATION, re.I)
_POST_ANYWHERE = re.compile(rf"\b(?:{_POST_NEGATION})\b", re.I)
_PERMITTED_RE = re.compile(_PERMITTED, re.I)
_HYPOTHETICAL_RE = re.compile(_HYPOTHETICAL, re.I)
_REQUIREMENT_RE = re.compile(
    r"\b(?:must|should|need to|needs to|required to)\s+(?:be|have)\b(?!\s+not)", re.I
)
# "non-methylated", "non-codeleted": a negation inside the finding's own word is its value.
_INWORD = re.compile(r"non-?$|un-?$", re.I)


@dataclass
class Context:
    """What surrounds a finding in its sentence (offsets relative to the sentence)."""

    negated: bool = False
    permitted: bool = False
    hypothetical: bool = False
    windowed: bool = False
    restated_requirement: bool = False  # "(patients must be newly diagnosed)" in an exclusion
    trigger: str = ""
    notes: list = field(default_factory=list)


def context(sentence: Sentence, start: int, end: int) -> Context:
    """NegEx/ConText for the finding at [start, end) of the sentence: a pre-trigger in the
    same clause before it (no termination term between), or a post-trigger right after."""
    text = sentence.text
    before = text[:start]
    after = text[end:]
    ctx = Context()
    # The clause the finding is in: back to the last termination term, forward to the next.
    clause_start = 0
    for m in _TERM_RE.finditer(before):
        clause_start = m.end()
    term_after = _TERM_RE.search(after)
    clause_end = end + (term_after.start() if term_after else len(after))
    clause_before = before[clause_start:]
    masked = _PSEUDO_RE.sub(lambda m: "_" * len(m.group(0)), clause_before)
    for m in _PRE_RE.finditer(masked):
        # A trigger joined to the finding's word by a hyphen belongs to the finding
        # ("non-methylated" is a result, read by the reader itself).
        if m.end() == len(masked) and _INWORD.search(masked[m.start() :]):
            continue
        ctx.negated, ctx.trigger = True, m.group(0)
    if not ctx.negated and _POST_RE.search(text[end:clause_end] + " "):
        ctx.negated, ctx.trigger = True, _POST_RE.search(text[end:clause_end]).group(0).strip()
    # "other than" / "except" immediately before: an exception to a negation, so allowed.
    if re.search(
        r"\b(?:except(?: for)?|other than|apart from|aside from)\s+(?:\w+\s+){0,4}$", before, re.I
    ):
        ctx.permitted = True
    whole_clause = text[clause_start:clause_end]
    if _PERMITTED_RE.search(whole_clause):
        ctx.permitted = True
    conditional = _CONDITIONAL_RE.match(text) and not _POST_ANYWHERE.search(text)
    if _HYPOTHETICAL_RE.search(text[clause_start:start]) or conditional:
        ctx.hypothetical = True
    if _WINDOW.search(text[end : end + 120]) or _WINDOW.search(clause_before):
        ctx.windowed = True
    if sentence.section == EXCLUSION:
        open_paren = before.rfind("(")
        scope = before[open_paren:] if open_paren > before.rfind(")") else clause_before
        if _REQUIREMENT_RE.search(scope):
            ctx.restated_requirement = True
    if sentence.lead_negated:
        ctx.negated = not ctx.negated
    return ctx


def polarity(sentence: Sentence, ctx: Context) -> str:
    """A finding stated in the inclusion list must hold; in the exclusion list it must
    not; a negation inverts either ("Exclusion: prior bevacizumab" and "Inclusion: no
    prior bevacizumab" both mean no prior bevacizumab)."""
    excluded = sentence.section == EXCLUSION and not ctx.restated_requirement
    return EXCLUDE if excluded != ctx.negated else INCLUDE


# --- Findings ---------------------------------------------------------------------


@dataclass
class Finding:
    """One criterion a kind's reader found, before the assembly merges and places it."""

    value: dict  # a criteria leaf, the schema's shape ({"type": "performance", ...})
    polarity: str  # INCLUDE: the leaf must hold; EXCLUDE: it must not
    start: int  # offsets into the whole eligibility text
    end: int
    confidence: float
    section: str
    arms: tuple = ()
    arm_words: str = ""
    note: str = ""

    @property
    def kind(self) -> str:
        return self.value["type"]


SKIP_ALWAYS = ("hypothetical",)


def finding(
    sentence: Sentence,
    start: int,
    end: int,
    value: dict,
    confidence: float,
    *,
    note: str = "",
    complement=None,
    skip=SKIP_ALWAYS,
    ctx: Context | None = None,
) -> Finding | None:
    """A reader's match at [start, end) of the sentence as a Finding, or None when its
    context rules it out (`skip`: "permitted", "hypothetical", "windowed"). `complement`
    turns an excluded leaf into the leaf that must hold instead, when there is one
    ("Exclusion: KPS < 50" is "KPS >= 50"), so the criteria read as a coordinator writes them."""
    ctx = ctx or context(sentence, start, end)
    if any(getattr(ctx, name) for name in skip):
        return None
    sense = polarity(sentence, ctx)
    if sense == EXCLUDE and complement is not None:
        other = complement(value)
        if other is not None:
            value, sense = other, INCLUDE
    if sentence.section == EXCLUSION or ctx.negated:
        confidence -= 0.03  # an inverted reading is a little less sure than a plain one
    arms, arm_words = sentence.arms, sentence.arm_words
    if arm_words and not arms:
        note = (note + " " if note else "") + f"Stated for {arm_words}: no such arm in the record."
        confidence -= 0.1
    words = sentence.text[start:end]
    start += len(words) - len(words.lstrip())
    end -= len(words) - len(words.rstrip())
    a, b = sentence.absolute(start, end)
    return Finding(
        value=value,
        polarity=sense,
        start=a,
        end=b,
        confidence=round(max(0.05, min(confidence, 0.99)), 2),
        section=sentence.section,
        arms=arms,
        arm_words=arm_words,
        note=note,
    )


@dataclass
class Reading:
    """What reading a text gave: `status` "read", "empty" or "not_read" (another
    language), a message saying so, and the findings in text order."""

    status: str
    message: str
    findings: list
    language: str = ""


def read(text: str, readers: dict, arms: list[str] | None = None, gate=None) -> Reading:
    """Every kind's reader over every sentence; the same criterion found twice (once in
    each list, say) is one suggestion with its first span, and a criterion that would
    contradict a stronger one found in the same text is left out (a coordinator checks
    that sentence by hand: "DIPG" excluded from an "H3 K27M-mutant diffuse glioma" trial)."""
    if not (text or "").strip():
        return Reading("empty", "No eligibility text: nothing to read.", [])
    language = language_of(text)
    if language and language != "English":
        return Reading(
            "not_read",
            f"The eligibility text appears to be in {language}; only English is read. "
            "Encode its criteria by hand.",
            [],
            language,
        )
    found: list[Finding] = []
    for sentence in split(text, arms):
        if gate is not None and not gate.passes(sentence):
            continue  # no reader's words in it (consent, laboratory values...)
        for reader in readers.values():
            found.extend(f for f in reader(sentence) if f is not None)
    merged: dict = {}
    for f in found:
        key = (canonical(f.value), f.polarity, f.arms)
        if key not in merged or f.confidence > merged[key].confidence + 0.05:
            merged[key] = f
    findings = sorted(merged.values(), key=lambda f: (f.start, f.end, f.kind))
    findings = _without_conflicts(findings)
    return Reading("read", f"{len(findings)} criteria suggested.", findings, language or "")


def canonical(value: dict) -> str:
    import json

    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _without_conflicts(findings: list) -> list:
    """Drop an excluded diagnosis that overlaps an included one (same arm scope), and of two
    opposite findings of one marker, or of one setting, keep the surer one."""
    kept = []
    included_codes = {
        code
        for f in findings
        if f.kind == "diagnosis" and f.polarity == INCLUDE
        for code in f.value["codes"]
    }
    for f in findings:
        if f.kind == "diagnosis" and f.polarity == EXCLUDE:
            if set(f.value["codes"]) & included_codes:
                continue
        kept.append(f)
    by_leaf: dict = {}
    for f in kept:
        if f.kind in ("marker", "setting"):
            by_leaf.setdefault((f.kind, f.value.get("marker"), f.arms), []).append(f)
    drop = set()
    for group in by_leaf.values():
        senses = {(canonical(f.value), f.polarity) for f in group}
        if len(senses) > 1 and _opposed(group):
            best = max(group, key=lambda f: (f.confidence, -f.start))
            drop |= {id(f) for f in group if f is not best and not _same_sense(f, best)}
    return [f for f in kept if id(f) not in drop]


def _holds(f: Finding) -> tuple:
    """A marker/setting finding as (what must hold, yes/no) for comparing senses."""
    v = f.value
    if v["type"] == "marker":
        return (v["marker"], v["result"]), f.polarity == INCLUDE
    return (v["setting"],), f.polarity == INCLUDE


def _same_sense(a: Finding, b: Finding) -> bool:
    (what_a, yes_a), (what_b, yes_b) = _holds(a), _holds(b)
    if what_a == what_b:
        return yes_a == yes_b
    # altered required == wildtype excluded (for a tested patient); newly diagnosed
    # required == recurrent excluded.
    return yes_a != yes_b


def _opposed(group: list) -> bool:
    return any(not _same_sense(a, b) for a in group for b in group if a is not b)
