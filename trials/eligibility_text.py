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
