"""Research projects: the application, the four-eyes decision, and the requests for
extracts, each refused with a message naming what is wrong. Writes only; the extract
itself is built by registry.research_extracts in a Celery task.

Four eyes: a consortium admin decides, never on their own application (Normen's
"Veileder for tilgang til helse- og personopplysninger", v2.0, 2022: access is granted by
someone other than the one who uses it, https://www.ehelse.no/normen)."""

from __future__ import annotations

from datetime import date, timedelta

import pghistory
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from consortium.models import Institution, Role, User

from . import research_dictionary as dictionary
from .indicators import DIAGNOSIS_GROUPS
from .research_models import ResearchExtract, ResearchProject

DIAGNOSIS_CODES = {code for _, codes in DIAGNOSIS_GROUPS.values() for code in codes if code}
# Admins who do research apply too; another admin then decides.
APPLICANT_ROLES = {Role.RESEARCHER, Role.CLINICIAN, Role.ADMIN}


def may_apply(user: User) -> bool:
    return user.is_authenticated and user.role in APPLICANT_ROLES


def _check_variables(variables: list[str], allowed: set[str], field: str, what: str) -> None:
    unknown = [v for v in variables if v not in allowed]
    if unknown:
        raise ValidationError({field: [f"{what}: {', '.join(unknown)}."]})


def _check_cohort(diagnoses, regions, year_from, year_to) -> None:
    errors = {}
    unknown = [d for d in diagnoses if d not in DIAGNOSIS_CODES]
    if unknown:
        errors["cohort_diagnoses"] = [
            f"Not a WHO CNS5 diagnosis of the register: {', '.join(unknown)}."
        ]
    bad = [r for r in regions if r not in Institution.HealthRegion.values]
    if bad:
        errors["cohort_regions"] = [f"Not a health region: {', '.join(bad)}."]
    if year_from and year_to and year_from > year_to:
        errors["cohort_year_to"] = ["The last year of diagnosis is before the first."]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def project_apply(
    *,
    by: User,
    title: str,
    purpose: str,
    institution: Institution,
    rek_number: str,
    rek_date: date,
    legal_basis: str,
    end_date: date,
    variables: list[str],
    cohort_diagnoses: list[str] = (),
    cohort_year_from: int | None = None,
    cohort_year_to: int | None = None,
    cohort_regions: list[str] = (),
    researchers: list[User] = (),
) -> ResearchProject:
    if not may_apply(by):
        raise PermissionDenied("Researchers, clinicians and admins apply for research projects.")
    if not by.institutions.filter(pk=institution.pk).exists():
        raise ValidationError({"institution": ["Apply through one of your own institutions."]})
    errors = {}
    if not variables:
        errors["variables"] = ["Choose at least one variable from the data dictionary."]
    if end_date <= timezone.localdate():
        errors["end_date"] = ["The project's end date must be in the future."]
    if rek_date > timezone.localdate():
        errors["rek_date"] = ["The REK approval date is in the future."]
    if errors:
        raise ValidationError(errors)
    _check_variables(
        variables, set(dictionary.variable_map()), "variables", "Not in the data dictionary"
    )
    _check_cohort(cohort_diagnoses, cohort_regions, cohort_year_from, cohort_year_to)
    with pghistory.context(reason="research project applied for"):
        project = ResearchProject.objects.create(
            title=title,
            purpose=purpose,
            applicant=by,
            institution=institution,
            rek_number=rek_number,
            rek_date=rek_date,
            legal_basis=legal_basis,
            end_date=end_date,
            variables=list(dict.fromkeys(variables)),
            cohort_diagnoses=list(cohort_diagnoses),
            cohort_year_from=cohort_year_from,
            cohort_year_to=cohort_year_to,
            cohort_regions=list(cohort_regions),
            dictionary_version=dictionary.version(),
        )
        if researchers:
            project.researchers.set([u for u in researchers if u.role == Role.RESEARCHER])
    return project


