"""Each criterion kind's reader: a vocabulary with synonyms and a few patterns that find
the kind's criteria in one sentence of an eligibility text, with the words they came
from. Each kind's definition in trials/criteria_kinds.py calls its reader from its
suggest(); the machinery they share (sentences, lists, arms, negation, numbers, units)
is trials/reading.py.

Vocabulary sources: WHO Classification of Tumours of the Central Nervous System, 5th ed.
(Louis DN et al. "The 2021 WHO Classification of Tumors of the Central Nervous System: a
summary." Neuro Oncol 2021;23:1231-1251, https://doi.org/10.1093/neuonc/noab106) for the
types, grades and the older names trials still use; ECOG and Karnofsky scales (Oken MM et
al. Am J Clin Oncol 1982;5:649-655; https://ecog-acrin.org/resources/ecog-performance-status/)."""

import re

from registry import vocabulary

from .reading import (
    COMPARATOR,
    DURATION,
    EXCLUDE,
    INCLUDE,
    NUMBER,
    OR_LESS,
    OR_MORE,
    ORDINAL,
    Sentence,
    bounds,
    comparator,
    context,
    finding,
    to_number,
    to_weeks,
)


class Gate:
    """A reader's cheap first look at a sentence: any of its words (lower case, as
    substrings) or exact-case tokens (RT, WHO). Regular expressions with many ignore-case
    alternatives cost most of a reading when run on every sentence."""

    def __init__(self, words: tuple, exact: tuple = ()):
        self.words, self.exact = words, exact

    def passes(self, sentence: Sentence) -> bool:
        low = sentence.lower
        return any(w in low for w in self.words) or any(w in sentence.text for w in self.exact)


# --- Diagnosis (WHO CNS5) ---------------------------------------------------------------

ASTRO = vocabulary.ASTROCYTOMA_IDH_MUTANT
OLIGO = vocabulary.OLIGODENDROGLIOMA
GBM = vocabulary.GLIOBLASTOMA_IDH_WILDTYPE
DMG = "diffuse_midline_glioma_h3k27"
ADULT_DIFFUSE = [ASTRO, OLIGO, GBM]
MEDULLO = [c for c in vocabulary.TUMOUR_TYPES if c.startswith("medulloblastoma")]
EPENDYMOMA = [c for c, t in vocabulary.TUMOUR_TYPES.items() if t.family == vocabulary.EPENDYMAL]
IDH_NOTE = (
    "WHO CNS5 names by IDH: an older '{said}' is Glioblastoma, IDH-wildtype, when IDH is "
    "wildtype and Astrocytoma, IDH-mutant (grade 4) when IDH is mutant."
)
_IDH_MUT = r"IDH[12/]*[- ]?(?:mutant|mutated|mutation)"
_IDH_WT = r"IDH[12/]*[- ]?(?:wild[- ]?type|wt|non-?mutant)"
_GBM = r"glioblastoma(?:s|\s+multiforme)?|\bGBMs?\b|gliosarcoma|grade\s+(?:IV|4)\s+(?:astrocytoma|glioma)"  # noqa: E501

# (pattern, codes, confidence, note). Earlier, more specific patterns win an overlapping span.
DIAGNOSES = [
    (rf"(?:{_IDH_WT})\s+(?:{_GBM})|(?:{_GBM}),?\s+(?:{_IDH_WT})", [GBM], 0.95, ""),
    (
        rf"(?:{_IDH_MUT})\s+(?:{_GBM})|(?:{_GBM}),?\s+(?:{_IDH_MUT})",
        [ASTRO],
        0.9,
        "An IDH-mutant 'glioblastoma' is Astrocytoma, IDH-mutant, CNS WHO grade 4 in WHO CNS5.",
    ),
    (
        rf"(?:{_IDH_MUT})\s+(?:diffuse\s+)?astrocytomas?|astrocytomas?,?\s+(?:{_IDH_MUT})",
        [ASTRO],
        0.95,
        "",
    ),
    (
        r"(?:anaplastic\s+)?oligodendrogliomas?(?:,?\s+IDH[- ]?mutant(?:\s+and\s+1p/19q[- ]?"
        r"co-?deleted)?)?",
        [OLIGO],
        0.9,
        "",
    ),
    (
        r"gliosarcomas?",
        [GBM],
        0.85,
        "Gliosarcoma is a subtype of Glioblastoma, IDH-wildtype, in WHO CNS5.",
    ),
    (
        r"glioblastoma(?:s|\s+multiforme)?|\bGBMs?\b",
        [GBM],
        0.85,
        IDH_NOTE,
    ),
    (
        r"grade\s+(?:IV|4)\s+(?:astrocytoma|glioma)s?",
        [GBM, ASTRO],
        0.7,
        IDH_NOTE,
    ),
    (
        r"(?:anaplastic|diffuse|low[- ]grade)\s+astrocytomas?",
        [ASTRO],
        0.7,
        "WHO CNS5 keeps 'astrocytoma' for IDH-mutant tumours; an IDH-wildtype one is often a "
        "molecular glioblastoma: check IDH.",
    ),
    (
        r"(?:H3\s*K27M?[- ]?(?:mutant|mutated|altered)?|K27M[- ]?(?:mutant|mutated)?|histone"
        r"(?:\s+H3)?[- ]?(?:altered|mutant|mutated))\s+(?:diffuse\s+)?(?:midline\s+)?gliomas?|"
        r"diffuse\s+midline\s+gliomas?(?:,?\s+H3\s*K27[- ]?(?:M|altered|mutant))?|\bDMGs?\b",
        [DMG],
        0.9,
        "",
    ),
    (
        r"diffuse\s+intrinsic\s+pontine\s+gliomas?|\bDIPGs?\b",
        [DMG],
        0.75,
        "Most diffuse intrinsic pontine gliomas are Diffuse midline glioma, H3 K27-altered "
        "(WHO CNS5); check the H3 status.",
    ),
    (
        r"(?:adult[- ]type\s+)?diffuse\s+(?:astrocytic\s+(?:or|and)\s+oligodendroglial\s+)?gliomas?",  # noqa: E501
        ADULT_DIFFUSE,
        0.7,
        "Diffuse glioma read as the adult-type diffuse gliomas of WHO CNS5 (astrocytoma, "
        "oligodendroglioma, glioblastoma).",
    ),
    (r"WNT[- ](?:activated|pathway|subgroup)?\s*medulloblastomas?|medulloblastomas?,?\s+WNT[- ]activated",  # noqa: E501
     ["medulloblastoma_wnt"], 0.9, ""),
    (r"SHH[- ](?:activated|pathway|subgroup)?\s*medulloblastomas?",
     ["medulloblastoma_shh_tp53_wildtype", "medulloblastoma_shh_tp53_mutant"], 0.85, ""),
    (r"(?:non-WNT/non-SHH|group\s+[34](?:\s*(?:/|or|and)\s*(?:group\s+)?[34])?)\s+medulloblastomas?",
     ["medulloblastoma_non_wnt_non_shh"], 0.85, ""),
    (r"medulloblastomas?", MEDULLO, 0.8, ""),
    (r"ependymomas?", EPENDYMOMA, 0.75, ""),
    (r"meningiomas?", ["meningioma"], 0.85, ""),
    (r"pilocytic\s+astrocytomas?", ["pilocytic_astrocytoma"], 0.9, ""),
    (r"pleomorphic\s+xanthoastrocytomas?|\bPXA\b", ["pxa"], 0.9, ""),
    (r"gangliogliomas?", ["ganglioglioma"], 0.9, ""),
    (r"atypical\s+teratoid(?:/|\s+)rhabdoid\s+tumou?rs?|\bAT/?RT\b", ["atrt"], 0.9, ""),
    (r"craniopharyngiomas?",
     ["craniopharyngioma_adamantinomatous", "craniopharyngioma_papillary"], 0.85, ""),
    (r"germinomas?", ["germinoma"], 0.85, ""),
    (r"pineoblastomas?", ["pineoblastoma"], 0.9, ""),
    (r"(?:vestibular\s+)?schwannomas?", ["schwannoma"], 0.8, ""),
]  # fmt: skip
_DIAGNOSES = [
    (re.compile(rf"\b(?:{p})\b", re.I), codes, conf, note) for p, codes, conf, note in DIAGNOSES
]
# Words that make a diagnosis not the patient's eligibility diagnosis: another disease's
# history, a mimic, a metastasis.
_NOT_THE_DIAGNOSIS = re.compile(
    r"(?:mimick?ing|-like|metasta\w*\s+(?:to|in)|suggestive\s+of|secondary\s+to)\W*$|"
    r"^\W*(?:-?mimick?ing|-like)",
    re.I,
)


