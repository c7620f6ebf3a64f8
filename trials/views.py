"""Pages of the trials app: the catalogue (any signed-in member), the criteria editor,
the review queue and the funnel (coordinators and admins), and the patient page's
panel (the treating clinicians answer contact requests there). Plain function views;
rules live in services, who-sees-what in selectors. Pages showing patients (register
numbers) write the access log and are never cached."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from consortium.csv_safe import safe_writer
from consortium.exceptions import EditConflict
from consortium.forms import write_with_form
from consortium.models import Role
from consortium.services import patient_access_log
from consortium.views import role_required

from . import criteria, selectors, services
from .forms import (
    CheckForm,
    CriteriaExtrasForm,
    CriteriaFormSet,
    MoveForm,
    QueueFilterForm,
    ReferralForm,
    ReplyForm,
    TrialFilterForm,
    TrialForm,
    TrialStatusForm,
    rows_to_trees,
    tree_to_rows,
)
from .models import STEP_TRANSITIONS, CloseReason, Outcome, Step, Suggestion
from .suggestion_forms import DecisionForm, SuggestionEditForm

coordinator_required = role_required(
    selectors.works_trials, message="Only trial coordinators and admins work trials and matches."
)


# --- Catalogue ----------------------------------------------------------------------


@login_required
def trial_list(request):
    form = TrialFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    page = Paginator(selectors.trial_list(**{k: v for k, v in filters.items() if v}), 50).get_page(
        request.GET.get("page")
    )
    for trial in page:
        trial.plain = criteria.describe(trial.criteria) if trial.criteria_encoded_at else ""
    works = selectors.works_trials(request.user)
    sync = selectors.latest_sync() if works else None
    waiting = selectors.suggestions_waiting([t.pk for t in page]) if works else {}
    for trial in page:
        trial.suggestions_waiting = waiting.get(trial.pk, 0)
    return render(
        request,
        "trials/trial_list.html",
        {
            "form": form,
            "page": page,
            "works_trials": works,
            "sync": sync,
            "sync_lines": services.sync_lines(sync) if sync else [],
        },
    )


@never_cache
@login_required
def trial_detail(request, pk: int):
    trial = selectors.trial_get(pk=pk)
    user = request.user
    context = {
        "trial": trial,
        "plain": criteria.describe(trial.criteria),
        "works_trials": selectors.works_trials(user),
        "arms": [
            (arm, criteria.describe(arm.criteria) if arm.criteria else "")
            for arm in trial.arms.all()
        ],
    }
    if context["works_trials"]:
        # The text is read when it is new or changed (one query when it is not).
        context["reading"] = services.suggestions_refresh(trial=trial)
        suggestions = list(selectors.trial_suggestions(trial=trial))
        context.update(
            suggestions=suggestions,
            open_suggestions=[s for s in suggestions if s.is_open],
            confirmed=list(selectors.confirmed_suggestions(trial=trial)),
            decision_form=DecisionForm(initial={"version": trial.version}),
        )
        for suggestion in suggestions:
            suggestion.plain = criteria.describe_leaf(
                suggestion.value, negated=suggestion.polarity == Suggestion.Polarity.EXCLUDE
            )
        matches = selectors.queue_rows(
            list(
                selectors.match_queue(user=user, trial_id=trial.pk).values_list("pk", flat=True)[
                    :100
                ]
            )
        )
        context["referral_form"] = ReferralForm(
            initial={"cross_border_referral": trial.cross_border_referral, "version": trial.version}
        )
        patient_access_log(
            request, patient_ids=[m["patient_id"] for m in matches], page="trials:trial_detail"
        )
        context.update(
            matches=matches,
            funnel=selectors.funnel(user=user, trial=trial),
            reasons=dict(CloseReason.choices),
            status_form=TrialStatusForm(
                initial={
                    "overall_status": trial.overall_status,
                    "coordinator_notes": trial.coordinator_notes,
                    "version": trial.version,
                }
            ),
        )
    return render(request, "trials/trial_detail.html", context)


@coordinator_required
def trial_create(request):
    form = TrialForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "version"}
        trial = write_with_form(
            request,
            form,
            lambda: services.trial_create(by=request.user, **data),
            "Trial added; now encode its criteria.",
        )
        if trial:
            return redirect("trials:criteria_edit", pk=trial.pk)
    return render(request, "trials/trial_form.html", {"form": form})


@require_POST
@coordinator_required
def trial_referral(request, pk: int):
    """The coordinator records that Norwegian patients can (or no longer can) be referred
    to the trial's sites abroad; its matches lose (or get back) the "no Nordic site" mark."""
    trial = selectors.trial_get(pk=pk)
    form = ReferralForm(request.POST)
    if form.is_valid():
        try:
            services.trial_update(
                trial=trial,
                by=request.user,
                expected_version=form.cleaned_data["version"],
                cross_border_referral=form.cleaned_data["cross_border_referral"],
            )
            messages.success(request, "Cross-border referral recorded.")
        except (ValidationError, EditConflict) as error:
            messages.error(request, "; ".join(getattr(error, "messages", [str(error)])))
    return redirect(trial)


