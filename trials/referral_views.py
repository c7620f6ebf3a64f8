"""Tumour-board referrals to trials: the form a board's decision opens (prefilled from
the decision: the patient's candidate trials first, the board's recommendation as the
note), and the coordinators' list. Thin: selectors decide who sees what, services write."""

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Case, IntegerField, Value, When
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from consortium.forms import write_with_form
from consortium.models import Role
from consortium.services import patient_access_log
from registry import meeting_selectors
from registry.models import MdtDecision

from . import selectors, services
from .models import OPEN_STATUSES, Trial, TrialReferral


class ReferralForm(forms.Form):
    trial = forms.ModelChoiceField(queryset=Trial.objects.none())
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False)

    def __init__(self, *args, candidate_trial_ids: list[int], **kwargs):
        super().__init__(*args, **kwargs)
        order = Case(
            *[When(pk=pk, then=Value(n)) for n, pk in enumerate(candidate_trial_ids)],
            default=Value(len(candidate_trial_ids)),
            output_field=IntegerField(),
        )
        self.fields["trial"].queryset = (
            Trial.objects.filter(overall_status__in=OPEN_STATUSES)
            .annotate(candidate_order=order)
            .order_by("candidate_order", "brief_title", "id")
        )
        candidates = set(candidate_trial_ids)
        self.fields["trial"].label_from_instance = lambda t: (
            f"{t}{' (candidate)' if t.pk in candidates else ''}"
        )


def _decision(request) -> MdtDecision:
    """The decision named by ?decision= (or the form), if the member sees its agenda item."""
    try:
        decision_id = int(request.GET.get("decision") or request.POST.get("decision") or 0)
    except ValueError:
        raise Http404("No such decision.") from None
    decision = (
        MdtDecision.objects.select_related("item__meeting", "item__patient").filter(pk=decision_id)
    ).first()
    if decision is None:
        raise Http404("No such decision.")
    meeting = meeting_selectors.meeting_get(user=request.user, meeting_id=decision.item.meeting_id)
    item = meeting_selectors.item_get(user=request.user, meeting=meeting, item_id=decision.item_id)
    decision.item = item
    return decision


@never_cache
@login_required
def referral_create(request):
    decision = _decision(request)
    item = decision.item
    patient_access_log(request, patient_ids=[item.patient_id], page="trials:referral_create")
    if not meeting_selectors.can_work_agenda(request.user, item.meeting):
        raise PermissionDenied("Only the meeting's clinicians refer its patients to trials.")
    candidates = selectors.episode_candidates([item.episode_id]).get(item.episode_id, [])
    form = ReferralForm(
        request.POST or None,
        candidate_trial_ids=[m.trial_id for m in candidates],
        initial={
            "trial": candidates[0].trial_id if candidates else None,
            "note": f"Tumour board {item.meeting.day:%d.%m.%Y}: {decision.recommendation}",
        },
    )
    if request.method == "POST" and form.is_valid():
        if write_with_form(
            request,
            form,
            lambda: services.referral_create(
                decision=decision,
                by=request.user,
                trial=form.cleaned_data["trial"],
                note=form.cleaned_data["note"],
            ),
            "Referred; the patient's trial coordinators are told.",
        ):
            return redirect(item.get_absolute_url() + "#decision")
    return render(
        request,
        "trials/referral_form.html",
        {"form": form, "decision": decision, "item": item, "candidates": candidates},
    )


@never_cache
@login_required
def referral_list(request):
    user = request.user
    if user.role not in (Role.COORDINATOR, Role.CLINICIAN) and not user.is_consortium_admin:
        raise PermissionDenied("Referrals are for coordinators, clinicians and admins.")
    status = request.GET.get("status", "open")
    referrals = list(selectors.referral_list(user, status="" if status == "all" else status)[:200])
    patient_access_log(
        request, patient_ids=[r.patient_id for r in referrals], page="trials:referral_list"
    )
    return render(
        request,
        "trials/referral_list.html",
        {
            "referrals": referrals,
            "status": status,
            "can_take_up": selectors.works_trials(user),
            "statuses": TrialReferral.Status,
        },
    )


@require_POST
@login_required
def referral_take_up(request, pk: int):
    referral = selectors.referral_get(user=request.user, pk=pk)
    form = forms.Form()
    write_with_form(
        request,
        form,
        lambda: services.referral_take_up(referral=referral, by=request.user),
        "Referral taken up.",
    )
    return redirect("trials:referral_list")
