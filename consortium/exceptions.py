"""Refusals of the consortium's services that are not a field error: the pages and the API
turn each into its answer (EditConflict -> 409 in consortium/api.py's exception handler).
Every app raises these; an app's own refusals live in its exceptions.py."""


class EditConflict(Exception):
    """Someone else saved the record since this edit was loaded."""


class PasswordRefused(Exception):
    """The re-entered password was wrong, or not checked because the account is locked."""

    def __init__(self, *, locked: bool):
        super().__init__("locked" if locked else "wrong")
        self.locked = locked


class LargeRemovalRefused(Exception):
    """The directory edition would take too many groups off the public list."""
