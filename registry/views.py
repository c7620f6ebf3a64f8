"""Pages of the register. Views stay thin: selectors decide who sees what (anything
else is 404), services write and run the entry rules, and every page that shows a
patient writes the access log and is never cached."""

import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from consortium.filters import errors_in_words, keyset_page_for, list_page_context, without_blanks
from consortium.forms import add_service_errors, write_with_form
from consortium.jinja2 import render_fragment
from consortium.redirects import safe_next
from consortium.services import patient_access_log

from . import indicator_selectors, panels, rules, selectors, services
from .exceptions import PatientAlreadyRegistered, UnacknowledgedWarnings
from .filters import HistoryFilter, PatientFilter, WorklistFilter
from .forms import (
    EpisodeForm,
    HNumberReplaceForm,
    MarkersForm,
    PatientCreateForm,
    PatientEditForm,
    ReopenForm,
    SearchForm,
)
from .models import FormDraft, Patient
from .sections import BY_PATH

PAGE_SIZE = 25


def _apply_errors(form, error: ValidationError) -> None:
    """The service's errors on the form; unacknowledged warnings become tick boxes."""
    if isinstance(error, PatientAlreadyRegistered):
        form.existing_patient = error.patient  # the page links to it (patient_form.html)
    if isinstance(error, UnacknowledgedWarnings):
        form.fields["acknowledge_warnings"].choices = [(w.code, w.message) for w in error.warnings]
        form.add_error(None, "Please read the warnings below; tick them to save anyway.")
        return
    add_service_errors(form, error)


def _save(request, form, write, success: str):
    return write_with_form(request, form, write, success, on_error=_apply_errors)


def _patient(request, register_number: str, page: str):
    patient = selectors.patient_get(user=request.user, register_number=register_number)
    patient_access_log(request, patient_ids=[patient.pk], page=page)
    return patient


def _require_editor(request, patient) -> None:
    if not selectors.can_edit_patient(request.user, patient):
        raise PermissionDenied("Only clinicians of the patient's institutions edit the report.")


def _draft(request, patient, form_key: str):
    """The member's autosaved input for this form, if any (restored into the form)."""
    if request.method != "GET":
        return None
    return FormDraft.objects.filter(
        user=request.user, patient=patient, form_key=form_key, data__isnull=False
    ).first()


def _drop_draft(request, patient, form_key: str) -> None:
    """The form is saved: its draft goes, and late autosaves from the same rendering of the
    form (its token) are ignored rather than bringing the draft back."""
    FormDraft.objects.update_or_create(
        user=request.user,
        patient=patient,
        form_key=form_key,
        defaults={"data": None, "token": request.POST.get("draft_token", "")[:32]},
    )


def _initial_from(draft) -> dict:
    if not draft:
        return {}
    return {k: v[0] if len(v) == 1 else v for k, v in draft.data.items()}


# --- Patients --------------------------------------------------------------------------


def _list_patients(request, query: str):
    return selectors.with_diagnosis(selectors.patient_search(user=request.user, query=query))


@never_cache
@login_required
@sensitive_post_parameters("q")
def patient_list(request):
    """The patients the member may see, with search. A national ID is searched by POST,
    so it never appears in a URL (or the server's access log)."""
    if not request.user.sees_register:
        raise PermissionDenied("Only clinicians, coordinators and admins see patient records.")
    form = SearchForm(request.POST if request.method == "POST" else request.GET)
    query = form.cleaned_data["q"] if form.is_valid() else ""
    if request.method == "GET" and selectors.looks_like_national_id(query):
        messages.error(
            request, "Search for a national ID with the search box: it must not appear in a URL."
        )
        return redirect("registry:patient_list")
    refused = selectors.identity_search_refused(request.user, query)
    # The list as a member opens it and a name search as typed (most views of it: no filter
    # or cursor) read their first page by prepared queries (selectors.opened_list_page,
    # name_search_first_page); any other page, by keyset.
    filters = PatientFilter(
        without_blanks(request.GET), queryset=Patient.objects.none(), request=request
    )
    first = None
    if not request.GET.get("after") and not request.GET.get("before"):
        first = (
            selectors.name_search_first_page(request.user, query, filters, PAGE_SIZE)
            if query.strip()
            else selectors.opened_list_page(request.user, filters, PAGE_SIZE)
        )
    if first:
        (page, count), errors = first, []
    else:
        filters.queryset = _list_patients(request, query)
        page, errors = keyset_page_for(request, filters, size=PAGE_SIZE)
        count = selectors.patient_list_count(
            request.user,
            filters.queryset if errors else filters.qs,
            narrowed=bool(query.strip()) or (not errors and filters.narrowed),
        )
    patient_access_log(request, patient_ids=[p.pk for p in page], page="registry:patient_list")
    for patient in page:
        patient.diagnosis_label = selectors.diagnosis_in_words(patient)
    # The pages' links keep the search (never a national ID: that one is POSTed) and filters.
    keep = without_blanks(request.GET)
    for name in ("after", "before", "q"):
        keep.pop(name, None)
    if query and not selectors.looks_like_national_id(query):
        keep["q"] = query
    context = {
        "form": form,
        "filters": filters,
        "errors": errors,
        "page": page,
        "count": count,
        "sort": filters.sort_value,
        "keep": keep,
        "query": query,
        "cap": selectors.SEARCH_COUNT_CAP,
        "patients_url": reverse("registry:patient_list") + "patients/",
        "can_register": request.user.registers_patients,
        "show_names": selectors.shows_names(request.user),
        "refused": refused,
    }
    context["rows"] = render_fragment("registry/patient_list_rows.html", context)
    if request.headers.get("HX-Request"):
        return render(
            request, "registry/patient_list.html#results", context, status=400 if errors else 200
        )
    return render(request, "registry/patient_list.html", context, status=400 if errors else 200)