_GATE_DIAGNOSIS = Gate(
    (
        "glio",
        "gbm",
        "astrocyt",
        "dipg",
        "dmg",
        "medullo",
        "ependym",
        "mening",
        "xantho",
        "pxa",
        "teratoid",
        "at/rt",
        "atrt",
        "craniophar",
        "germinom",
        "pineo",
        "schwann",
    ),
    (),
)


def read_diagnosis(sentence: Sentence) -> list:
    if not _GATE_DIAGNOSIS.passes(sentence):
        return []
    found, taken = [], []
    for pattern, codes, confidence, note in _DIAGNOSES:
        for m in pattern.finditer(sentence.text):
            if any(m.start() < b and a < m.end() for a, b in taken):
                continue
            before = sentence.text[max(0, m.start() - 25) : m.start()]
            after = sentence.text[m.end() : m.end() + 12]
            if _NOT_THE_DIAGNOSIS.search(before) or _NOT_THE_DIAGNOSIS.search(after):
                continue
            taken.append((m.start(), m.end()))
            said = m.group(0)
            found.append(
                finding(
                    sentence,
                    m.start(),
                    m.end(),
                    {"type": "diagnosis", "codes": list(codes)},
                    confidence,
                    note=note.format(said=said),
                    skip=("hypothetical", "permitted"),
                )
            )
    return found


# --- CNS WHO grade ---------------------------------------------------------------------

ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4, "1": 1, "2": 2, "3": 3, "4": 4}
_GRADE_NUM = r"(?:IV|III|II|I|[1-4])\b"
_GRADE = re.compile(
    rf"\b(?:(?:CNS\s+)?WHO\s+)?grades?\s+(?P<grades>{_GRADE_NUM}(?:\s*(?:,|or|and|/|-|–|to)\s*"
    rf"(?:grade\s+)?{_GRADE_NUM})*)",
    re.I,
)
_GRADE_WORDS = re.compile(r"\b(?P<which>high|low)[- ]grade\s+(?:diffuse\s+)?gliomas?\b", re.I)


_GATE_GRADE = Gate(("grade",), ())


def read_grade(sentence: Sentence) -> list:
    if not _GATE_GRADE.passes(sentence):
        return []
    found = []
    for m in _GRADE.finditer(sentence.text):
        said = m.group("grades")
        numbers = [ROMAN[g.lower()] for g in re.findall(r"IV|III|II|I|[1-4]", said, re.I)]
        if re.search(r"-|–|\bto\b", said) and len(numbers) == 2:
            numbers = list(range(min(numbers), max(numbers) + 1))
        # A toxicity grade (CTCAE "grade 2 or higher neuropathy") is not a tumour grade.
        around = sentence.text[max(0, m.start() - 60) : m.end() + 40]
        if re.search(r"CTCAE|toxicit|adverse|neuropath|hemorrhag|haemorrhag|bleed|"
                     r"or (?:higher|greater|worse)|≥|\\?>=", around, re.I):  # fmt: skip
            continue
        found.append(
            finding(
                sentence,
                m.start(),
                m.end(),
                {"type": "grade", "grades": sorted(set(numbers))},
                0.9,
                skip=("hypothetical", "permitted"),
            )
        )
    for m in _GRADE_WORDS.finditer(sentence.text):
        grades = [3, 4] if m.group("which").lower() == "high" else [1, 2]
        found.append(
            finding(
                sentence,
                m.start(),
                m.end(),
                {"type": "grade", "grades": grades},
                0.75,
                note=f"'{m.group(0)}' read as CNS WHO grade {' or '.join(map(str, grades))}.",
                skip=("hypothetical", "permitted"),
            )
        )
    return found


