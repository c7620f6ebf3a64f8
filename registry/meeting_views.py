"""Pages of tumour-board (MDT) meetings. Thin: meeting_selectors decide who sees what
(anything else is 404), meeting_services write; every page that shows a patient writes the
access log and is never cached. The prepared patient page takes the other apps' parts
through registry.panels (the register never imports them)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from consortium.forms import write_with_form
from consortium.models import Role
from consortium.services import patient_access_log

from . import meeting_rules, meeting_selectors, meeting_services, panels, selectors
from .meeting_forms import AgendaItemForm, DecisionForm, MeetingForm
from .models import MdtSummary


def _require_clinical(user) -> None:
    if user.role not in selectors.CLINICAL_ROLES and not user.is_consortium_admin:
        raise PermissionDenied("Tumour boards are for clinicians, coordinators and admins.")


def _write(request, write, success: str) -> None:
    """A write from a button (no form): its refusal said as a message on the page."""
    try:
        write()
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, success)


def _meeting(request, meeting_id: int):
    return meeting_selectors.meeting_get(user=request.user, meeting_id=meeting_id)


@never_cache
@login_required
def meeting_list(request):
    _require_clinical(request.user)
    when = "past" if request.GET.get("when") == "past" else "upcoming"
    meetings = list(meeting_selectors.meeting_list(request.user, when=when)[:200])
    return render(
        request,
        "registry/meeting_list.html",
        {
            "meetings": meetings,
            "when": when,
            "can_schedule": request.user.role == Role.CLINICIAN,
        },
    )


@never_cache
@login_required
def meeting_create(request):
    if request.user.role != Role.CLINICIAN:
        raise PermissionDenied("Clinicians schedule tumour-board meetings.")
    form = MeetingForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():

        def write():
            starts, ends = form.times()
            return meeting_services.meeting_schedule(
                by=request.user,
                institution=form.cleaned_data["institution"],
                kind=form.cleaned_data["kind"],
                starts_at=starts,
                ends_at=ends,
                title=form.cleaned_data["title"],
                location=form.cleaned_data["location"],
                participants=form.participants(),
            )

        meeting = write_with_form(request, form, write, "Meeting scheduled.")
        if meeting:
            return redirect(meeting)
    return render(request, "registry/meeting_form.html", {"form": form, "meeting": None})


@never_cache
@login_required
def meeting_edit(request, meeting_id: int):
    meeting = _meeting(request, meeting_id)
    if not meeting_selectors.is_organiser(request.user, meeting):
        raise PermissionDenied("Only clinicians of the meeting's hospital change the meeting.")
    form = MeetingForm(request.POST or None, user=request.user, meeting=meeting)
    if request.method == "POST" and form.is_valid():

        def write():
            starts, ends = form.times()
            return meeting_services.meeting_update(
                meeting=meeting,
                by=request.user,
                expected_version=form.cleaned_data["version"],
                kind=form.cleaned_data["kind"],
                starts_at=starts,
                ends_at=ends,
                title=form.cleaned_data["title"],
                location=form.cleaned_data["location"],
                participants=form.participants(),
            )

        if write_with_form(request, form, write, "Meeting saved."):
            return redirect(meeting)
    return render(request, "registry/meeting_form.html", {"form": form, "meeting": meeting})


@never_cache
@login_required
def meeting_detail(request, meeting_id: int):
    meeting = _meeting(request, meeting_id)
    items, held_back = meeting_selectors.agenda(user=request.user, meeting=meeting)
    patient_access_log(request, patient_ids=[i.patient_id for i in items], page="registry:meeting")
    summaries = panels.summarise_meeting(request, items)
    for item in items:
        item.panel_texts = summaries.get(item.pk, [])
        item.decided = meeting_selectors.decision_of(item)
    now = timezone.now()
    can_work = meeting_selectors.can_work_agenda(request.user, meeting)
    return render(
        request,
        "registry/meeting_detail.html",
        {
            "meeting": meeting,
            "items": items,
            "held_back": held_back,
            "window": meeting_rules.window(meeting),
            "can_work": can_work,
            "can_edit": meeting_selectors.is_organiser(request.user, meeting),
            "can_add": can_work and not meeting_rules.has_ended(meeting, now),
            "started": meeting_rules.has_started(meeting, now),
            "item_form": AgendaItemForm(),
            "summary": meeting_selectors.newest_summary(meeting),
        },
    )


@require_POST
@login_required
def meeting_item_add(request, meeting_id: int):
    meeting = _meeting(request, meeting_id)
    form = AgendaItemForm(request.POST)
    if form.is_valid():
        write_with_form(
            request,
            form,
            lambda: meeting_services.agenda_item_add(
                meeting=meeting,
                by=request.user,
                episode_id=form.episode_for(request.user) or 0,
                question=form.cleaned_data["question"],
            ),
            "Patient added to the agenda.",
        )
    for error in form.errors.values():
        messages.error(request, " ".join(error))
    return redirect(meeting)


@never_cache
@login_required
def meeting_item(request, meeting_id: int, item_id: int):
    """The prepared patient page for the meeting room's screen, with the decision form."""
    meeting = _meeting(request, meeting_id)
    item = meeting_selectors.item_get(user=request.user, meeting=meeting, item_id=item_id)
    patient_access_log(request, patient_ids=[item.patient_id], page="registry:meeting_item")
    decision = meeting_selectors.decision_of(item)
    can_decide = meeting_selectors.can_work_agenda(request.user, meeting)
    form = None
    if can_decide:
        initial = (
            {
                "recommendation": decision.recommendation,
                "plan": decision.plan,
                "plan_other": decision.plan_other,
                "responsible": decision.responsible_id,
                "follow_up_actions": decision.follow_up_actions,
                "version": decision.version,
            }
            if decision
            else {"responsible": request.user.pk}
        )
        form = DecisionForm(request.POST or None, meeting=meeting, item=item, initial=initial)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            saved = write_with_form(
                request,
                form,
                lambda: meeting_services.decision_save(
                    item=item,
                    by=request.user,
                    recommendation=data["recommendation"],
                    plan=data["plan"],
                    plan_other=data["plan_other"],
                    responsible=data["responsible"],
                    follow_up_actions=data["follow_up_actions"],
                    expected_version=data["version"],
                    reason=data["reason"],
                ),
                "Decision recorded; the MDT date is on the episode and the treating "
                "clinicians are told.",
            )
            if saved:
                return redirect(item.get_absolute_url() + "#decision")
    elif request.method == "POST":
        raise PermissionDenied("Only the meeting's clinicians record its decisions.")
    now = timezone.now()
    return render(
        request,
        "registry/meeting_item.html",
        {
            "meeting": meeting,
            "item": item,
            **meeting_selectors.prepared_page(item),
            "show_name": selectors.shows_national_id(request.user, item.patient),
            "panels": panels.render_meeting(request, item),
            "decision": decision,
            "history": meeting_selectors.decision_history(decision) if decision else [],
            "actions": panels.plan_actions(decision) if decision else [],
            "form": form,
            "started": meeting_rules.has_started(meeting, now),
            "ended": meeting_rules.has_ended(meeting, now),
        },
    )