@never_cache
@login_required
@sensitive_post_parameters("national_id", "full_name")
def patient_create(request):
    if not request.user.registers_patients:
        raise PermissionDenied("Only clinicians register patients.")
    own = list(request.user.institutions.filter(kind="hospital"))
    form = PatientCreateForm(request.POST or None, initial={"institutions": own})
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        data.pop("treats_patient")  # required by the form: every registration declares it
        patient = _save(
            request,
            form,
            lambda: services.patient_register(
                by=request.user,
                national_id_value=data.pop("national_id"),
                institutions=list(data.pop("institutions")),
                reason=data.pop("reason"),
                care_reason=data.pop("care_reason"),
                allow_synthetic=settings.ALLOW_SYNTHETIC_NATIONAL_IDS,
                **data,
            ),
            "Patient registered.",
        )
        if patient and patient.declared_care:
            _log_declaration(request, patient)
        if patient:
            return redirect(patient)
    existing = getattr(form, "existing_patient", None)
    if existing is not None:
        # The page names the record the clinician's institution already has.
        patient_access_log(
            request, patient_ids=[existing.pk], page="registry:patient_already_registered"
        )
    return render(request, "registry/patient_form.html", {"form": form, "existing": existing})


def _log_declaration(request, patient) -> None:
    """The declaration opened an existing record to the clinician: access-logged, and
    said plainly (the "Patient registered." of write_with_form does not fit)."""
    patient_access_log(request, patient_ids=[patient.pk], page="registry:care_declaration")
    list(messages.get_messages(request))  # drop "Patient registered."
    messages.info(
        request,
        "The patient was already in the register. Your institution is now linked to the "
        "record, on your declared care relationship; the patient's other institutions see "
        "the declaration. The record's details were kept: check them.",
    )


@never_cache
@login_required
def patient_detail(request, register_number: str):
    patient = _patient(request, register_number, "registry:patient")
    episodes = selectors.patient_episodes(patient)
    patient_url = patient.get_absolute_url()
    for episode in episodes:
        # The episode's pages hang below this; built once, not reversed per link.
        episode.url = f"{patient_url}episodes/{episode.pk}/"
        episode.missing = rules.missing_items(episode)
        episode.warning_list = selectors.episode_warnings(episode)
    user = request.user
    context = {
        "user": user,
        "patient": patient,
        "episodes": episodes,
        "timeline": selectors.timeline(patient, episodes),
        "show_national_id": selectors.shows_national_id(user, patient),
        "show_name": selectors.shows_names(user),
        "can_edit": user.registers_patients,  # and may see the patient: patient_get passed
        "can_reopen": user.reopens_reports,
        "panels": panels.render_all(request, patient),
        "care_declarations": selectors.care_declarations(patient),
    }
    # The page's body is Jinja2 (consortium/jinja2.py says why); base.html places it.
    body = render_fragment("registry/patient_detail_body.html", context)
    return render(request, "registry/patient_detail.html", context | {"body": body})