# --- Markers ---------------------------------------------------------------------------

_MUT = r"(?:mutant|mutated|mutations?|mut|positive|\+|altered|alterations?|variant)"
_WT = r"(?:wild[- ]?type|wt|non-?mutant|non-?mutated|negative|intact|unaltered)"
# marker -> [(pattern, result, confidence)]; a pattern matches the marker together with the
# words of its result, so "MGMT status known" (no result) suggests nothing.
MARKERS = {
    "idh": [
        (rf"IDH[12]?(?:/2)?(?:\s*R132H?)?[- ]?{_WT}|{_WT}\s+IDH[12]?(?:/2)?", "wildtype", 0.9),
        (rf"IDH[12]?(?:/2)?(?:\s*R132[A-Z]?)?[- ]?{_MUT}|{_MUT}\s+IDH[12]?(?:/2)?|IDH[12]?\s*R132[A-Z]?",  # noqa: E501
         "altered", 0.9),
    ],
    "mgmt": [
        (r"(?:un|non-?)methylated\s+MGMT(?:\s+promoter)?|MGMT(?:\s+gene)?(?:\s+promoter)?[- ]"
         r"(?:(?:is\s+)?(?:un|non-?)methylated|methylation[- ]negative|unmethylation)",
         "wildtype", 0.9),
        (r"MGMT(?:\s+promoter)?(?:\s+methylation)?(?:\s+status)?\s*(?::|is|of|=)\s*(?:un|non-?)methylated",  # noqa: E501
         "wildtype", 0.85),
        (r"MGMT(?:\s+promoter)?(?:\s+methylation)?(?:\s+status)?\s*(?::|is|of|=)\s*methylated",
         "altered", 0.85),
        (r"methylated\s+MGMT(?:\s+promoter)?|MGMT(?:\s+gene)?(?:\s+promoter)?[- ](?:is\s+)?"
         r"(?:hyper)?methylated|MGMT(?:\s+gene)?(?:\s+promoter)?\s+(?:hyper)?methylation"
         r"(?![- ]?(?:status|negative|testing|test|result|analysis|assessment|unknown))",
         "altered", 0.85),
    ],
    "codeletion_1p19q": [
        (r"(?:non-?|without\s+)(?:1p\s*/\s*19q[- ]?)?co-?deleted(?:\s+1p\s*/\s*19q)?|"
         r"1p\s*/\s*19q[- ]?(?:intact|non-?co-?deleted|retained|without\s+co-?deletion)|"
         r"(?:absence|lack)\s+of\s+1p\s*/\s*19q\s+co-?deletion|without\s+(?:a\s+)?1p\s*/\s*19q\s+"
         r"co-?deletion",
         "wildtype", 0.9),
        (r"1p\s*/\s*19q[- ]?(?:co-?deleted|co-?deletion|loss|deleted)|co-?deletion\s+of\s+"
         r"(?:chromosome\s+(?:arms\s+)?)?1p\s+and\s+19q|1p\s*/\s*19q\s+co-?deletion", "altered", 0.9),  # noqa: E501
    ],
    "h3k27": [
        (r"H3\s*(?:\.[13]\s*)?K27M?[- ]?(?:wild[- ]?type|wt|negative)", "wildtype", 0.85),
        (r"(?:histone\s+)?H3(?:\.[13])?\s*(?:F3A\s*)?K2[78]M?(?:[- ]?(?:mutant|mutated|mutation|altered"  # noqa: E501
         r"|alteration|positive))?|\bK27M(?:[- ]?(?:mutant|mutated|mutation))?|histone[- ]"
         r"(?:H3[- ])?(?:altered|mutant|mutated)", "altered", 0.9),
    ],
    "h3g34": [(r"H3(?:\.3)?\s*G34[RV]?(?:/[RV])?[- ]?(?:mutant|mutated|mutation)?", "altered", 0.85)],  # noqa: E501
    "braf_v600e": [
        (rf"BRAF[- ]?(?:\(\s*)?V600E?(?:\s*\))?(?:[- ]?{_MUT})?|V600E[- ]?(?:BRAF)?[- ]?{_MUT}?",
         "altered", 0.9),
    ],
    "braf_fusion": [(r"KIAA1549[- :]+BRAF(?:\s+fusion)?|BRAF[- ]fusions?", "altered", 0.85)],
    "cdkn2ab": [
        (r"(?:homozygous\s+(?:deletion|loss)\s+(?:of\s+)?(?:cyclin[- ]dependent\s+kinase\s+inhibitor"  # noqa: E501
         r"\s+2A\s+)?\(?CDKN2A(?:/B)?\)?|CDKN2A(?:/B)?\s+(?:homozygous\s+)?(?:deletion|deleted|loss|"
         r"null)|CDKN2A(?:/B)?[- ]?(?:\(null\)|null))", "altered", 0.85),
    ],
    "tert": [(rf"TERT(?:\s+promoter)?[- ]?{_MUT}", "altered", 0.85)],
    "egfr": [(r"EGFR[- ](?:gene\s+)?amplifi(?:cation|ed)|amplifi(?:cation|ed)\s+(?:of\s+)?EGFR",
              "altered", 0.85)],
    "atrx": [(r"(?:loss\s+of\s+ATRX|ATRX[- ](?:loss|lost|deficient|mutant|mutated|mutation))", "altered", 0.8)],  # noqa: E501
    "chr7_chr10": [(r"(?:\+7\s*/\s*-10|chromosome\s+7\s+gain\s+(?:and|with)\s+(?:chromosome\s+)?10\s+loss)",  # noqa: E501
                    "altered", 0.8)],
}  # fmt: skip
_MARKERS = [
    (marker, re.compile(rf"(?<![\w-])(?:{p})(?![\w])", re.I), result, conf)
    for marker, patterns in MARKERS.items()
    for p, result, conf in patterns
]
# Markers a diagnosis phrase already carries ("IDH-wildtype glioblastoma" is the diagnosis;
# a coordinator who confirms the diagnosis has the marker too), still suggested on their own:
# the register can hold the marker before the integrated diagnosis.


