"""Domain rules of the shared core: which roles fit which kinds of institution."""

from .models import Institution, Role

Kind = Institution.Kind

# A role whose work is defined by its institution's kind: a clinician sees the patients of
# their hospitals, a lab scientist works their screening lab's queue. At another kind of
# institution the account would open nothing, so the invitation is refused.
REQUIRED_KIND = {
    Role.CLINICIAN: Kind.HOSPITAL,
    Role.LAB_SCIENTIST: Kind.LAB,
}
# Roles with a usual kind that has sensible exceptions (a trial unit at a university, a
# researcher employed by a hospital): another kind is asked to be confirmed.
USUAL_KINDS = {
    Role.COORDINATOR: {Kind.HOSPITAL},
    Role.RESEARCHER: {Kind.RESEARCH_INSTITUTE},
}


def _names(institutions) -> str:
    return ", ".join(f"{i.code} ({i.get_kind_display().lower()})" for i in institutions)


def role_institution_refusal(role: str, institutions: list[Institution]) -> str:
    """Why the role cannot be given at these institutions ("" when it can)."""
    required = REQUIRED_KIND.get(role)
    wrong = [i for i in institutions if required and i.kind != required]
    if not wrong:
        return ""
    return (
        f"A {Role(role).label.lower()} works at a {Kind(required).label.lower()}: "
        f"{_names(wrong)} is not one."
    )


def role_institution_question(role: str, institutions: list[Institution]) -> str:
    """What an admin confirms when the role is unusual at these institutions ("" if not)."""
    usual = USUAL_KINDS.get(role)
    unusual = [i for i in institutions if usual and i.kind not in usual]
    if not unusual:
        return ""
    kinds = " or ".join(Kind(k).label.lower() for k in sorted(usual))
    return (
        f"A {Role(role).label.lower()} usually works at a {kinds}; {_names(unusual)} is "
        "not. Tick the confirmation if this is right."
    )
