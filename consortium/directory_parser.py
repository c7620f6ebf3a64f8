"""Parse the plain-text overview of Nordic cancer collaboration groups.

The overview is edited by hand and re-issued, so this parser reads the
*structure* of the text, never the wording of one edition:

* paragraphs are separated by blank lines (how many is only a hint);
* a *fact* is a paragraph ``Label: value`` (label of 1-4 words, capitalised);
* a *heading* is a short paragraph that is not a fact and does not end like a
  sentence;
* a heading directly followed by a fact is a *group*; its facts run until the
  next heading, and an unlabelled sentence after a fact continues that fact;
* headings in front of a group place it: a heading after 2+ blank lines starts
  a top category (optionally followed by one sub-category heading), a heading
  after a single blank line starts a new sub-category of the current category;
* everything before the first category is the preamble (title + note);
* every group states its focus, scope, key activities or website (a group with none is
  an error: the usual sign of a file cut short).

Whatever does not fit raises DirectoryParseError with a 1-based line number.
Plain Python on purpose (no Django) so it can be tested without a database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .text_checks import NUL_MESSAGE, nul_line


class DirectoryParseError(ValueError):
    """A block of the overview that cannot be read; ``line`` is 1-based."""

    def __init__(self, line: int, message: str):
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


@dataclass(frozen=True)
class ParsedGroup:
    line: int
    heading: str
    name: str
    acronyms: tuple[str, ...]
    category: str
    subcategory: str
    cancer_types: str
    scope: str
    participants: str
    countries: tuple[str, ...]
    associate_countries: tuple[str, ...]
    focus: str
    key_activities: str
    website_url: str
    website_label: str
    website_note: str
    other_facts: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ParsedDirectory:
    title: str
    preamble: str
    categories: tuple[tuple[str, tuple[str, ...]], ...]
    groups: tuple[ParsedGroup, ...]


# --------------------------------------------------------------------------- paragraphs

_BOLD = re.compile(r"\*\*(.+?)\*\*")
# "Label: value" at paragraph start; the label is 1-4 words, the first capitalised.
_LABEL = re.compile(r"^([A-Z][^\s:]*(?: [^\s:]+){0,3}):(?:\s+(.*)|\s*)$", re.S)
# Headings are short; anything longer, or ending like a sentence, is running text.
MAX_HEADING_WORDS = 14
_SENTENCE_ENDS = (".", "!", "?", ":", ";", ",")


@dataclass(frozen=True)
class _Paragraph:
    line: int
    text: str
    blanks_before: int
    label: str = ""  # set only for "Label: value" facts
    value: str = ""

    @property
    def is_fact(self) -> bool:
        return bool(self.label)

    @property
    def is_heading(self) -> bool:
        short = len(self.text.split()) <= MAX_HEADING_WORDS
        return not self.label and short and not self.text.endswith(_SENTENCE_ENDS)


def _paragraphs(text: str) -> list[_Paragraph]:
    """Split into paragraphs, remembering each one's first line and the blank lines above it."""
    lines = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    paragraphs: list[_Paragraph] = []
    current: list[str] = []
    start = blanks = 0
    for number, raw in enumerate(lines + [""], start=1):
        line = raw.strip()
        if line:
            start = start if current else number
            current.append(line)
        elif current:
            paragraphs.append(_make_paragraph(start, " ".join(current), blanks))
            current, blanks = [], 1
        else:
            blanks += 1
    return paragraphs


def _make_paragraph(line: int, text: str, blanks: int) -> _Paragraph:
    text = _BOLD.sub(r"\1", text)
    match = _LABEL.match(text)
    if match:
        return _Paragraph(line, text, blanks, match.group(1), (match.group(2) or "").strip())
    return _Paragraph(line, text, blanks)


def _is_group_heading(paragraphs: list[_Paragraph], index: int) -> bool:
    """A group is exactly a heading whose next paragraph is a labelled fact."""
    following = paragraphs[index + 1 : index + 2]
    return paragraphs[index].is_heading and bool(following) and following[0].is_fact


_HEADING_NEXT = "it is followed by another heading; a new category needs 2+ blank lines above it"


def _no_facts(paragraph: _Paragraph, reason: str) -> DirectoryParseError:
    return DirectoryParseError(
        paragraph.line,
        f"heading {paragraph.text!r} has no 'Label: value' facts ({reason}); "
        "a group heading must be followed by its facts",
    )


# --------------------------------------------------------------------------- structure