_GATE_MARKER = Gate(
    (
        "idh",
        "mgmt",
        "1p",
        "19q",
        "h3",
        "k27",
        "histone",
        "g34",
        "braf",
        "v600",
        "cdkn2",
        "tert",
        "egfr",
        "atrx",
        "+7",
        "chromosome 7",
    ),
    (),
)


def read_marker(sentence: Sentence) -> list:
    if not _GATE_MARKER.passes(sentence):
        return []
    found, taken = [], []
    for marker, pattern, result, confidence in _MARKERS:
        for m in pattern.finditer(sentence.text):
            if any(m.start() < b and a < m.end() for a, b in taken):
                continue
            taken.append((m.start(), m.end()))
            # "without 1p/19q codeletion" reads as "not codeleted" by the pattern itself;
            # NegEx then must not invert it again.
            ctx = context(sentence, m.start(), m.end())
            if re.match(r"(?:non|un|without|absence|lack)", m.group(0), re.I):
                ctx.negated = sentence.lead_negated
            found.append(
                finding(
                    sentence,
                    m.start(),
                    m.end(),
                    {"type": "marker", "marker": marker, "result": result},
                    confidence,
                    skip=("hypothetical", "permitted"),
                    ctx=ctx,
                )
            )
    return found


# --- Performance status ------------------------------------------------------------------

_KPS = r"(?:karnofsky(?:\s*/\s*lansky)?|lansky(?:\s*/\s*karnofsky)?|\bKPS\b|\bLPS\b|\bKS\b)"
_ECOG = r"(?:\bECOG\b|eastern\s+cooperative\s+oncology\s+group|\bWHO\b(?=\s+performance)|zubrod)"
_PS_WORDS = r"(?:\s*\((?:ECOG|KPS|WHO|LPS)\))?(?:\s*(?:performance|play)(?:\s+status|\s+score|\s+scale|\s+index)?)?(?:\s+scale|\s+score|\s+\(?(?:PS|KPS)\)?)?"  # noqa: E501
# The score after the scale: a comparison, a range, or a list ("0, 1, or 2").
_SCORE_WORDS = (
    r"(?:zero|one|two|three|four|five|ten|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)\b"
)
# A score as digits or words ("70", "seventy", "zero to two").
_N = rf"(?:\d{{1,3}}|{_SCORE_WORDS})"
_SCORE = re.compile(
    rf"(?P<op>{COMPARATOR})?\s*(?:of\s+|=\s*|:\s*|is\s+|score\s+)?(?P<low>{_N})\s*%?"
    rf"(?:\s*(?:-|–|to|through)\s*(?P<high>{_N})|(?P<list>(?:\s*,\s*{_N})*\s*,?\s*(?:or|and)\s+{_N})"
    rf"|\s*(?P<more>{OR_MORE})|\s*(?P<less>{OR_LESS}))?",
    re.I,
)
_PS_SCALE = re.compile(rf"(?P<scale>{_KPS}|{_ECOG}){_PS_WORDS}", re.I)
_AGE_AFTER = re.compile(r"^\s*(?:y/?o|years?|yrs?|y\b|months?)", re.I)


def _ps_complement(value: dict) -> dict | None:
    top = 5 if value["scale"] == "ecog" else 100
    step = 1 if value["scale"] == "ecog" else 10
    low, high = value.get("min"), value.get("max")
    if low is not None and (high is None or high >= top):
        return {"type": "performance", "scale": value["scale"], "min": None, "max": low - step}
    if high is not None and (low is None or low <= 0):
        return {"type": "performance", "scale": value["scale"], "min": high + step, "max": None}
    return None


_GATE_PERFORMANCE = Gate(
    ("karnofsky", "lansky", "kps", "lps", "ecog", "eastern", "zubrod"), ("KS", "WHO")
)


def read_performance(sentence: Sentence) -> list:
    if not _GATE_PERFORMANCE.passes(sentence):
        return []
    found = []
    text = sentence.text
    for m in _PS_SCALE.finditer(text):
        is_ecog = re.match(r"ECOG|eastern|WHO|zubrod", m.group("scale"), re.I)
        scale = "ecog" if is_ecog else "karnofsky"
        step = 1 if scale == "ecog" else 10
        top = 5 if scale == "ecog" else 100
        pos = m.end()
        score = None
        # The first score within a few words, skipping an age ("KPS > 12 y/o >/= 50").
        for s in _SCORE.finditer(text, pos, min(len(text), pos + 60)):
            if _AGE_AFTER.match(text[s.end() :]) or (
                s.group("low") and _AGE_AFTER.match(text[s.end("low") :])
            ):
                continue
            if not s.group("low"):
                continue
            gap = text[pos : s.start()]
            if len(gap.split()) > 6 or re.search(r"[.;]", gap):
                break
            score = s
            break
        if score is None:
            continue
        low_v, high_v = int(to_number(score.group("low"))), score.group("high")
        high_v = int(to_number(high_v)) if high_v is not None else None
        op = comparator(score.group("op")) if score.group("op") else None
        if high_v is not None:
            low, high = low_v, high_v
        elif score.group("list"):
            listed = re.findall(rf"\d{{1,3}}|{_SCORE_WORDS}", score.group("list"), re.I)
            values = [low_v, *(int(to_number(v)) for v in listed)]
            low, high = min(values), max(values)
        elif score.group("more"):
            low, high = low_v, None
        elif score.group("less"):
            low, high = None, low_v
        elif op:
            low, high = bounds(op, low_v, step)
        else:
            # A bare score ("ECOG 1", "KPS 70"): ECOG n is "n or better" only with a list;
            # alone it reads as the limit: ECOG up to n, Karnofsky from n.
            low, high = (0, low_v) if scale == "ecog" else (low_v, None)
        if scale == "ecog" and low == 0:
            low = None
        if scale == "karnofsky" and high is not None and high >= 100:
            high = None
        if any(v is not None and not 0 <= v <= top for v in (low, high)):
            continue
        value = {"type": "performance", "scale": scale, "min": low, "max": high}
        found.append(
            finding(
                sentence,
                m.start(),
                score.end(),
                value,
                0.95,
                complement=_ps_complement,
                skip=("hypothetical",),
            )
        )
    return found