@transaction.atomic
def project_decide(
    *, project: ResearchProject, by: User, approve: bool, reason: str, expected_version=None
) -> ResearchProject:
    """A consortium admin approves or declines, with a reason; never their own
    application, and only once."""
    from consortium.services import EditConflict

    if not by.is_consortium_admin:
        raise PermissionDenied("Consortium admins decide on research projects.")
    original, project = project, ResearchProject.objects.select_for_update().get(pk=project.pk)
    if project.applicant_id == by.pk:
        raise PermissionDenied(
            "You applied for this project: another consortium admin must decide (four eyes)."
        )
    if expected_version is not None and int(expected_version) != project.version:
        raise EditConflict("The project changed since you opened it.", changed=["status"])
    if project.status != ResearchProject.Status.SUBMITTED:
        raise ValidationError(
            {"status": [f"The project was already {project.get_status_display().lower()}."]}
        )
    if not reason.strip():
        raise ValidationError({"reason": ["Give the reason for the decision."]})
    project.status = ResearchProject.Status.APPROVED if approve else ResearchProject.Status.DECLINED
    project.decided_by, project.decided_at = by, timezone.now()
    project.decision_reason = reason.strip()
    project.version += 1
    with pghistory.context(reason=f"research project {project.status}: {reason.strip()}"):
        project.save()
    original.refresh_from_db()
    return original


def is_project_researcher(user: User, project: ResearchProject) -> bool:
    return user.pk == project.applicant_id or project.researchers.filter(pk=user.pk).exists()


def project_usable(project: ResearchProject) -> None:
    """Refuses a project that may get nothing: not approved, declined, or past its end."""
    if project.status == ResearchProject.Status.DECLINED:
        raise PermissionDenied(
            f"The project was declined ({project.decision_reason}): it gets no data."
        )
    if project.status != ResearchProject.Status.APPROVED:
        raise PermissionDenied("The project is not approved yet: it gets no data.")
    if project.is_past_end:
        raise PermissionDenied(
            f"The project ended on {project.end_date:%d.%m.%Y}: it gets no more data."
        )


@transaction.atomic
def extract_request(
    *,
    project: ResearchProject,
    by: User,
    variables: list[str] | None = None,
    cohort_diagnoses: list[str] | None = None,
    cohort_year_from: int | None = None,
    cohort_year_to: int | None = None,
    cohort_regions: list[str] | None = None,
) -> ResearchExtract:
    """An extract of the approval (or of part of it); anything outside it is refused,
    named."""
    if not is_project_researcher(by, project):
        raise PermissionDenied("Only the project's researchers request its extracts.")
    project_usable(project)
    variables = list(project.variables if variables is None else variables)
    if not variables:
        raise ValidationError({"variables": ["Choose at least one approved variable."]})
    _check_variables(
        variables, set(project.variables), "variables", "Not approved for this project"
    )
    current = set(dictionary.variable_map())
    _check_variables(
        variables,
        current,
        "variables",
        "No longer in the data dictionary (the register changed since the approval)",
    )
    diagnoses = list(project.cohort_diagnoses if cohort_diagnoses is None else cohort_diagnoses)
    regions = list(project.cohort_regions if cohort_regions is None else cohort_regions)
    errors = {}
    if project.cohort_diagnoses:
        outside = [d for d in diagnoses if d not in project.cohort_diagnoses] or (
            [] if diagnoses else ["all diagnoses"]
        )
        if outside:
            errors["cohort_diagnoses"] = [f"Outside the approved cohort: {', '.join(outside)}."]
    if project.cohort_regions:
        outside = [r for r in regions if r not in project.cohort_regions] or (
            [] if regions else ["all regions"]
        )
        if outside:
            errors["cohort_regions"] = [f"Outside the approved cohort: {', '.join(outside)}."]
    year_from = cohort_year_from if cohort_year_from is not None else project.cohort_year_from
    year_to = cohort_year_to if cohort_year_to is not None else project.cohort_year_to
    if project.cohort_year_from and (year_from or 0) < project.cohort_year_from:
        errors["cohort_year_from"] = [
            f"Outside the approved cohort: diagnosed before {project.cohort_year_from}."
        ]
    if project.cohort_year_to and (year_to or 9999) > project.cohort_year_to:
        errors["cohort_year_to"] = [
            f"Outside the approved cohort: diagnosed after {project.cohort_year_to}."
        ]
    if errors:
        raise ValidationError(errors)
    _check_cohort(diagnoses, regions, year_from, year_to)
    with pghistory.context(reason="research extract requested"):
        return ResearchExtract.objects.create(
            project=project,
            requested_by=by,
            variables=variables,
            cohort_diagnoses=diagnoses,
            cohort_year_from=year_from,
            cohort_year_to=year_to,
            cohort_regions=regions,
            dictionary_version=dictionary.version(),
        )


def extract_expiry(finished_at):
    return finished_at + timedelta(days=settings.NBTC_EXTRACT_DAYS)