def parse_directory(text: str) -> ParsedDirectory:
    """Parse one edition of the overview into its title, preamble, categories and groups."""
    nul_at = nul_line(text)
    if nul_at:
        raise DirectoryParseError(nul_at, f"the line {NUL_MESSAGE}")
    paragraphs = _paragraphs(text)
    if not paragraphs:
        raise DirectoryParseError(1, "document is empty")
    start, title, preamble = _split_preamble(paragraphs)
    groups, categories = _read_body(paragraphs, start)
    _check_complete(groups)
    _check_unique(groups)
    return ParsedDirectory(
        title=title,
        preamble=preamble,
        categories=tuple((name, tuple(subs)) for name, subs in categories.items()),
        groups=tuple(groups),
    )


def _split_preamble(paragraphs: list[_Paragraph]) -> tuple[int, str, str]:
    """Find where the first category starts; what comes before is title + note.

    The first category is the run of headings right before the first group.
    Inside that run a heading after 2+ blank lines wins, so a short subtitle
    in the preamble is not mistaken for the category.
    """
    first_fact = next((i for i, p in enumerate(paragraphs) if p.is_fact), None)
    if first_fact is None:
        raise DirectoryParseError(1, "no groups found (a group is a heading followed by facts)")
    if first_fact == 0 or not paragraphs[first_fact - 1].is_heading:
        fact = paragraphs[first_fact]
        raise DirectoryParseError(fact.line, f"fact {fact.label!r} appears before any group")
    group = first_fact - 1
    has_title = paragraphs[0].is_heading and group > 0
    run_start = group
    while run_start > int(has_title) and paragraphs[run_start - 1].is_heading:
        run_start -= 1
    if run_start == group:
        heading = paragraphs[group]
        raise DirectoryParseError(
            heading.line, f"group {heading.text!r} appears before any category heading"
        )
    wide = [i for i in range(run_start + 1, group) if paragraphs[i].blanks_before >= 2]
    start = wide[-1] if wide else run_start
    title = paragraphs[0].text if has_title else ""
    preamble = "\n\n".join(p.text for p in paragraphs[int(has_title) : start])
    return start, title, preamble


def _read_body(
    paragraphs: list[_Paragraph], start: int
) -> tuple[list[ParsedGroup], dict[str, list[str]]]:
    """Walk alternating (heading run, group) blocks from the first category on."""
    groups: list[ParsedGroup] = []
    categories: dict[str, list[str]] = {}
    category = subcategory = ""
    index = start
    while index < len(paragraphs):
        run_end = index
        while paragraphs[run_end].is_heading and not _is_group_heading(paragraphs, run_end):
            run_end += 1
            if run_end == len(paragraphs):
                raise _no_facts(paragraphs[-1], "it ends the document")
        if not paragraphs[run_end].is_heading:
            raise _no_facts(paragraphs[run_end - 1], "it is followed by unlabelled text")
        category, subcategory = _place(paragraphs[index:run_end], category, subcategory)
        subs = categories.setdefault(category, [])
        if subcategory and subcategory not in subs:
            subs.append(subcategory)
        body_end = run_end + 1
        while body_end < len(paragraphs) and not paragraphs[body_end].is_heading:
            body_end += 1
        groups.append(
            _build_group(
                paragraphs[run_end], paragraphs[run_end + 1 : body_end], category, subcategory
            )
        )
        index = body_end
    return groups, categories


def _place(run: list[_Paragraph], category: str, subcategory: str) -> tuple[str, str]:
    """Turn the headings in front of a group into its (category, subcategory).

    Allowed shapes: [category], [category, sub-category] (category after 2+
    blank lines, or the very first one), and [sub-category]. Any other heading
    in the run can only be a group whose facts are missing.
    """
    if not run:
        return category, subcategory
    wide = [k for k, p in enumerate(run) if p.blanks_before >= 2]
    if wide and wide[-1] > 0:
        raise _no_facts(run[0], _HEADING_NEXT)
    if wide or not category:
        category, subcategory, rest = run[0].text, "", run[1:]
        if rest:
            subcategory, rest = rest[0].text, rest[1:]
    else:
        subcategory, rest = run[0].text, run[1:]
    if rest:
        raise _no_facts(rest[0], _HEADING_NEXT)
    return category, subcategory


def _check_complete(groups: list[ParsedGroup]) -> None:
    """Cancer type and members say who a group is for; every group of every edition also
    says what it does or where to read about it (focus, scope, key activities or a
    website). A group with neither is most likely a file cut short (a truncated download
    ends in the middle of a group), which must not import."""
    for group in groups:
        if not (group.focus or group.scope or group.key_activities or group.website_url):
            raise DirectoryParseError(
                group.line,
                f"group {group.heading!r} ends without any of its 'Focus:', 'Scope:', 'Key "
                "activities:' or 'Website:' facts (every group has one); is the file complete?",
            )


