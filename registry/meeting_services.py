"""Writes of tumour-board (MDT) meetings: scheduling, members, the agenda, the board's
decisions (which record the MDT date on the episode, the register variable) and the
summary's request. Every write checks who may do it (PermissionDenied) and the rules of
meeting_rules (ValidationError naming the field); decisions keep their history
(pghistory, with the reason) and a stale edit is refused (EditConflict, 409)."""

from datetime import datetime

import pghistory
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from consortium.models import InboxItem, Institution, User
from consortium.services import EditConflict, inbox_deliver, outbox_enqueue

from . import meeting_rules, meeting_selectors, selectors
from .models import (
    MdtAgendaItem,
    MdtDecision,
    MdtMeeting,
    MdtParticipant,
    MdtSummary,
    TumourEpisode,
)
from .signals import register_changed


def _history(by: User, *, meeting: MdtMeeting, patient_id: int | None = None, reason: str = ""):
    context = {"user": by.pk, "meeting": meeting.pk, "reason": reason or ""}
    if patient_id:
        context["patient"] = patient_id  # the patient's History page lists it
    return pghistory.context(**context)


def _require_organiser(by: User, meeting: MdtMeeting) -> None:
    if not meeting_selectors.is_organiser(by, meeting):
        raise PermissionDenied("Only clinicians of the meeting's hospital change the meeting.")


def _check_version(current, expected_version: int | None, label: str) -> None:
    if expected_version is not None and current.version != expected_version:
        raise EditConflict(
            f"{label} was changed by someone else after you opened it; your changes were not "
            "saved. Reload to see the current version and edit again."
        )


def _members_checked(meeting: MdtMeeting, participants) -> list[tuple[User, str, bool]]:
    """(member, discipline, invited) for each, or a ValidationError naming the member."""
    checked, seen = [], set()
    for member, discipline in participants:
        hospitals = [i for i in member.institutions.all() if i.kind == Institution.Kind.HOSPITAL]
        error = meeting_rules.participant_error(meeting, hospitals, member_role=member.role)
        if error:
            raise ValidationError({"participants": f"{member.full_name or member.email}: {error}"})
        if member.pk in seen:
            raise ValidationError(
                {"participants": f"{member.full_name or member.email} is listed twice."}
            )
        seen.add(member.pk)
        invited = meeting_rules.is_invited(meeting, [h.pk for h in hospitals])
        checked.append((member, discipline, invited))
    return checked


@transaction.atomic
def meeting_schedule(
    *,
    by: User,
    institution: Institution,
    kind: str,
    starts_at: datetime,
    ends_at: datetime,
    title: str = "",
    location: str = "",
    participants=(),
) -> MdtMeeting:
    """A clinician schedules a meeting of one of their hospitals, with its members."""
    if by.role != "clinician" or institution.pk not in selectors.user_institution_ids(by):
        raise PermissionDenied("Clinicians schedule meetings of their own hospitals.")
    if institution.kind != Institution.Kind.HOSPITAL:
        raise ValidationError({"institution": "A tumour board meets at a hospital."})
    if kind not in MdtMeeting.Kind.values:
        raise ValidationError({"kind": f"Choose one of {', '.join(MdtMeeting.Kind.values)}."})
    errors = meeting_rules.meeting_times_error(starts_at, ends_at)
    if errors:
        raise ValidationError(errors)
    meeting = MdtMeeting(
        institution=institution,
        kind=kind,
        starts_at=starts_at,
        ends_at=ends_at,
        title=title,
        location=location,
        created_by=by,
    )
    checked = _members_checked(meeting, participants)
    with pghistory.context(user=by.pk, reason=""):
        meeting.save()
        for member, discipline, invited in checked:
            MdtParticipant.objects.create(
                meeting=meeting, member=member, discipline=discipline, invited=invited
            )
    return meeting


@transaction.atomic
def meeting_update(
    *,
    meeting: MdtMeeting,
    by: User,
    expected_version: int | None,
    participants=None,
    **fields,
) -> MdtMeeting:
    """Change the time, kind, title or place, and (when given) the whole member list."""
    current = (
        MdtMeeting.objects.select_for_update().select_related("institution").get(pk=meeting.pk)
    )
    _require_organiser(by, current)
    _check_version(current, expected_version, "The meeting")
    for field, value in fields.items():
        if field not in ("kind", "starts_at", "ends_at", "title", "location"):
            raise ValidationError({field: "This field cannot be changed here."})
        setattr(current, field, value)
    if current.kind not in MdtMeeting.Kind.values:
        raise ValidationError({"kind": f"Choose one of {', '.join(MdtMeeting.Kind.values)}."})
    errors = meeting_rules.meeting_times_error(current.starts_at, current.ends_at)
    if errors:
        raise ValidationError(errors)
    if participants is None:  # a changed kind must still fit every member
        existing = current.participants.select_related("member").prefetch_related(
            "member__institutions"
        )
        _members_checked(current, [(p.member, p.discipline) for p in existing])
    current.version += 1
    with pghistory.context(user=by.pk, meeting=current.pk, reason=""):
        current.save()
        if participants is not None:
            checked = _members_checked(current, participants)
            current.participants.all().delete()
            for member, discipline, invited in checked:
                MdtParticipant.objects.create(
                    meeting=current, member=member, discipline=discipline, invited=invited
                )
    return current