# --- Setting (newly diagnosed / recurrent, number of recurrences) -----------------------------

_RECURRENCE = r"(?:recurrences?|relapses?|progressions?|recurrent\s+disease|progressive\s+disease)"
_NTH = re.compile(
    rf"\b(?:at\s+)?(?:(?P<first>{ORDINAL})(?:\s*(?:,|or|and|/)\s*(?P<second>{ORDINAL}))?"
    rf"(?:\s*(?:,|or|and|/)\s*(?P<third>{ORDINAL}))?)\s+(?:or\s+later\s+)?(?:{_RECURRENCE}|"
    rf"(?:recurrent|relapsed|progressive)\b)",
    re.I,
)
_COUNT = re.compile(
    rf"\b(?P<op>{COMPARATOR})?\s*(?P<n>{NUMBER})\s+(?:or\s+(?P<dir>more|fewer|less)\s+)?"
    rf"(?:prior|previous)?\s*(?:{_RECURRENCE}|episodes?\s+of\s+(?:recurrence|progression))",
    re.I,
)
_RECURRENT = re.compile(
    r"\b(?:progressive\s+disease|recurrent\s+disease|disease\s+progression|recurrent|relapsed|progressive|progressing|refractory|recurrence|relapse|"
    r"(?:disease\s+|tumou?r\s+|radiographic(?:al)?\s+)?progression|progressed|regrowth)\b",
    re.I,
)
_NEW = re.compile(
    r"\b(?:newly[- ]diagnosed|new(?:ly)?\s+diagnosis|treatment[- ]na[iï]ve|"
    r"previously\s+untreated|untreated\s+(?:glioblastoma|glioma|disease|tumou?r|DIPG)|"
    r"first[- ]line\s+(?:treatment|therapy))\b",
    re.I,
)
# Progression named as an event of a drug or a measurement, not the patient's setting.
_NOT_SETTING = re.compile(
    r"free\s+surviv|PFS|time\s+to|until|\bof\s+(?:symptoms|side\s+effects)|neurologic(?:al)?\s+"
    r"progression|pseudo-?progression|leptomeningeal|metasta|following\s+prior\s+treatment|"
    r"radionecrosis\s+vs|indeterminate",
    re.I,
)


def _setting_complement(value: dict) -> dict | None:
    if (
        value["setting"] == "recurrent"
        and not value.get("min_progressions")
        and not value.get("max_progressions")
    ):
        return {"type": "setting", "setting": "newly_diagnosed"}
    if value["setting"] == "newly_diagnosed":
        return {"type": "setting", "setting": "recurrent"}
    return None


_GATE_SETTING = Gate(
    (
        "recurr",
        "relaps",
        "progress",
        "refractor",
        "regrowth",
        "new",
        "naive",
        "naïve",
        "untreated",
        "first",
        "1st",
        "2nd",
        "3rd",
        "second",
        "third",
        "frontline",
    ),
    (),
)


def read_setting(sentence: Sentence) -> list:
    if not _GATE_SETTING.passes(sentence):
        return []
    text = sentence.text
    found, taken = [], []

    def add(start, end, value, confidence, note="", complement=_setting_complement):
        if any(start < b and a < end for a, b in taken):
            return
        if _NOT_SETTING.search(text[max(0, start - 40) : end + 30]):
            return
        taken.append((start, end))
        found.append(
            finding(
                sentence,
                start,
                end,
                value,
                confidence,
                note=note,
                complement=complement,
                skip=("hypothetical", "permitted", "windowed"),
            )
        )

    for m in _NTH.finditer(text):
        ns = [to_number(g) for g in (m.group("first"), m.group("second"), m.group("third")) if g]
        ns = [int(n) for n in ns if n]
        later = "or later" in m.group(0).lower()
        value = {
            "type": "setting",
            "setting": "recurrent",
            "min_progressions": min(ns),
            "max_progressions": None if later else max(ns),
        }
        add(m.start(), m.end(), value, 0.9, complement=None)
    for m in _COUNT.finditer(text):
        n = to_number(m.group("n"))
        if n is None or n < 1 or n > 10:
            continue
        op = comparator(m.group("op")) if m.group("op") else None
        direction = (m.group("dir") or "").lower()
        prior = re.search(r"prior|previous", m.group(0), re.I)
        if op in ("<=",) or direction in ("fewer", "less"):
            low, high = None, int(n)
        elif op == "<":
            low, high = None, int(n) - 1
        elif op in (">=",) or direction == "more":
            low, high = int(n), None
        elif op == ">":
            low, high = int(n) + 1, None
        else:
            low = high = int(n)
        if prior and high is not None and low is None:
            # "no more than two prior relapses": up to two before this one.
            note = f"'{m.group(0).strip()}' read as at most {high} progressions; check whether "
            note += "the current one counts."
        else:
            note = ""
        if high is not None and high < 1:
            continue
        value = {
            "type": "setting",
            "setting": "recurrent",
            "min_progressions": max(low or 1, 1) if (low or 1) > 1 else None,
            "max_progressions": high,
        }
        add(m.start(), m.end(), value, 0.8, note=note, complement=None)
    for m in _NEW.finditer(text):
        add(m.start(), m.end(), {"type": "setting", "setting": "newly_diagnosed"}, 0.85)
    for m in _RECURRENT.finditer(text):
        word = m.group(0).lower()
        # "progression" needs the patient's disease: "disease progression", "progressive
        # disease", "recurrent glioblastoma", not "progression-free".
        after = text[m.end() : m.end() + 20]
        if re.match(r"[- ]free|\s+(?:of|on|after|during|while)\b", after, re.I):
            continue
        if word in ("progression", "recurrence", "relapse", "progressed", "regrowth"):
            before = text[max(0, m.start() - 40) : m.start()].lower()
            if not re.search(r"disease|tumou?r|radiolog|radiograph|evidence|documented|"
                             r"confirmed|first|with|at|unequivocal|^\W*$", before + " "):  # fmt: skip  # noqa: E501
                continue
        add(m.start(), m.end(), {"type": "setting", "setting": "recurrent"}, 0.8)
    return found