@never_cache
@login_required
@sensitive_post_parameters("national_id")
def patient_replace_h_number(request, register_number: str):
    """A clinician enters the person's national ID for a record with a temporary H-number."""
    patient = _patient(request, register_number, "registry:patient_national_id")
    _require_editor(request, patient)
    if not patient.has_h_number:
        messages.info(request, "This record has no H-number to replace.")
        return redirect(patient)
    form = HNumberReplaceForm(request.POST or None, initial={"version": patient.version})
    duplicate = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        result = _save(
            request,
            form,
            lambda: services.patient_replace_h_number(
                patient=patient,
                by=request.user,
                national_id_value=data["national_id"],
                care_reason=data["care_reason"],
                reason=data["reason"],
                expected_version=data["version"],
                allow_synthetic=settings.ALLOW_SYNTHETIC_NATIONAL_IDS,
            ),
            "The H-number is replaced by the national ID; the H-number stays in the history.",
        )
        if result and result.duplicate is None:
            return redirect(result.patient)
        if result:
            list(messages.get_messages(request))  # not replaced: drop the success message
            duplicate = result.duplicate
            patient_access_log(
                request, patient_ids=[duplicate.pk], page="registry:care_declaration"
            )
            form.add_error(
                "national_id", services.duplicate_message(duplicate, linked=result.linked)
            )
    return render(
        request,
        "registry/patient_national_id.html",
        {"patient": patient, "form": form, "duplicate": duplicate},
    )


@never_cache
@login_required
@sensitive_post_parameters("full_name")
def patient_edit(request, register_number: str):
    patient = _patient(request, register_number, "registry:patient_edit")
    _require_editor(request, patient)
    key = "patient"
    draft = _draft(request, patient, key)
    form = PatientEditForm(request.POST or None, instance=patient, initial=_initial_from(draft))
    if request.method == "POST" and form.is_valid():
        data = form.changes()
        if _save(
            request,
            form,
            lambda: services.patient_update(
                patient=patient,
                by=request.user,
                expected_version=form.cleaned_data["version"],
                reason=form.cleaned_data["reason"],
                institutions=list(form.cleaned_data["institutions"]),
                **data,
            ),
            "Patient details saved.",
        ):
            _drop_draft(request, patient, key)
            return redirect(patient)
    return render(
        request,
        "registry/section_form.html",
        {
            "form": form,
            "patient": patient,
            "title": "Patient details",
            "form_key": key,
            "draft": draft,
            "draft_token": uuid.uuid4().hex,
        },
    )


# --- Episodes and sections -------------------------------------------------------------


@never_cache
@login_required
def episode_form(request, register_number: str, episode_id: int | None = None):
    patient = _patient(request, register_number, "registry:episode")
    _require_editor(request, patient)
    episode = (
        selectors.episode_get(user=request.user, patient=patient, episode_id=episode_id)
        if episode_id
        else None
    )
    key = f"episode-{episode_id or 'new'}"
    draft = _draft(request, patient, key)
    form = EpisodeForm(request.POST or None, instance=episode, initial=_initial_from(draft))
    if request.method == "POST" and form.is_valid():
        saved = _save(
            request,
            form,
            lambda: services.episode_save(
                patient=patient,
                by=request.user,
                episode=episode,
                expected_version=form.cleaned_data["version"],
                reason=form.cleaned_data["reason"],
                acknowledge=form.cleaned_data["acknowledge_warnings"],
                **form.changes(),
            ),
            "Diagnosis saved.",
        )
        if saved:
            _drop_draft(request, patient, key)
            return redirect(f"{patient.get_absolute_url()}#episode-{saved.pk}")
    return render(
        request,
        "registry/section_form.html",
        {
            "form": form,
            "patient": patient,
            "episode": episode,
            "form_key": key,
            "draft": draft,
            "draft_token": uuid.uuid4().hex,
            "title": "Diagnosis" if episode else "New tumour episode",
        },
    )


@never_cache
@login_required
def markers_form(request, register_number: str, episode_id: int):
    patient = _patient(request, register_number, "registry:markers")
    _require_editor(request, patient)
    episode = selectors.episode_get(user=request.user, patient=patient, episode_id=episode_id)
    key = f"markers-{episode.pk}"
    draft = _draft(request, patient, key)
    form = MarkersForm(request.POST or None, episode=episode, initial=_initial_from(draft))
    if request.method == "POST" and form.is_valid():
        if _save(
            request,
            form,
            lambda: services.markers_save(
                episode=episode,
                by=request.user,
                results=form.results(),
                expected_version=form.cleaned_data["version"],
                reason=form.cleaned_data["reason"],
                acknowledge=form.cleaned_data["acknowledge_warnings"],
            ),
            "Molecular markers saved.",
        ):
            _drop_draft(request, patient, key)
            return redirect(f"{patient.get_absolute_url()}#episode-{episode.pk}")
    return render(
        request,
        "registry/markers_form.html",
        {
            "form": form,
            "patient": patient,
            "episode": episode,
            "form_key": key,
            "draft": draft,
            "draft_token": uuid.uuid4().hex,
        },
    )


