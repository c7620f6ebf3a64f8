"""Checks on text that arrives from outside (requests, uploaded files, the directory file).

A NUL character (U+0000) has no business in any of it, and PostgreSQL cannot store one in
text or jsonb ("A string literal cannot contain NUL (0x00) characters"), so it surfaced as a
500. It is refused where the text comes in, naming the field or the line. Plain Python (no
Django), so the directory parser can use it too."""

NUL = "\x00"
NUL_MESSAGE = "contains a NUL character (\\x00), which is not allowed"


def nul_line(text: str) -> int | None:
    """The 1-based line of the first NUL in `text`, or None."""
    at = text.find(NUL)
    return None if at < 0 else text.count("\n", 0, at) + 1


def nul_in(value) -> bool:
    """Whether a NUL is anywhere in `value` (text, or JSON-like lists and dicts)."""
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(nul_in(k) or nul_in(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(nul_in(v) for v in value)
    return False


def text_lines(text: str):
    """The lines of `text` (each with its newline), one at a time and without copying the
    text first (io.StringIO would hold a second, wider copy): parsers that read them stop
    at the first bad line having read only that far."""
    start, end = 0, len(text)
    while start < end:
        stop = text.find("\n", start)
        stop = end if stop < 0 else stop + 1
        yield text[start:stop]
        start = stop