@require_POST
@login_required
def meeting_item_remove(request, meeting_id: int, item_id: int):
    meeting = _meeting(request, meeting_id)
    item = meeting_selectors.item_get(user=request.user, meeting=meeting, item_id=item_id)
    _write(
        request,
        lambda: meeting_services.agenda_item_remove(item=item, by=request.user),
        "Patient taken off the agenda.",
    )
    return redirect(meeting)


@require_POST
@login_required
def meeting_summary_request(request, meeting_id: int):
    meeting = _meeting(request, meeting_id)
    _write(
        request,
        lambda: meeting_services.summary_request(meeting=meeting, by=request.user),
        "The summary is being made; it appears here in a moment.",
    )
    return redirect(meeting.get_absolute_url() + "#summary")


def _summary(request, meeting_id: int) -> MdtSummary:
    meeting = _meeting(request, meeting_id)
    summary = meeting.summaries.filter(status=MdtSummary.Status.DONE).first()
    if summary is None:
        raise Http404("The summary has not been made yet.")
    # The board's record, for the hospital's own members and admins; invited members of
    # other hospitals read it during the meeting's window only, as the patients' pages.
    own = request.user.is_consortium_admin or meeting.institution_id in (
        selectors.user_institution_ids(request.user)
    )
    if not own and not meeting_rules.window_open(meeting, timezone.now()):
        raise Http404("No summary to show.")
    patient_access_log(
        request,
        patient_ids=list(meeting.items.values_list("patient_id", flat=True)),
        page="registry:meeting_summary",
    )
    return summary


@never_cache
@login_required
def meeting_summary(request, meeting_id: int):
    summary = _summary(request, meeting_id)
    return render(
        request, "registry/meeting_summary.html", {"summary": summary, "meeting": summary.meeting}
    )


@never_cache
@login_required
def meeting_summary_pdf(request, meeting_id: int):
    summary = _summary(request, meeting_id)
    response = HttpResponse(bytes(summary.pdf), content_type="application/pdf")
    response["Content-Disposition"] = (
        f'attachment; filename="mdt-{summary.meeting.institution.code}-'
        f'{summary.meeting.day:%Y-%m-%d}.pdf"'
    )
    return response