def _section(path: str):
    """The section at this URL segment (registry/sections.py), else 404."""
    if path not in BY_PATH:
        raise Http404("No such section.")
    return BY_PATH[path]


@never_cache
@login_required
def section_form(
    request, register_number: str, episode_id: int, section: str, pk: int | None = None
):
    section = _section(section)
    patient = _patient(request, register_number, f"registry:{section.key}")
    _require_editor(request, patient)
    episode = selectors.episode_get(user=request.user, patient=patient, episode_id=episode_id)
    row = None if pk is None else get_object_or_404(section.model, pk=pk, episode=episode)
    key = f"{section.key}-{episode.pk}-{pk or 'new'}"
    draft = _draft(request, patient, key)
    form = section.form(request.POST or None, instance=row, initial=_initial_from(draft))
    if request.method == "POST" and form.is_valid():
        if _save(
            request,
            form,
            lambda: services.section_save(
                section=section.key,
                episode=episode,
                by=request.user,
                row=row,
                expected_version=form.cleaned_data["version"],
                reason=form.cleaned_data["reason"],
                acknowledge=form.cleaned_data["acknowledge_warnings"],
                **form.changes(),
            ),
            f"{section.label} saved.",
        ):
            _drop_draft(request, patient, key)
            return redirect(f"{patient.get_absolute_url()}#episode-{episode.pk}")
    return render(
        request,
        "registry/section_form.html",
        {
            "form": form,
            "patient": patient,
            "episode": episode,
            "form_key": key,
            "draft": draft,
            "draft_token": uuid.uuid4().hex,
            "title": section.label,
            "row": row,
            "section": section,
        },
    )


@require_POST
@login_required
def section_delete(request, register_number: str, episode_id: int, section: str, pk: int):
    section = _section(section)
    patient = _patient(request, register_number, f"registry:{section.key}_delete")
    _require_editor(request, patient)
    episode = selectors.episode_get(user=request.user, patient=patient, episode_id=episode_id)
    row = get_object_or_404(section.model, pk=pk, episode=episode)
    try:
        services.section_delete(
            section=section.key,
            episode=episode,
            row=row,
            by=request.user,
            reason=request.POST.get("reason", ""),
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"{section.label} removed (kept in the history).")
    return redirect(f"{patient.get_absolute_url()}#episode-{episode.pk}")