@transaction.atomic
def agenda_item_add(
    *, meeting: MdtMeeting, by: User, episode_id: int, question: str
) -> MdtAgendaItem:
    """Put a patient's tumour episode on the agenda. The clinician must see the patient in
    the register; a patient is on one meeting's agenda once."""
    if not meeting_selectors.can_work_agenda(by, meeting):
        raise PermissionDenied("Only the meeting's clinicians add patients to its agenda.")
    if not question.strip():
        raise ValidationError({"question": "Say what the board is asked."})
    episode = (
        TumourEpisode.objects.filter(pk=episode_id, patient__in=selectors.patients_visible_to(by))
        .select_related("patient")
        .first()
        if by.role == "clinician"
        else None
    )
    if episode is None:
        raise ValidationError(
            {"episode": "No such tumour episode among the patients you may see in the register."}
        )
    if meeting_rules.has_ended(meeting, timezone.now()):
        raise ValidationError({"meeting": "The meeting is over; add the patient to a later one."})
    MdtMeeting.objects.select_for_update().get(pk=meeting.pk)  # one position at a time
    if MdtAgendaItem.objects.filter(meeting=meeting, patient=episode.patient_id).exists():
        raise ValidationError(
            {"episode": f"{episode.patient.register_number} is already on this meeting's agenda."}
        )
    position = MdtAgendaItem.objects.filter(meeting=meeting).count() + 1
    try:
        with transaction.atomic(), _history(by, meeting=meeting, patient_id=episode.patient_id):
            return MdtAgendaItem.objects.create(
                meeting=meeting,
                episode=episode,
                patient_id=episode.patient_id,
                question=question.strip(),
                position=position,
                added_by=by,
            )
    except IntegrityError:  # a second request between the check and the insert
        raise ValidationError(
            {"episode": f"{episode.patient.register_number} is already on this meeting's agenda."}
        ) from None


@transaction.atomic
def agenda_item_remove(*, item: MdtAgendaItem, by: User) -> None:
    if not meeting_selectors.can_work_agenda(by, item.meeting):
        raise PermissionDenied("Only the meeting's clinicians change its agenda.")
    if meeting_selectors.decision_of(item) is not None:
        raise ValidationError({"item": "The board has decided on this patient; it stays."})
    with _history(by, meeting=item.meeting, patient_id=item.patient_id):
        item.delete()


def _record_mdt_date(item: MdtAgendaItem, by: User) -> None:
    """The register variable: the meeting's date among the episode's MDT dates (once),
    written whether or not the report is locked (the board's date is a fact of the
    course, not an edit of the report), with its history and the other apps told."""
    episode = TumourEpisode.objects.select_for_update().get(pk=item.episode_id)
    day = item.meeting.day
    if day in episode.mdt_dates:
        return
    episode.mdt_dates = sorted({*episode.mdt_dates, day})
    episode.version += 1
    with _history(
        by, meeting=item.meeting, patient_id=item.patient_id, reason=f"MDT meeting {day:%d.%m.%Y}"
    ):
        episode.save(update_fields=["mdt_dates", "version", "updated_at"])
    register_changed.send(sender=TumourEpisode, patient_id=item.patient_id, episode_id=episode.pk)