def _check_unique(groups: list[ParsedGroup]) -> None:
    """The same group twice (by name or acronym) is an editing mistake, not two groups."""
    seen: dict[str, int] = {}
    for group in groups:
        keys = [("name", group.name)] + [("acronym", a) for a in group.acronyms]
        for kind, value in keys:
            key = f"{kind}:{value.casefold()}"
            if key in seen:
                message = f"duplicate group {kind} {value!r} (already used on line {seen[key]})"
                raise DirectoryParseError(group.line, message)
            seen[key] = group.line


# --------------------------------------------------------------------------- one group

_FIELD_BY_LABEL = {
    "cancer type": "cancer_types",
    "cancer types": "cancer_types",
    "cancer type(s)": "cancer_types",
    "diagnoses": "cancer_types",
    "diagnosis": "cancer_types",
    "participants": "participants",
    "participant": "participants",
    "members": "participants",
    "member": "participants",
    "focus": "focus",
    "scope": "scope",
    "key activities": "key_activities",
    "key activity": "key_activities",
    "activities": "key_activities",
}


@dataclass
class _Fact:
    key: str
    label: str
    line: int
    parts: list[str]


def _field_key(label: str) -> str:
    """Map a label to a ParsedGroup field; unknown labels keep their own key."""
    folded = " ".join(label.casefold().split())
    if folded.startswith(("website", "webpage")):
        return "website"
    return _FIELD_BY_LABEL.get(folded, "other:" + folded)


def _collect_facts(heading: _Paragraph, body: list[_Paragraph]) -> list[_Fact]:
    """Group body paragraphs into facts; unlabelled text continues the fact above it."""
    facts: list[_Fact] = []
    seen: dict[str, _Fact] = {}
    for paragraph in body:
        if not paragraph.is_fact:
            facts[-1].parts.append(paragraph.text)
            continue
        key = _field_key(paragraph.label)
        if key in seen:
            first = seen[key]
            raise DirectoryParseError(
                paragraph.line,
                f"label {paragraph.label!r} given twice in group {heading.text!r} "
                f"(first as {first.label!r} on line {first.line})",
            )
        seen[key] = _Fact(key, paragraph.label, paragraph.line, [paragraph.value])
        facts.append(seen[key])
    return facts


def _build_group(
    heading: _Paragraph, body: list[_Paragraph], category: str, subcategory: str
) -> ParsedGroup:
    facts = _collect_facts(heading, body)
    values = {fact.key: "\n\n".join(fact.parts) for fact in facts}
    website = next((fact for fact in facts if fact.key == "website"), None)
    url, link_label, note = ("", "", "")
    if website:
        url, link_label, note = _parse_website(website.label, values["website"])
    name, acronyms = _name_and_acronyms(heading.text)
    members, associates = countries_from_wording(values.get("participants", ""))
    return ParsedGroup(
        line=heading.line,
        heading=heading.text,
        name=name,
        acronyms=acronyms,
        category=category,
        subcategory=subcategory,
        cancer_types=values.get("cancer_types", ""),
        scope=values.get("scope", ""),
        participants=values.get("participants", ""),
        countries=members,
        associate_countries=associates,
        focus=values.get("focus", ""),
        key_activities=values.get("key_activities", ""),
        website_url=url,
        website_label=link_label,
        website_note=note,
        other_facts=tuple((f.label, values[f.key]) for f in facts if f.key.startswith("other:")),
    )


# A parenthesis holding one acronym-like token: no spaces, an uppercase letter, <= 15 chars.
_PAREN_TOKEN = re.compile(r"\(\s*([^()\s]{1,15})\s*\)")


def _name_and_acronyms(heading: str) -> tuple[str, tuple[str, ...]]:
    acronyms: list[str] = []

    def drop_acronym(match: re.Match[str]) -> str:
        token = match.group(1)
        if any(char.isupper() for char in token):
            acronyms.append(token)
            return " "
        return match.group(0)

    name = " ".join(_PAREN_TOKEN.sub(drop_acronym, heading).split())
    return name, tuple(acronyms)


_MARKDOWN_LINK = re.compile(r"\[([^\]]*)\]\(([^)]*)\)")
_ANGLE_LINK = re.compile(r"<([^<>\s]+)>")
_BARE_LINK = re.compile(r"(?:https?://|www\.)[^\s<>]+")


def _as_url(target: str) -> str:
    """Only real addresses count; placeholders such as '#' give ''."""
    target = target.strip().rstrip(".,;")
    if target.startswith(("http://", "https://")):
        return target
    return "https://" + target if target.startswith("www.") else ""