# --- Prior treatment ----------------------------------------------------------------------

REGIMEN_WORDS = {
    "bevacizumab": r"bevacizumab|avastin|\bBVZ\b|\bBEV\b|anti-?VEGF(?:\s+(?:therapy|antibod(?:y|ies)))?",  # noqa: E501
    "lomustine": r"lomustine|\bCCNU\b|gleostine",
    "pcv": r"\bPCV\b|procarbazine",
    "tmz": r"temozolomide|\bTMZ\b|temodal|temodar|stupp(?:\s+(?:regimen|protocol))?",
    "radiotherapy": r"(?:(?:cranial|brain|focal|fractionated|standard|conventional|frontline|"
    r"front-line|prior|previous|involved[- ]field)\s+)?(?:radiotherapy|radiation(?:\s+therapy)?|"
    r"irradiation|chemo-?radi(?:ation|otherapy)|radio-?chemotherapy|\bRT\b|\bCRT\b)",
}
_REGIMEN = re.compile(
    "|".join(f"(?P<{name}>{words})" for name, words in REGIMEN_WORDS.items()), re.I
)
_PRIOR = re.compile(
    r"\b(?:prior(?!\s+to\b)|previous(?:ly)?(?!\s+(?:untreated|diagnosed))|history\s+of|received|receipt\s+of|treated\s+with|"
    r"treatment\s+with|therapy\s+with|exposure\s+to|exposed\s+to|had|completed|completion\s+of|"
    r"undergone|underwent|after|following|progressed\s+(?:on|after)|failure\s+of|failed|"
    r"pretreated\s+with|pre-?treated)\b",
    re.I,
)
# Radiotherapy of another body part, or a particular technique, is not "any radiotherapy".
_RT_QUALIFIED = re.compile(
    r"whole[- ]brain|\bWBRT\b|proton|stereotactic|radiosurgery|\bSRS\b|re-?irradiation|"
    r"brachytherapy|lung|chest|breast|axilla|thora|abdom|pelv|bone|spine|spinal|palliative|"
    r"craniospinal|hypofractionated|>\s*\d+\s*Gy|\d+\s*Gy",
    re.I,
)
_SIDE_EFFECT = re.compile(
    r"toxicit|side[- ]effects?|adverse|pneumonitis|allerg|hypersensitiv|intoleran|"
    r"complications?|contraindicat|resolution",
    re.I,
)
# No treatment at all before the trial: "treatment-naive", "no prior therapy (except surgery)".
_NAIVE = re.compile(
    r"\btreatment[- ]na[iï]ve\b|\b(?:therapy|treatment|chemotherapy)[- ]na[iï]ve\b|"
    r"\bpreviously\s+untreated\b|\bno\s+(?:prior|previous)\s+(?:anti-?(?:cancer|tumou?r)\s+|"
    r"(?:tumou?r|cancer)[- ]directed\s+|oncologic(?:al)?\s+)?(?:therapy|therapies|treatments?)\b"
    r"(?!\s+(?:with|of|for|including|targeting|directed|by|using))",
    re.I,
)
NAIVE_NOTE = (
    "No treatment before the trial read as no prior radiotherapy; add the systemic "
    "treatments it also rules out."
)
TMZ_NOTE = (
    "Temozolomide read as the concomitant regimen (with radiotherapy, as in the Stupp "
    "regimen); edit it to adjuvant if the trial means that."
)


_GATE_PRIOR_TREATMENT = Gate(
    (
        "bevaci",
        "avastin",
        "bvz",
        "bev",
        "vegf",
        "lomustin",
        "ccnu",
        "gleostin",
        "pcv",
        "procarbazin",
        "temozolom",
        "tmz",
        "temod",
        "stupp",
        "radi",
        "irradia",
        "naive",
        "naïve",
        "untreated",
        "no prior",
        "no previous",
    ),
    ("RT",),
)


def read_prior_treatment(sentence: Sentence) -> list:
    if not _GATE_PRIOR_TREATMENT.passes(sentence):
        return []
    text = sentence.text
    found = []
    for m in _NAIVE.finditer(text):
        ctx = context(sentence, m.start(), m.end())
        ctx.negated = sentence.lead_negated  # the phrase carries its own "no"
        f = finding(
            sentence,
            m.start(),
            m.end(),
            {"type": "prior_treatment", "regimen": "radiotherapy"},
            0.75,
            note=NAIVE_NOTE,
            skip=("hypothetical",),
            ctx=ctx,
        )
        if f is not None:
            f.polarity = EXCLUDE if f.polarity == INCLUDE else INCLUDE
            found.append(f)
    for m in _REGIMEN.finditer(text):
        name = m.lastgroup
        before = text[max(0, m.start() - 70) : m.start()]
        prior = list(_PRIOR.finditer(before))
        said = m.group(0)
        if name == "radiotherapy" and re.match(r"(?:prior|previous)\s", said, re.I):
            pass
        elif not prior or len(before[prior[-1].end() :].split()) > 5:
            # Listed under "Use of any of the following treatments:" the lead says prior.
            lead_says = re.search(
                r"\b(?:use\s+of|treatments?|therap(?:y|ies)|received|prior)\b", sentence.lead, re.I
            )
            if not (lead_says and len(before.split()) <= 2):
                continue
        if name == "radiotherapy":
            window = text[max(0, m.start() - 30) : m.end() + 30]
            if _RT_QUALIFIED.search(window) and not re.search(
                r"(?<!whole[- ])(?<!whole )brain\s+radi|cranial\s+radi", window, re.I
            ):
                continue
        if _SIDE_EFFECT.search(text[max(0, m.start() - 60) : m.start()]):
            continue  # "toxicities due to any prior therapy (e.g., RT)": about its effects
        ctx = context(sentence, m.start(), m.end())
        if ctx.windowed or ctx.permitted or ctx.hypothetical:
            continue  # "temozolomide within 3 weeks": a wash-out, not "never had it"
        regimens = [name]
        note = ""
        if name == "tmz":
            sense_excluded = (sentence.section == "exclusion") != ctx.negated
            if re.search(
                r"adjuvant|maintenance", text[max(0, m.start() - 40) : m.end() + 40], re.I
            ):
                regimens = ["tmz_adjuvant"]
            elif sense_excluded:
                regimens = ["tmz_concomitant", "tmz_adjuvant"]  # never had any temozolomide
            else:
                regimens = ["tmz_concomitant"]
                note = TMZ_NOTE
        for regimen in regimens:
            found.append(
                finding(
                    sentence,
                    m.start(),
                    m.end(),
                    {"type": "prior_treatment", "regimen": regimen},
                    0.9 if name != "radiotherapy" else 0.85,
                    note=note,
                    skip=("hypothetical", "permitted", "windowed"),
                    ctx=ctx,
                )
            )
    return found