@transaction.atomic
def decision_save(
    *,
    item: MdtAgendaItem,
    by: User,
    recommendation: str,
    plan: list[str],
    responsible: User,
    plan_other: str = "",
    follow_up_actions: str = "",
    expected_version: int | None = None,
    reason: str = "",
    now: datetime | None = None,
) -> MdtDecision:
    """Record or change the board's decision on one patient. Not before the meeting; a
    change once it is over needs a reason. Records the MDT date on the episode and tells
    the treating clinicians (by e-mail, after commit)."""
    now = now or timezone.now()
    meeting = item.meeting
    if not meeting_selectors.can_work_agenda(by, meeting):
        raise PermissionDenied("Only the meeting's clinicians record its decisions.")
    error = meeting_rules.decision_time_error(meeting, now)
    if error:
        raise ValidationError({"meeting": error})
    errors = meeting_rules.plan_errors(list(plan), plan_other)
    if not recommendation.strip():
        errors["recommendation"] = "Write the board's recommendation."
    if responsible is None or responsible.role != "clinician" or not responsible.is_active:
        errors["responsible"] = "Name the responsible clinician (an active clinician)."
    if errors:
        raise ValidationError(errors)
    current = MdtDecision.objects.select_for_update().filter(item=item).first()
    if current is not None:
        _check_version(current, expected_version, "The decision")
    if meeting_rules.change_needs_reason(meeting, now, existing=current is not None):
        if not reason.strip():
            raise ValidationError(
                {"reason": "The meeting is over: say why its decision is changed."}
            )
    decision = current or MdtDecision(item=item, decided_by=by)
    decision.recommendation = recommendation.strip()
    decision.plan = list(plan)
    decision.plan_other = plan_other.strip()
    decision.responsible = responsible
    decision.follow_up_actions = follow_up_actions.strip()
    decision.change_reason = reason.strip() if current is not None else ""
    if current is not None:
        decision.version += 1
        decision.decided_by = by
        decision.decided_at = now
    with _history(by, meeting=meeting, patient_id=item.patient_id, reason=reason):
        decision.save()
    _record_mdt_date(item, by)
    from .tasks import notify_mdt_decision

    outbox_enqueue(notify_mdt_decision, decision.pk, decision.version)
    return decision


def decision_notify(*, decision_id: int, version: int) -> int:
    """E-mail the treating clinicians (and the responsible clinician) that the board
    decided: register number and a link, never the name or national ID (the mail leaves
    the platform). A redelivered task for an older version sends nothing."""
    from django.core.mail import send_mail

    decision = (
        MdtDecision.objects.select_related("item__meeting__institution", "item__patient")
        .filter(pk=decision_id)
        .first()
    )
    if decision is None or decision.version != version:
        return 0
    item = decision.item
    told = {u for u in meeting_selectors.treating_clinicians(item)} | {decision.responsible}
    told.discard(decision.decided_by)
    recipients = {u.email for u in told}
    if not recipients:
        return 0
    meeting = item.meeting
    changed = " (changed)" if decision.version > 1 else ""
    # The inbox item of each (once per version: a redelivered task adds none), then the mail.
    inbox_deliver(
        recipients=[u for u in told if u.is_active],
        kind=InboxItem.Kind.TUMOUR_BOARD,
        text=f"The tumour board at {meeting.institution.code} on {meeting.day:%d.%m.%Y} "
        f"decided for {item.patient.register_number}{changed}: "
        f"{', '.join(decision.plan_labels())}.",
        url=item.get_absolute_url(),
        key=f"registry.mdt_decision:{decision.pk}:v{decision.version}",
        patient_id=item.patient_id,
    )
    send_mail(
        f"NBTC tumour board{changed}: decision for {item.patient.register_number}",
        f"The {meeting.get_kind_display().lower()} tumour board at {meeting.institution.code} "
        f"on {meeting.day:%d.%m.%Y} decided for {item.patient.register_number}{changed}:\n\n"
        f"Plan: {', '.join(decision.plan_labels())}\n"
        f"Responsible clinician: {decision.responsible.full_name or decision.responsible.email}"
        "\n\nOpen the meeting in the NBTC platform to read the recommendation: "
        f"{item.get_absolute_url()}",
        None,
        sorted(recipients),
    )
    return len(recipients)


# --- The meeting summary -------------------------------------------------------------------


@transaction.atomic
def summary_request(*, meeting: MdtMeeting, by: User | None) -> MdtSummary:
    """Queue the summary's making (a Celery task, through the outbox). Once the meeting
    has started; again whenever wanted (a decision changed): each is a new version."""
    if by is not None and not meeting_selectors.can_work_agenda(by, meeting):
        raise PermissionDenied("Only the meeting's clinicians make its summary.")
    if not meeting_rules.has_started(meeting, timezone.now()):
        raise ValidationError({"meeting": "The summary is made once the meeting has taken place."})
    summary = MdtSummary.objects.create(meeting=meeting, requested_by=by)
    from .tasks import generate_mdt_summary

    outbox_enqueue(generate_mdt_summary, summary.pk)
    return summary


def summaries_for_ended_meetings(*, now: datetime | None = None) -> list[int]:
    """Beat: a meeting that ended with decisions and has no summary yet gets one."""
    now = now or timezone.now()
    made = []
    for meeting_id in meeting_selectors.meetings_ended_without_summary(now).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            # Locked and asked again: two beats at once make one summary.
            meeting = MdtMeeting.objects.select_for_update().get(pk=meeting_id)
            if not meeting.summaries.exists():
                made.append(summary_request(meeting=meeting, by=None).pk)
    return made