@require_POST
@coordinator_required
def trial_status(request, pk: int):
    trial = selectors.trial_get(pk=pk)
    form = TrialStatusForm(request.POST)
    if form.is_valid():
        data = dict(form.cleaned_data)
        try:
            services.trial_update(
                trial=trial, by=request.user, expected_version=data.pop("version"), **data
            )
            messages.success(request, "Trial updated.")
        except (ValidationError, EditConflict) as error:
            messages.error(request, "; ".join(getattr(error, "messages", [str(error)])))
    else:
        messages.error(request, "Choose a status.")
    return redirect(trial)


@never_cache
@coordinator_required
def criteria_edit(request, pk: int):
    trial = selectors.trial_get(pk=pk)
    arms = list(trial.arms.all())
    try:
        initial = tree_to_rows(trial.criteria) + [
            row for arm in arms for row in tree_to_rows(arm.criteria, str(arm.pk))
        ]
        editable = True
    except (ValueError, KeyError):
        initial, editable = [], False
    if request.method == "POST" and editable and "add_row" in request.POST:
        # "Add a criterion row": the same form again with one more empty row, nothing
        # saved (no script needed; the CSP forbids inline ones).
        data = request.POST.copy()
        total = data.get("rows-TOTAL_FORMS", "")
        data["rows-TOTAL_FORMS"] = str(
            min(int(total) + 1 if total.isdigit() else 1, CriteriaFormSet.max_num)
        )
        formset = CriteriaFormSet(data, arms=arms, prefix="rows")
        extras = CriteriaExtrasForm(data)
    elif request.method == "POST" and editable:
        formset = CriteriaFormSet(request.POST, arms=arms, prefix="rows")
        extras = CriteriaExtrasForm(request.POST)
        if formset.is_valid() and extras.is_valid():
            rows = [
                f.cleaned_data
                for f in formset.forms
                if f.cleaned_data.get("leaf") and not f.cleaned_data.get("DELETE")
            ]
            tree, arm_trees = rows_to_trees(
                rows, extras.cleaned_data["check_by_hand"], [a.pk for a in arms]
            )
            if write_with_form(
                request,
                extras,
                lambda: services.trial_criteria_save(
                    trial=trial,
                    by=request.user,
                    tree=tree,
                    arm_trees=arm_trees,
                    expected_version=extras.cleaned_data["version"],
                ),
                "Criteria saved: " + criteria.describe(tree) + ". Matching runs in the background.",
            ):
                return redirect(trial)
    else:
        formset = CriteriaFormSet(initial=initial, arms=arms, prefix="rows")
        extras = CriteriaExtrasForm(
            initial={
                "version": trial.version,
                "check_by_hand": "\n".join((trial.criteria or {}).get("check_by_hand", [])),
            }
        )
    return render(
        request,
        "trials/criteria_form.html",
        {
            "trial": trial,
            "formset": formset,
            "extras": extras,
            "editable": editable,
            "plain": criteria.describe(trial.criteria),
        },
    )


def _decision_error(request, error) -> None:
    messages.error(request, "; ".join(getattr(error, "messages", [str(error)])))


@require_POST
@coordinator_required
def suggestion_accept(request, pk: int, n: int):
    """Accept a suggested criterion as read (the edit page accepts it edited)."""
    trial = selectors.trial_get(pk=pk)
    suggestion = selectors.suggestion_get(trial=trial, pk=n)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Reload the trial and decide again (its version was missing).")
        return redirect(trial)
    try:
        services.suggestion_accept(
            suggestion=suggestion, by=request.user, expected_version=form.cleaned_data["version"]
        )
    except (ValidationError, EditConflict) as error:
        _decision_error(request, error)
    else:
        plain = criteria.describe_leaf(suggestion.value, suggestion.polarity == "exclude")
        messages.success(request, f"Accepted: {plain}. Matching runs in the background.")
    return redirect(f"{trial.get_absolute_url()}#suggestions")