# --- Prior tumour-treating fields ------------------------------------------------------------

# The device's names: tumo(u)r-treating fields, TTFields, Optune, NovoTTF (EF-14: Stupp et al.,
# JAMA 2017;318:2306-2316). A bare "TTF" is left out: trials also use it for "time to
# treatment failure".
_TTFIELDS = re.compile(
    r"tumou?r[- ]treating[- ]fields?(?:\s*\((?:TTFields|TTFs?)\))?|\bTTFields\b|\bOptune\b|"
    r"\bNovoTTF(?:-\d+A)?\b",
    re.I,
)


_GATE_PRIOR_TTFIELDS = Gate(("treating field", "ttfield", "optune", "novottf"))


def read_prior_ttfields(sentence: Sentence) -> list:
    """ "Prior treatment with tumor treating fields", or "Tumor treating fields at any time"
    under "Use of any of the following treatments:"; a wash-out ("within 4 weeks") is not
    "never had them"."""
    if not _GATE_PRIOR_TTFIELDS.passes(sentence):
        return []
    text = sentence.text
    found = []
    for m in _TTFIELDS.finditer(text):
        before = text[max(0, m.start() - 70) : m.start()]
        prior = list(_PRIOR.finditer(before))
        if not prior or len(before[prior[-1].end() :].split()) > 5:
            lead_says = re.search(
                r"\b(?:use\s+of|treatments?|therap(?:y|ies)|received|prior)\b", sentence.lead, re.I
            )
            if not (lead_says and len(before.split()) <= 2):
                continue
        found.append(
            finding(
                sentence,
                m.start(),
                m.end(),
                {"type": "prior_ttfields"},
                0.9,
                skip=("hypothetical", "permitted", "windowed"),
            )
        )
    return found


# --- Time since the end of radiotherapy -----------------------------------------------------------

_RT = (
    r"(?:radiotherapy|radiation(?:\s+therapy)?|irradiation|chemo-?radi(?:ation|otherapy)|"
    r"radio-?chemotherapy|\bRT\b|\bCRT\b|\bXRT\b)"
)
_SINCE_RT = re.compile(
    rf"(?P<op>{COMPARATOR}|≥)?\s*(?P<dur>(?:{NUMBER}|a|an)\s*(?:\(\s*\d+\s*\)\s*)?-?\s*(?:days?|weeks?|"
    rf"wks?|months?|mos?|years?))\s+(?:or\s+more\s+|have\s+(?:elapsed|passed)\s+|must\s+have\s+"
    rf"(?:elapsed|passed)\s+)?(?:since|after|from|following|beyond|post|of)\s+(?:the\s+)?"
    rf"(?:(?:end|completion|completing|last\s+(?:dose|fraction)|the\s+last\s+dose)\s+(?:of\s+)?)?"
    rf"(?:the\s+)?(?:(?:chemotherapy|systemic\s+therapy|surgery)\s+(?:or|and|and/or)\s+)?"
    rf"(?:prior\s+|previous\s+|initial\s+|standard\s+|first-line\s+|frontline\s+)?{_RT}",
    re.I,
)
_RT_BEFORE = re.compile(
    rf"(?:completed|completion\s+of|received|finished|end(?:ed)?\s+of)\s+(?:(?:standard|prior|"
    rf"previous|frontline|the)\s+)*{_RT}[^.;]{{0,40}}?(?P<op>{COMPARATOR})?\s*(?P<dur>(?:{NUMBER}"
    rf"|a|an)\s*(?:(?:-|–|to)\s*{NUMBER}\s*)?(?:days?|weeks?|wks?|months?|mos?|years?))\s+"
    rf"(?:or\s+more\s+)?(?:prior|before|ago|earlier)",
    re.I,
)
# "Radiation therapy must have been completed at least 12 weeks prior to enrolment".
_RT_COMPLETED_BEFORE = re.compile(
    rf"{_RT}[^.;]{{0,40}}?\b(?:completed|ended|finished|terminated)\b[^.;]{{0,20}}?"
    rf"(?P<op>{COMPARATOR})?\s*(?P<dur>(?:{NUMBER}|a|an)\s*(?:days?|weeks?|wks?|months?|mos?|"
    rf"years?))\s+(?:or\s+more\s+)?(?:prior|before|ago|earlier)",
    re.I,
)
_RT_WITHIN = re.compile(
    rf"{_RT}[^.;]{{0,60}}?within\s+(?:the\s+)?(?:past|last|previous)?\s*(?P<dur>(?:{NUMBER}|a|an)"
    rf"\s*(?:days?|weeks?|wks?|months?|mos?|years?))|within\s+(?:the\s+)?(?:past|last|previous)?"
    rf"\s*(?P<dur2>(?:{NUMBER}|a|an)\s*(?:days?|weeks?|wks?|months?|mos?|years?))\s+(?:of|after|"
    rf"from|since|following)\s+(?:the\s+)?(?:(?:end|completion)\s+of\s+)?{_RT}",
    re.I,
)


def _weeks(duration: str) -> tuple[int, str] | None:
    m = DURATION.search(duration)
    if not m:
        return None
    n = to_number(m.group("n")) if m.group("n").lower() not in ("a", "an") else 1
    if n is None:
        return None
    return to_weeks(n, m.group("unit")), f"{m.group('n')} {m.group('unit')}"


