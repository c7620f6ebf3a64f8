"""The one CSV writer of the platform: every export goes through `safe_writer`.

A spreadsheet opening a CSV runs a cell that starts with `=`, `+`, `-` or `@` as a formula
(a trial titled `=HYPERLINK(...)` becomes a link that can send data elsewhere); a leading
tab, carriage return, newline or NUL can hide such a start. Such text cells get a leading
single quote, which spreadsheets show as text, and every cell is quoted (RFC 4180). Real
numbers stay numbers. OWASP "CSV Injection" (https://owasp.org/www-community/attacks/
CSV_Injection), CWE-1236 (https://cwe.mitre.org/data/definitions/1236.html), ASVS 5.0
1.2.10. tests/consortium/test_csv_exports.py checks that no other module writes CSV."""

import csv
from numbers import Number

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")


_PLAIN = (int, float)


def neutralise(value):
    if value is None or type(value) in _PLAIN or isinstance(value, Number):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class SafeWriter:
    """csv.writer's writerow/writerows, with every cell neutralised first."""

    def __init__(self, stream, **kwargs):
        self._writer = csv.writer(stream, quoting=csv.QUOTE_ALL, **kwargs)

    def writerow(self, row):
        return self._writer.writerow([neutralise(v) for v in row])

    def writerows(self, rows):
        for row in rows:
            self.writerow(row)


def safe_writer(stream, **kwargs) -> SafeWriter:
    return SafeWriter(stream, **kwargs)