def _parse_website(label: str, value: str) -> tuple[str, str, str]:
    """Return (url, link label, note) from e.g. 'info at <url>' or '[Name](#)'."""
    link_label = ""
    if match := _MARKDOWN_LINK.search(value):
        url, link_label = _as_url(match.group(2)), match.group(1).strip().rstrip("|").strip()
    elif match := _ANGLE_LINK.search(value):
        url = _as_url(match.group(1))
    elif match := _BARE_LINK.search(value):
        url = _as_url(match.group(0))
    else:
        url = ""
    rest = value[: match.start()] + value[match.end() :] if match else value
    label_rest = re.sub(r"^web\s*(?:site|page)s?", "", label, flags=re.I)
    note = " ".join(part for part in (label_rest.strip(), rest.strip(" :-–")) if part)
    return url, link_label, note


# --------------------------------------------------------------------------- countries

_NORDIC = ("DK", "FI", "IS", "NO", "SE")
# Whole-word country names, matched case-insensitively.
_COUNTRY_NAMES = {
    "Denmark": "DK",
    "Finland": "FI",
    "Iceland": "IS",
    "Norway": "NO",
    "Sweden": "SE",
    "Estonia": "EE",
    "Latvia": "LV",
    "Lithuania": "LT",
    "Poland": "PL",
    "Netherlands": "NL",
    "Germany": "DE",
    "Greenland": "GL",
    "Faroe Islands": "FO",
    "Faroes": "FO",
    "Åland Islands": "AX",
    "Åland": "AX",
    "Aland Islands": "AX",
}
# Adjectives and cities are matched case-sensitively: "polish" is also a verb.
_ADJECTIVES = {
    "Danish": "DK",
    "Finnish": "FI",
    "Icelandic": "IS",
    "Norwegian": "NO",
    "Swedish": "SE",
    "Estonian": "EE",
    "Latvian": "LV",
    "Lithuanian": "LT",
    "Polish": "PL",
    "Dutch": "NL",
    "German": "DE",
    "Greenlandic": "GL",
    "Faroese": "FO",
}
_CITIES = {
    "Cologne": "DE",
    "Köln": "DE",
    "Copenhagen": "DK",
    "Aarhus": "DK",
    "Oslo": "NO",
    "Bergen": "NO",
    "Stockholm": "SE",
    "Gothenburg": "SE",
    "Uppsala": "SE",
    "Helsinki": "FI",
    "Reykjavik": "IS",
    "Reykjavík": "IS",
    "Tallinn": "EE",
    "Riga": "LV",
    "Vilnius": "LT",
    "Warsaw": "PL",
    "Amsterdam": "NL",
}
_NAMED = [(re.compile(rf"\b{re.escape(w)}\b", re.I), c) for w, c in _COUNTRY_NAMES.items()] + [
    (re.compile(rf"\b{re.escape(w)}\b"), c) for w, c in (_ADJECTIVES | _CITIES).items()
]
# Collective terms that always stand for a fixed set of countries.
_STRONG = [
    (re.compile(r"\bnordic\s+(?:countries|region|nations)\b|\bnordics\b", re.I), _NORDIC),
    (re.compile(r"\bscandinavi(?:a|an|ans)\b", re.I), ("DK", "NO", "SE")),
    (re.compile(r"\bbaltics?\b", re.I), ("EE", "LT", "LV")),
]
# "Nordic chapter", "Nordic university hospitals": only a hint when nothing else is named.
_WEAK_NORDIC = re.compile(r"(?<!non-)\bnordic\b", re.I)

# Associate partners, tried in this order; each match is moved out of the member text.
_ASSOCIATE_PATTERNS = [
    re.compile(r"\bwith\s+(?P<who>.+?)\s+as\s+associated?\s+members?\b", re.I),
    re.compile(r"(?P<who>\w+(?:\s+Islands)?)\s*\(\s*associated?(?:\s+members?)?\s*\)", re.I),
    re.compile(r"\bassociated?\s+members?\s*(?::|are|include)?\s*(?P<who>.*)$", re.I | re.S),
    re.compile(r"\bcollaborat\w*\s+with\b(?P<who>.*)$", re.I | re.S),
]


def _codes_in(text: str) -> set[str]:
    codes = {code for pattern, code in _NAMED if pattern.search(text)}
    for pattern, collective in _STRONG:
        if pattern.search(text):
            codes.update(collective)
    if not codes and _WEAK_NORDIC.search(text):
        codes.update(_NORDIC)
    return codes


def countries_from_wording(wording: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """ISO 3166 alpha-2 codes (members, associates) named in a Participants/Members text.

    Associate clauses ("with X as associate members", "collaboration with X")
    are split off first so their countries do not count as members.
    """
    members_text, associate_texts = wording, []
    for pattern in _ASSOCIATE_PATTERNS:
        for match in list(pattern.finditer(members_text))[::-1]:
            associate_texts.append(match.group("who"))
            members_text = members_text[: match.start()] + " " + members_text[match.end() :]
    members = _codes_in(members_text)
    associates = set().union(*map(_codes_in, associate_texts)) - members
    return tuple(sorted(members)), tuple(sorted(associates))
