"""The register's refusals that the pages and the API answer in their own way. (A stale edit
is consortium.exceptions.EditConflict, as in every app.)"""

from django.core.exceptions import ValidationError


class UnacknowledgedWarnings(ValidationError):
    """A save whose warnings the member has not acknowledged yet; `.warnings` lists them
    (rules.EntryWarning). The form shows them as tick boxes, the API as a 400 naming them."""

    def __init__(self, warnings: list):
        self.warnings = warnings
        super().__init__(
            {
                "acknowledge_warnings": [
                    f"Warning [{w.code}]: {w.message} Acknowledge to save." for w in warnings
                ]
            }
        )


class BadFilter(Exception):
    """A survival curve's filters that do not fit; `.fields` names each bad one."""

    def __init__(self, fields: dict):
        super().__init__(fields)
        self.fields = fields