@never_cache
@login_required
def episode_submit(request, register_number: str, episode_id: int):
    """Submit as complete, in two steps (no script needed): this page lists what the report
    still lacks, what candidate trials would still like recorded (registry.panels) and
    asks to confirm; only the confirming POST (`confirm`) locks the report."""
    patient = _patient(request, register_number, "registry:episode_submit")
    _require_editor(request, patient)
    episode = selectors.episode_get(user=request.user, patient=patient, episode_id=episode_id)
    back = f"{patient.get_absolute_url()}#episode-{episode.pk}"
    refused = False
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        try:
            services.episode_submit(episode=episode, by=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            refused = True
        else:
            messages.success(request, "Report submitted as complete; it is now locked.")
            return redirect(back)
    elif episode.is_locked:
        return redirect(back)
    preview = selectors.submit_preview(user=request.user, episode=episode)
    return render(
        request,
        "registry/submit_confirm.html",
        {"patient": patient, "episode": preview.episode, "preview": preview, "back": back},
        status=400 if refused else 200,
    )


@never_cache
@login_required
def episode_reopen(request, register_number: str, episode_id: int):
    patient = _patient(request, register_number, "registry:episode_reopen")
    episode = selectors.episode_get(user=request.user, patient=patient, episode_id=episode_id)
    if not request.user.reopens_reports:
        raise PermissionDenied("Only a coordinator or an admin reopens a complete report.")
    form = ReopenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if _save(
            request,
            form,
            lambda: services.episode_reopen(
                episode=episode, by=request.user, reason=form.cleaned_data["reason"]
            ),
            "Report reopened; the clinicians can edit it again.",
        ):
            return redirect(f"{patient.get_absolute_url()}#episode-{episode.pk}")
    return render(
        request, "registry/reopen.html", {"form": form, "patient": patient, "episode": episode}
    )


HISTORY_PAGE_SIZE = 50


@never_cache
@login_required
def patient_history(request, register_number: str):
    """Every change to the record, newest first, sortable by when, who and what, filtered
    and paged by keyset like the other long lists."""
    patient = _patient(request, register_number, "registry:patient_history")
    filters = HistoryFilter(
        without_blanks(request.GET),
        queryset=selectors.history_entries(patient),
        request=request,
        patient=patient,
    )
    page, errors = keyset_page_for(request, filters, size=HISTORY_PAGE_SIZE)
    return render(
        request,
        "registry/history.html",
        {
            "patient": patient,
            "events": selectors.patient_history(
                patient, hide_identity=not selectors.shows_names(request.user), entries=page
            ),
            "show_national_id": selectors.shows_national_id(request.user, patient),
            **list_page_context(request, filters, page, errors),
        },
        status=400 if errors else 200,
    )


@never_cache
@login_required
def patient_access(request, register_number: str):
    """Who has looked at this patient: for consortium admins (pasientjournalloven § 22)."""
    patient = selectors.patient_get(user=request.user, register_number=register_number)  # 404 first
    if not request.user.is_consortium_admin:
        raise PermissionDenied("Only consortium admins list a patient's access history.")
    patient_access_log(request, patient_ids=[patient.pk], page="registry:patient_access")
    return render(
        request,
        "registry/access.html",
        {"patient": patient, "entries": selectors.access_history(patient)},
    )


# --- Autosave --------------------------------------------------------------------------


@require_POST
@login_required
def draft_autosave(request, register_number: str, form_key: str):
    """Keep what the member has typed so far (htmx, as they type); never validated, never
    applied: the section form restores it until it is saved."""
    patient = selectors.patient_get(user=request.user, register_number=register_number)
    _require_editor(request, patient)
    token = request.POST.get("draft_token", "")[:32]
    data = {
        k: request.POST.getlist(k)
        for k in request.POST
        if k not in ("csrfmiddlewaretoken", "draft_token")
    }
    with transaction.atomic():
        draft, _ = FormDraft.objects.select_for_update().get_or_create(
            user=request.user, patient=patient, form_key=form_key[:100], defaults={"data": None}
        )
        if draft.data is None and token and draft.token == token:
            return HttpResponse("Saved.")  # this form was saved already; a late autosave is ignored
        draft.data, draft.token = data, token
        draft.save()
    return HttpResponse(
        f"Draft kept {timezone.localtime().strftime('%H:%M:%S')}; save the form to apply it."
    )


@require_POST
@login_required
def draft_discard(request, register_number: str, form_key: str):
    patient = selectors.patient_get(user=request.user, register_number=register_number)
    FormDraft.objects.filter(user=request.user, patient=patient, form_key=form_key).delete()
    messages.success(request, "Draft discarded.")
    return redirect(safe_next(request, request.POST.get("next"), patient.get_absolute_url()))


# --- Worklist --------------------------------------------------------------------------


@never_cache
@login_required
def worklist(request):
    institutions = list(selectors.worklist_institutions(request.user))
    if not institutions:
        raise PermissionDenied("The worklist is for clinicians, coordinators and admins.")
    chosen = next(
        (i for i in institutions if i.code == request.GET.get("institution")), institutions[0]
    )
    filters = WorklistFilter(
        without_blanks(request.GET), queryset=selectors.incomplete_episodes(chosen)
    )
    errors = errors_in_words(filters)
    episodes = filters.queryset.order_by(*filters.order()) if errors else filters.qs
    page = Paginator(episodes, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [(episode, rules.missing_items(episode)) for episode in page]
    h_numbers = selectors.h_numbers_to_replace(chosen)
    patient_access_log(
        request,
        patient_ids=[e.patient_id for e in page] + [p.pk for p in h_numbers],
        page="registry:worklist",
    )
    return render(
        request,
        "registry/worklist.html",
        {
            "institutions": institutions,
            "chosen": chosen,
            "figures": selectors.completeness(chosen),
            # The Cancer Registry's notified cases nobody has reported (no national IDs shown).
            "not_reported": list(indicator_selectors.not_yet_reported(chosen)[:200]),
            "h_numbers": h_numbers,
            "page": page,
            "rows": rows,
            "today": timezone.localdate(),
            "filters": filters,
            "errors": errors,
            "sort": filters.sort_value,
            "keep": without_blanks(request.GET),
        },
        status=400 if errors else 200,
    )
