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


class PatientAlreadyRegistered(ValidationError):
    """A registration of a national ID that the clinician's own institutions already hold:
    not a second record, a link to the one there is (`.patient`). Only raised for a patient
    the clinician already sees, so it reveals nothing; a patient of another hospital alone
    goes through the declared care relationship instead (docs/registry-rules.md §5)."""

    def __init__(self, patient):
        self.patient = patient
        super().__init__(
            {
                "national_id": [
                    f"This national ID is already registered at your institution, as patient "
                    f"{patient.register_number}: open that record instead of registering the "
                    "patient again."
                ]
            }
        )


class BadFilter(Exception):
    """A survival curve's filters that do not fit; `.fields` names each bad one."""

    def __init__(self, fields: dict):
        super().__init__(fields)
        self.fields = fields
