"""Pages of research access (/research/): aggregates for every signed-in member, the data
dictionary, research projects (apply, decide), extracts and the delivery log. Thin: the
research_* selectors and services decide."""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from consortium.csv_safe import safe_writer
from consortium.services import EditConflict, outbox_enqueue

from . import research_aggregates as aggregates
from . import research_dictionary as dictionary
from . import research_extracts, research_services, tasks
from . import research_selectors as selectors
from .research_forms import DecisionForm, ExtractRequestForm, ProjectApplicationForm
from .research_models import ExtractDownload, ResearchExtract, ResearchProject


def research_mfa_required(view):
    """Projects and extracts: signed in with two-factor authentication (researchers too)."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect(f"{reverse('account_login')}?next={request.path}")
        problem = selectors.mfa_problem(request)
        if problem:
            messages.error(request, problem)
            return redirect("mfa_activate_totp")
        return view(request, *args, **kwargs)

    return wrapped


def aggregate_choice(rows: str, columns: str) -> tuple[str, str, str]:
    """The table asked for, made valid, and what was wrong ("" if nothing)."""
    rows = rows if rows in aggregates.DIMENSIONS else "diagnosis"
    columns = columns if columns in aggregates.DIMENSIONS else ""
    if columns and (rows == columns or {rows, columns} == {"diagnosis", "diagnosis_group"}):
        return rows, "", "Choose two different dimensions to cross."
    return rows, columns, ""


@never_cache
@login_required
def aggregate_page(request):
    rows, columns, problem = aggregate_choice(
        request.GET.get("rows", ""), request.GET.get("columns", "")
    )
    table = aggregates.table(rows, columns)
    return render(
        request,
        "registry/research_aggregates.html",
        {
            "table": table,
            "chart": aggregates.chart(table),
            "dimensions": [(d.key, d.label) for d in aggregates.DIMENSIONS.values()],
            "rows": rows,
            "columns": columns,
            "problem": problem,
        },
    )


@never_cache
@login_required
def marker_page(request):
    choices = aggregates.diagnosis_choices()
    diagnosis = request.GET.get("diagnosis") or (choices[0][0] if choices else "")
    profile = aggregates.marker_profile(diagnosis) if diagnosis else None
    return render(
        request,
        "registry/research_markers.html",
        {
            "choices": choices,
            "diagnosis": diagnosis,
            "total": profile[0] if profile else None,
            "markers": profile[1] if profile else [],
            "results": aggregates.MARKER_RESULTS,
        },
    )


@login_required
def dictionary_page(request):
    return render(
        request,
        "registry/research_dictionary.html",
        {"tables": dictionary.tables(), "version": dictionary.version()},
    )


@login_required
def dictionary_csv(request):
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="nbtc-data-dictionary-{dictionary.version()}.csv"'
    )
    safe_writer(response).writerows(dictionary.redcap_rows())
    return response


# --- Projects ------------------------------------------------------------------------------


@never_cache
@research_mfa_required
def project_list(request):
    return render(
        request,
        "registry/research_projects.html",
        {
            "projects": selectors.projects_visible_to(request.user)[:200],
            "may_apply": research_services.may_apply(request.user),
        },
    )


@never_cache
@research_mfa_required
def project_apply(request):
    if not research_services.may_apply(request.user):
        raise PermissionDenied("Researchers and clinicians apply for research projects.")
    form = ProjectApplicationForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            project = research_services.project_apply(
                by=request.user,
                researchers=list(data.pop("researchers")),
                **data,
            )
        except ValidationError as error:
            for field, problems in error.message_dict.items():
                form.add_error(field if field in form.fields else None, problems)
        else:
            messages.success(request, "Your application was sent to the consortium admins.")
            return redirect(project)
    return render(request, "registry/research_apply.html", {"form": form})


@never_cache
@research_mfa_required
def project_detail(request, project_id: int):
    project = selectors.project_get(user=request.user, project_id=project_id)
    user = request.user
    may_decide = (
        user.is_consortium_admin
        and project.status == ResearchProject.Status.SUBMITTED
        and project.applicant_id != user.pk
    )
    is_researcher = research_services.is_project_researcher(user, project)
    may_extract = ""
    if is_researcher:
        try:
            research_services.project_usable(project)
        except PermissionDenied as refusal:
            may_extract = str(refusal)
    variables = dictionary.variable_map()
    return render(
        request,
        "registry/research_project.html",
        {
            "project": project,
            "history": selectors.project_history(project),
            "variables": [variables.get(name) or name for name in project.variables],
            "decision_form": DecisionForm(initial={"version": project.version})
            if may_decide
            else None,
            "own_application": user.is_consortium_admin and project.applicant_id == user.pk,
            "extract_form": ExtractRequestForm(project=project)
            if is_researcher and not may_extract
            else None,
            "extract_refusal": may_extract,
            "extracts": project.extracts.select_related("requested_by").prefetch_related("files"),
        },
    )


@research_mfa_required
@require_POST
def project_decide(request, project_id: int):
    project = selectors.project_get(user=request.user, project_id=project_id)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose approve or decline and give the reason.")
        return redirect(project)
    try:
        research_services.project_decide(
            project=project,
            by=request.user,
            approve=form.cleaned_data["decision"] == "approve",
            reason=form.cleaned_data["reason"],
            expected_version=form.cleaned_data["version"],
        )
    except (ValidationError, EditConflict) as error:
        messages.error(request, " ".join(getattr(error, "messages", [str(error)])))
    else:
        messages.success(request, "Decision recorded.")
    return redirect(project)


@research_mfa_required
@require_POST
def extract_start(request, project_id: int):
    project = selectors.project_get(user=request.user, project_id=project_id)
    form = ExtractRequestForm(request.POST, project=project)
    if not form.is_valid():
        messages.error(request, " ".join(m for e in form.errors.values() for m in e))
        return redirect(project)
    try:
        extract = research_services.extract_request(
            project=project, by=request.user, variables=form.cleaned_data["variables"]
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(project)
    outbox_enqueue(tasks.build_research_extract, extract.pk)
    return redirect(extract)


@never_cache
@research_mfa_required
def extract_detail(request, extract_id: int):
    extract = selectors.extract_get(user=request.user, extract_id=extract_id)
    template = (
        "registry/_research_extract_status.html"
        if request.headers.get("HX-Request")
        else "registry/research_extract.html"
    )
    return render(
        request,
        template,
        {
            "extract": extract,
            "files": extract.files.all(),
            "download_refusal": selectors.may_download(request.user, extract),
        },
    )


@never_cache
@research_mfa_required
def extract_download(request, extract_id: int, file_id: int):
    file = selectors.extract_file_get(user=request.user, extract_id=extract_id, file_id=file_id)
    refusal = selectors.may_download(request.user, file.extract)
    if refusal:
        raise PermissionDenied(refusal)
    path = research_extracts.file_path(file)
    if not path.exists():
        raise Http404("The file is no longer kept.")
    ExtractDownload.objects.create(file=file, by=request.user)
    content_type = "text/csv; charset=utf-8" if file.format == "csv" else "application/octet-stream"
    return FileResponse(
        path.open("rb"), as_attachment=True, filename=file.name, content_type=content_type
    )


@never_cache
@research_mfa_required
def delivery_list(request):
    if not request.user.is_consortium_admin:
        raise PermissionDenied("The delivery log is for consortium admins.")
    return render(
        request,
        "registry/research_deliveries.html",
        {"extracts": selectors.deliveries()[:500], "statuses": ResearchExtract.Status},
    )