@require_POST
@coordinator_required
def suggestion_reject(request, pk: int, n: int):
    trial = selectors.trial_get(pk=pk)
    suggestion = selectors.suggestion_get(trial=trial, pk=n)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Reload the trial and decide again (its version was missing).")
        return redirect(trial)
    try:
        services.suggestion_reject(
            suggestion=suggestion, by=request.user, expected_version=form.cleaned_data["version"]
        )
    except (ValidationError, EditConflict) as error:
        _decision_error(request, error)
    else:
        messages.success(request, "Rejected: it is not proposed again unless the text changes.")
    return redirect(f"{trial.get_absolute_url()}#suggestions")


@never_cache
@coordinator_required
def suggestion_edit(request, pk: int, n: int):
    """Edit a suggestion's value, sense or arm, then accept it (validated like any edit)."""
    trial = selectors.trial_get(pk=pk)
    suggestion = selectors.suggestion_get(trial=trial, pk=n)
    arms = list(trial.arms.all())
    form = SuggestionEditForm(
        request.POST or None,
        suggestion=suggestion,
        arms=arms,
        initial={"version": trial.version},
    )
    if request.method == "POST" and form.is_valid():
        arm_id = form.cleaned_data["arm"]
        arm = next((a for a in arms if a.pk == arm_id), None)
        if write_with_form(
            request,
            form,
            lambda: services.suggestion_accept(
                suggestion=suggestion,
                by=request.user,
                expected_version=form.cleaned_data["version"],
                value=form.value(),
                polarity=form.cleaned_data["polarity"],
                arm=arm,
            ),
            "Accepted as edited. Matching runs in the background.",
        ):
            return redirect(f"{trial.get_absolute_url()}#suggestions")
    return render(
        request,
        "trials/suggestion_edit.html",
        {
            "trial": trial,
            "suggestion": suggestion,
            "form": form,
            "plain": criteria.describe_leaf(suggestion.value, suggestion.polarity == "exclude"),
        },
    )


@never_cache
@coordinator_required
def funnel_csv(request, pk: int):
    """Counts only: no register numbers, names or IDs."""
    trial = selectors.trial_get(pk=pk)
    figures = selectors.funnel(user=request.user, trial=trial)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="funnel-{trial.nct_id or trial.pk}.csv"'
    )
    writer = safe_writer(response)
    writer.writerow(["trial", "measure", "count"])
    for stage, count in figures["stages"]:
        writer.writerow([trial.nct_id or trial.brief_title, stage, count])
    writer.writerow(
        [trial.nct_id or trial.brief_title, "no longer matching", figures["no_longer_matching"]]
    )
    for reason, label in CloseReason.choices:
        writer.writerow(
            [
                trial.nct_id or trial.brief_title,
                f"not enrolled: {label.lower()}",
                figures["reasons"].get(reason, 0),
            ]
        )
    return response


# --- Review -------------------------------------------------------------------------


@never_cache
@coordinator_required
def match_queue(request):
    if (
        request.method == "POST"
    ):  # bulk action (the checkboxes are not named "matches": a form control
        # named like a DOM method shadows it on the form element, and htmx calls form.matches())
        form = MoveForm(request.POST)
        # Each box is "id:version" (the version shown), so a match moved meanwhile is 409.
        # "All on this page" takes every row the page showed (no script needed).
        chosen = request.POST.getlist(
            "page_ids" if request.POST.get("all_on_page") else "match_ids"
        )
        ids, versions = [], {}
        for value in chosen:
            pk, _, version = value.partition(":")
            if pk.isdigit():
                ids.append(int(pk))
                if version.isdigit():
                    versions[int(pk)] = int(version)
        if form.is_valid():
            try:
                moved = services.matches_move(
                    match_ids=ids,
                    by=request.user,
                    step=form.cleaned_data["step"],
                    close_reason=form.cleaned_data["close_reason"],
                    note=form.cleaned_data["note"],
                    versions=versions,
                )
                messages.success(
                    request,
                    f"Moved {moved} match{'es' if moved != 1 else ''} to "
                    f"{Step(form.cleaned_data['step']).label.lower()}.",
                )
            except (ValidationError, EditConflict) as error:
                messages.error(request, "; ".join(getattr(error, "messages", [str(error)])))
        else:
            messages.error(request, "Choose the step to move the selected matches to.")
        return redirect(request.get_full_path())
    filters = QueueFilterForm(request.GET or None)
    chosen = dict(filters.cleaned_data) if filters.is_valid() else {}
    chosen["trial_id"] = chosen.pop("trial", None)
    chosen = {k: v for k, v in chosen.items() if v}
    matches = selectors.match_queue(user=request.user, **chosen)
    try:
        page = selectors.keyset_page(
            matches, after=request.GET.get("after", ""), before=request.GET.get("before", "")
        )
    except ValidationError as error:  # a cursor not of this queue: its first page, and why
        messages.error(request, " ".join(error.messages))
        page = selectors.keyset_page(matches)
    patient_access_log(
        request, patient_ids=[m["patient_id"] for m in page], page="trials:match_queue"
    )
    query = request.GET.copy()
    for name in ("after", "before"):
        query.pop(name, None)
    return render(
        request,
        "trials/match_queue.html",
        {
            "filters": filters,
            "page": page,
            "count": selectors.match_queue_count(user=request.user, **chosen),
            "move_form": MoveForm(),
            "institutions": request.user.institutions.order_by("code"),
            "query": query.urlencode(),
        },
    )