def _rt_note(weeks: int, said: str) -> str:
    return "" if re.search(r"weeks?|wks?", said, re.I) else f"{said} is about {weeks} weeks."


_GATE_RADIOTHERAPY_ENDED = Gate(("radi", "irradia"), ("RT",))


def read_radiotherapy_ended(sentence: Sentence) -> list:
    if not _GATE_RADIOTHERAPY_ENDED.passes(sentence):
        return []
    text = sentence.text
    found, taken = [], []
    other_site = re.compile(r"lung|chest|breast|thora|abdom|pelv|bone", re.I)

    def add(m, duration, confidence, note=""):
        if any(m.start() < b and a < m.end() for a, b in taken):
            return
        if other_site.search(text[max(0, m.start() - 30) : m.end() + 20]):
            return
        got = _weeks(duration)
        if not got or not 1 <= got[0] <= 520:
            return
        weeks, said = got
        taken.append((m.start(), m.end()))
        ctx = context(sentence, m.start(), m.end())
        ctx.windowed = False  # the window is this kind's own value
        # "within 12 weeks of radiotherapy" excluded means at least 12 weeks since it
        # ended; stated as a requirement it is the same bound.
        f = finding(
            sentence,
            m.start(),
            m.end(),
            {"type": "radiotherapy_ended", "min_weeks": weeks},
            confidence,
            note=" ".join(x for x in (_rt_note(weeks, said), note) if x),
            skip=("hypothetical", "permitted"),
            ctx=ctx,
        )
        if f is not None:
            f.polarity = INCLUDE
            found.append(f)

    for m in _SINCE_RT.finditer(text):
        # "MRI obtained 2 to 6 weeks after radiotherapy" times a scan, not eligibility.
        if re.search(r"MRI|scan|imaging|obtained|performed|\bto\s*$|-\s*$",
                     text[max(0, m.start() - 60) : m.start()], re.I):  # fmt: skip
            continue
        add(m, m.group("dur"), 0.9)
    for m in _RT_BEFORE.finditer(text):
        dur = m.group("dur")
        rng = re.search(rf"({NUMBER})\s*(?:-|–|to)\s*({NUMBER})\s*(\w+)", dur, re.I)
        if rng:
            add(m, f"{rng.group(1)} {rng.group(3)}", 0.75,
                note=f"Upper limit ({rng.group(2)} {rng.group(3)}) cannot be encoded: check it by hand.")  # fmt: skip  # noqa: E501
        else:
            add(m, dur, 0.85)
    for m in _RT_COMPLETED_BEFORE.finditer(text):
        add(m, m.group("dur"), 0.85)
    if sentence.section == "exclusion":
        for m in _RT_WITHIN.finditer(text):
            add(m, m.group("dur") or m.group("dur2"), 0.85)
    return found


# --- Extent of resection ---------------------------------------------------------------------

EXTENT_WORDS = {
    "gross_total": r"gross[- ]total(?:\s+resection)?|\bGTR\b|complete\s+(?:surgical\s+)?resection|"
    r"total\s+resection|maximal\s+safe\s+resection",
    "subtotal": r"sub-?total(?:\s+resection)?|\bSTR\b|near[- ]total(?:\s+resection)?",
    "partial": r"partial\s+resection|debulking",
    "biopsy_only": r"biopsy\s+only|only\s+(?:a\s+)?(?:stereotactic\s+)?biopsy|"
    r"(?:stereotactic\s+)?biopsy\s+alone",
}
_EXTENT = re.compile(
    r"(?:(?:"
    + "|".join(f"(?:{w})" for w in EXTENT_WORDS.values())
    + r")(?:\s*(?:,|or|and|/)\s*)?)+",
    re.I,
)
_EXTENT_ONE = [(name, re.compile(words, re.I)) for name, words in EXTENT_WORDS.items()]
_SURGERY_CONTEXT = re.compile(
    r"resect|surg|operat|underwent|undergone|following|after|status\s+post|s/p|biopsy", re.I
)


_GATE_RESECTION = Gate(("resect", "gtr", "str", "debulk", "biops", "total"), ())


def read_resection(sentence: Sentence) -> list:
    if not _GATE_RESECTION.passes(sentence):
        return []
    text = sentence.text
    found = []
    for m in _EXTENT.finditer(text):
        said = m.group(0).rstrip(" ,/").rstrip()
        if said.lower().endswith((" or", " and")):
            said = said.rsplit(" ", 1)[0]
        extents = [name for name, pattern in _EXTENT_ONE if pattern.search(said)]
        if not extents:
            continue
        window = text[max(0, m.start() - 60) : m.end() + 30]
        if not _SURGERY_CONTEXT.search(window):
            continue
        # "maximal safe resection" alone names the intent, not the extent reached.
        if extents == ["gross_total"] and re.fullmatch(r"maximal\s+safe\s+resection", said, re.I):
            continue
        found.append(
            finding(
                sentence,
                m.start(),
                m.start() + len(said),
                {"type": "resection", "extents": extents},
                0.85,
                skip=("hypothetical", "permitted"),
            )
        )
    return found


# Any reader's words: a sentence without them (consent, laboratory values) is skipped whole.
ANY_GATE = Gate(
    tuple(
        {
            w
            for g in (
                _GATE_DIAGNOSIS,
                _GATE_GRADE,
                _GATE_MARKER,
                _GATE_PERFORMANCE,
                _GATE_SETTING,
                _GATE_PRIOR_TREATMENT,
                _GATE_PRIOR_TTFIELDS,
                _GATE_RADIOTHERAPY_ENDED,
                _GATE_RESECTION,
            )
            for w in g.words
        }
    ),
    ("RT", "KS", "WHO"),
)


def kind_readers() -> dict:
    """Kind -> its reader, from the criteria table (trials/criteria_kinds.py KINDS): each
    kind's suggest() calls its function here, so a new kind brings its reader with it."""
    from .criteria_kinds import KINDS, Kind

    return {
        name: kind.suggest for name, kind in KINDS.items() if type(kind).suggest is not Kind.suggest
    }
