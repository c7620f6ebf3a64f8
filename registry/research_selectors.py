"""Reads of research projects and their deliveries, as a member may see them.

- A project is seen by its applicant, its researchers and the consortium admins; anyone
  else gets 404, as if it did not exist.
- A delivery's files are downloaded only by the project's researchers (the applicant and
  those named), while the delivery has not expired and the project has not ended; admins
  list every delivery (the log) but download nothing.
- Projects and extracts are pseudonymised patient data: the member must use two-factor
  sign-in, researchers included (OWASP ASVS 5.0 6.3.3, https://github.com/OWASP/ASVS;
  Normen Faktaark 14, https://www.ehelse.no/normen/faktaark/faktaark-14-tilgangsstyring)."""

from __future__ import annotations

from allauth.mfa.utils import is_mfa_enabled
from django.db.models import Q, QuerySet
from django.http import Http404

from consortium.middleware import passed_mfa_step
from consortium.models import User

from .research_models import ExtractFile, ResearchExtract, ResearchProject

MFA_NEEDED = (
    "Research projects and extracts need two-factor sign-in: set it up on your account "
    "(Two-factor authentication) and sign in with it."
)


def mfa_problem(request) -> str:
    """Why this request may not reach research projects ("" when it may)."""
    user = request.user
    if not user.is_authenticated:
        return "Sign in first."
    if not is_mfa_enabled(user):
        return MFA_NEEDED
    if getattr(request, "auth", None) is not None:
        return ""  # an API token: made only in a session that passed the MFA step
    if not passed_mfa_step(getattr(request, "_request", request), user):
        return MFA_NEEDED
    return ""


def projects_visible_to(user: User) -> QuerySet[ResearchProject]:
    projects = ResearchProject.objects.select_related("applicant", "institution", "decided_by")
    if user.is_consortium_admin:
        return projects
    return projects.filter(Q(applicant=user) | Q(researchers=user)).distinct()


def project_get(*, user: User, project_id: int) -> ResearchProject:
    try:
        return projects_visible_to(user).get(pk=project_id)
    except ResearchProject.DoesNotExist:
        raise Http404("No such research project.") from None


def extracts_visible_to(user: User) -> QuerySet[ResearchExtract]:
    extracts = ResearchExtract.objects.select_related("project", "requested_by")
    if user.is_consortium_admin:
        return extracts
    return extracts.filter(Q(project__applicant=user) | Q(project__researchers=user)).distinct()


def extract_get(*, user: User, extract_id: int) -> ResearchExtract:
    try:
        return extracts_visible_to(user).get(pk=extract_id)
    except ResearchExtract.DoesNotExist:
        raise Http404("No such extract.") from None


def may_download(user: User, extract: ResearchExtract) -> str:
    """Why the member may not download this delivery's files ("" when they may)."""
    project = extract.project
    if user.pk != project.applicant_id and not project.researchers.filter(pk=user.pk).exists():
        return "Only the project's researchers download its deliveries."
    if extract.status != ResearchExtract.Status.DONE and not extract.is_expired:
        return "The extract is not ready."
    if extract.is_expired:
        return f"The delivery expired on {extract.expires_at:%d.%m.%Y}: request a new extract."
    if project.is_past_end:
        return f"The project ended on {project.end_date:%d.%m.%Y}: it gets nothing more."
    return ""


def extract_file_get(*, user: User, extract_id: int, file_id: int) -> ExtractFile:
    extract = extract_get(user=user, extract_id=extract_id)
    try:
        return extract.files.select_related("extract__project").get(pk=file_id)
    except ExtractFile.DoesNotExist:
        raise Http404("No such file.") from None


def project_history(project: ResearchProject) -> list[dict]:
    """Each step of the project (applied, approved or declined), oldest first: pghistory's
    trigger-written events with the context the services and the middleware set."""
    from django.apps import apps

    event_model = apps.get_model("registry", "ResearchProjectEvent")
    events = list(
        event_model.objects.filter(pgh_obj=project)
        .select_related("pgh_context")
        .order_by("pgh_created_at", "pgh_id")
    )
    contexts = [(e.pgh_context.metadata if e.pgh_context else {}) for e in events]
    users = User.objects.in_bulk({c.get("user") for c in contexts if c.get("user")})
    return [
        {
            "at": e.pgh_created_at,
            "status": e.get_status_display(),
            "by": users.get(c.get("user")),
            "reason": c.get("reason", ""),
        }
        for e, c in zip(events, contexts, strict=True)
    ]


def deliveries() -> QuerySet[ResearchExtract]:
    return ResearchExtract.objects.select_related("project", "requested_by").prefetch_related(
        "files"
    )