@never_cache
@login_required
def match_detail(request, pk: int):
    """404 for anyone outside the match's scope, whatever their role: ids reveal nothing.
    One page: the verdicts, the items to check by hand (each marked here), the moves the
    step table allows."""
    match = selectors.match_get(user=request.user, pk=pk)
    form = MoveForm(initial={"version": match.version}, current_step=match.step)
    move_error, status = "", 200
    check_form = CheckForm(request.POST if "status" in request.POST else None)
    if request.method == "POST" and "status" in request.POST and check_form.is_valid():
        data = check_form.cleaned_data
        if write_with_form(
            request,
            check_form,
            lambda: services.match_check_mark(
                match=match,
                by=request.user,
                text=data["text"],
                status=data["status"],
                note=data["note"],
                expected_version=data["version"],
            ),
            "Check recorded.",
        ):
            return redirect("trials:match_detail", pk=match.pk)
    elif request.method == "POST" and "step" in request.POST:
        # Checked by the service against the table, not by the form's choices: an illegal
        # or stale move gets the service's message naming the allowed moves, shown as the
        # page's error (409 for a stale one), and nothing moves.
        data = request.POST
        version = data.get("version", "")
        try:
            services.match_move(
                match=match,
                by=request.user,
                step=data.get("step", ""),
                close_reason=data.get("close_reason", ""),
                note=data.get("note", ""),
                expected_version=int(version) if version.isdigit() else None,
            )
        except EditConflict as conflict:
            move_error, status = str(conflict), 409
        except ValidationError as error:
            move_error, status = "; ".join(error.messages), 400
        else:
            messages.success(request, "Match moved.")
            return redirect("trials:match_detail", pk=match.pk)
        match = selectors.match_get(user=request.user, pk=pk)
        form = MoveForm(initial={"version": match.version}, current_step=match.step)
    patient_access_log(request, patient_ids=[match.patient_id], page="trials:match_detail")
    return render(
        request,
        "trials/match_detail.html",
        {
            "match": match,
            "form": form,
            "events": selectors.match_events(match),
            "checks": selectors.manual_checks(match),
            "check_form": check_form,
            "allowed": [Step(s).label.lower() for s in STEP_TRANSITIONS[match.step]],
            "move_error": move_error,
        },
        status=status,
    )


@require_POST
@login_required
def match_reply(request, pk: int):
    """The treating clinician's answer, from the patient page's panel."""
    match = selectors.match_for_clinician(user=request.user, pk=pk)
    form = ReplyForm(request.POST)
    if form.is_valid():
        try:
            services.match_reply(match=match, by=request.user, **form.cleaned_data)
            messages.success(request, "Your answer was sent to the trial coordinator.")
        except ValidationError as error:
            messages.error(request, "; ".join(error.messages))
    else:
        messages.error(request, "Choose an answer.")
    return redirect(match.patient.get_absolute_url() + "#trials")


def patient_panel(request, patient) -> str:
    """The patient page's "Candidate trials" section (registry.panels). The page has
    already checked that the member sees the patient and written the access log."""
    user = request.user
    if user.role not in (Role.CLINICIAN, Role.COORDINATOR) and not user.is_consortium_admin:
        return ""
    matches = selectors.patient_matches(user=user, patient=patient)
    can_reply = user.role == Role.CLINICIAN
    return render_to_string(
        "trials/_patient_panel.html",
        {
            "matches": matches,
            "can_reply": can_reply,
            # Built only when a contact request waits for the answer (most pages have none).
            "reply_form": ReplyForm()
            if can_reply and any(m.step == Step.CONTACTED for m in matches)
            else None,
            "contacted": Step.CONTACTED,
            "outcomes": Outcome,
        },
        request=request,
    )
