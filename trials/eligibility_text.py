"""The registered eligibility text as the Markdown it is. ClinicalTrials.gov API v2
returns eligibilityCriteria as CommonMark-style Markdown with backslash escapes
("\\>= 18 years", "\\<"), list items under "Inclusion Criteria:" and two-space nested
lists (https://clinicaltrials.gov/data-api/about-api/study-data-structure, "Eligibility
Criteria": "Markdown"). Rendered with Python-Markdown and then sanitised with nh3 (the
Ammonia HTML sanitiser): whatever a record holds, only plain formatting tags come out."""

import re

import markdown
import nh3

ALLOWED_TAGS = {
    "p", "br", "ul", "ol", "li", "strong", "em", "b", "i", "code", "pre",
    "blockquote", "h3", "h4", "h5", "h6", "hr", "sub", "sup",
}  # fmt: skip

# A backslash before ASCII punctuation is a Markdown escape (CommonMark §2.4). Python-
# Markdown knows only some of them, so "\<" would show with its backslash: resolve them
# first, writing <, > and & as entities so no escape can open a tag.
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_ENTITY = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
# Python-Markdown nests a list by four spaces; the registry's records indent by two.
_INDENT = re.compile(r"^( +)(?=[*+-] |\d+\. )", re.MULTILINE)


def _unescape(match: re.Match) -> str:
    char = match.group(1)
    if char in _ENTITY:
        return _ENTITY[char]
    # Keep the escape where the character means something to Markdown (a literal *).
    return "\\" + char if char in "\\`*_{}[]()#+-.!" else char


def to_html(text: str) -> str:
    if not text:
        return ""
    text = _ESCAPE.sub(_unescape, text.replace("\r\n", "\n"))
    text = _INDENT.sub(lambda m: " " * (4 * ((len(m.group(1)) + 1) // 2)), text)
    html = markdown.markdown(text, extensions=["sane_lists"])
    # Heading-like lines ("Inclusion Criteria:") stay paragraphs; lists need a blank line
    # before them in Markdown, which the records do not always have.
    return nh3.clean(html, tags=ALLOWED_TAGS, attributes={})


# Private-use characters (never in a registry text, kept by Markdown and nh3) stand for
# the marks while the text is rendered; each becomes a tag afterwards.
_OPEN, _CLOSE, _END = "\ue000", "\ue001", "\ue002"
_TOKEN = re.compile(f"{_OPEN}([0-9 ]*)\\|([a-z_ -]*)\\|([0-9 ]*){_END}|{_CLOSE}")


def to_html_marked(text: str, spans: list) -> str:
    """to_html with each (id, start, end, status) span of the stored text marked: cut at
    every span boundary, so overlapping spans never nest wrongly; each span's start carries
    an anchor (#span-<id>) for its suggestion's link."""
    if not text:
        return ""
    text = text.replace(_OPEN, "").replace(_CLOSE, "").replace(_END, "")
    spans = [s for s in spans if 0 <= s[1] < s[2] <= len(text)]
    cuts = sorted({*(s[1] for s in spans), *(s[2] for s in spans)})
    pieces, last, open_ = [], 0, False
    for cut in cuts:
        pieces.append(text[last:cut])
        last = cut
        if open_:
            pieces.append(_CLOSE)
            open_ = False
        active = [s for s in spans if s[1] <= cut < s[2]]
        if active:
            ids = " ".join(str(s[0]) for s in active)
            statuses = " ".join(sorted({f"status-{s[3]}" for s in active}))
            starting = " ".join(str(s[0]) for s in spans if s[1] == cut)
            pieces.append(f"{_OPEN}{ids}|{statuses}|{starting}{_END}")
            open_ = True
    pieces.append(text[last:])
    html = to_html("".join(pieces))

    def tag(m: re.Match) -> str:
        if m.group(0) == _CLOSE:
            return "</mark>"
        anchors = "".join(
            f'<span class="span-anchor" id="span-{i}"></span>' for i in m.group(3).split()
        )
        return (
            f'{anchors}<mark class="suggestion-span {m.group(2)}" data-suggestions="{m.group(1)}">'
        )

    return _TOKEN.sub(tag, html)
