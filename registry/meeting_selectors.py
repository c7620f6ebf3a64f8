"""Reads of tumour-board (MDT) meetings, always through who may see what:
- a meeting is seen by the clinicians and coordinators of its hospital, by its
  participants (invited members of other hospitals too) and by consortium admins;
- an agenda item (a patient) is seen by whoever sees the patient in the register, and by
  the meeting's members during the meeting's window (meeting_rules.window) only;
- anything else answers 404, so ids reveal nothing."""

from datetime import timedelta

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from consortium.models import Role, User

from . import meeting_rules, rules, selectors
from .models import MdtAgendaItem, MdtDecision, MdtMeeting, MdtParticipant, MolecularMarker


def meetings_visible_to(user: User) -> QuerySet[MdtMeeting]:
    if not user.is_authenticated:
        return MdtMeeting.objects.none()
    if user.is_consortium_admin:
        return MdtMeeting.objects.all()
    if user.role not in selectors.CLINICAL_ROLES:
        return MdtMeeting.objects.none()
    return MdtMeeting.objects.filter(
        Q(institution__in=selectors.user_institution_ids(user))
        | Exists(MdtParticipant.objects.filter(meeting=OuterRef("pk"), member=user))
    )


def meeting_list(user: User, *, when: str = "upcoming") -> QuerySet[MdtMeeting]:
    meetings = meetings_visible_to(user).select_related("institution")
    now = timezone.now()
    if when == "past":
        return meetings.filter(ends_at__lt=now).order_by("-starts_at", "-id")
    return meetings.filter(ends_at__gte=now).order_by("starts_at", "id")


def meeting_get(*, user: User, meeting_id: int) -> MdtMeeting:
    try:
        meeting = (
            meetings_visible_to(user)
            .select_related("institution", "created_by")
            .prefetch_related(
                Prefetch("participants", queryset=MdtParticipant.objects.select_related("member"))
            )
            .get(pk=meeting_id)
        )
    except MdtMeeting.DoesNotExist:
        raise Http404("No such meeting.") from None
    return meeting


def is_organiser(user: User, meeting: MdtMeeting) -> bool:
    """A clinician of the meeting's hospital: schedules it and chooses its members."""
    return user.role == Role.CLINICIAN and meeting.institution_id in selectors.user_institution_ids(
        user
    )


def is_member(user: User, meeting: MdtMeeting) -> bool:
    """The hospital's own clinical members or a participant (uses the prefetched list)."""
    if user.role in selectors.CLINICAL_ROLES and meeting.institution_id in (
        selectors.user_institution_ids(user)
    ):
        return True
    return any(p.member_id == user.pk for p in meeting.participants.all())


def can_work_agenda(user: User, meeting: MdtMeeting) -> bool:
    """Adds patients and records decisions: the hospital's clinicians and the clinicians
    taking part (an invited clinician brings their own hospital's patients)."""
    return user.role == Role.CLINICIAN and is_member(user, meeting)


def _items_queryset(meeting: MdtMeeting) -> QuerySet[MdtAgendaItem]:
    return (
        MdtAgendaItem.objects.filter(meeting=meeting)
        .select_related(
            "patient", "episode__institution", "decision__responsible", "decision__decided_by"
        )
        .prefetch_related(
            Prefetch("episode__markers", queryset=MolecularMarker.objects.order_by("marker"))
        )
        .order_by("position", "id")
    )


def _visible_patient_ids(user: User, meeting: MdtMeeting, patient_ids: list[int], now) -> set:
    """Of these agenda patients, those the member sees now: the register's own rules, or
    the meeting's membership while its window is open."""
    if is_member(user, meeting) and meeting_rules.window_open(meeting, now):
        return set(patient_ids)
    if not patient_ids:
        return set()
    return set(
        selectors.patients_visible_to(user).filter(pk__in=patient_ids).values_list("pk", flat=True)
    )


def agenda(*, user: User, meeting: MdtMeeting, now=None) -> tuple[list[MdtAgendaItem], int]:
    """The items this member sees now, in order, and how many others are held back
    until the window opens (for invited members)."""
    now = now or timezone.now()
    items = list(_items_queryset(meeting))
    visible = _visible_patient_ids(user, meeting, [i.patient_id for i in items], now)
    shown = [i for i in items if i.patient_id in visible]
    return shown, len(items) - len(shown)


def item_get(*, user: User, meeting: MdtMeeting, item_id: int, now=None) -> MdtAgendaItem:
    now = now or timezone.now()
    item = _items_queryset(meeting).filter(pk=item_id).first()
    if item is None or item.patient_id not in _visible_patient_ids(
        user, meeting, [item.patient_id], now
    ):
        raise Http404("No such agenda item.")
    return item


def decision_of(item: MdtAgendaItem) -> MdtDecision | None:
    try:
        return item.decision
    except MdtDecision.DoesNotExist:
        return None


def prepared_page(item: MdtAgendaItem) -> dict:
    """The register's part of the prepared patient page: the episode with every section
    (one query for all sections), the patient's course and what the report lacks."""
    patient = item.patient
    episodes = selectors.patient_episodes(patient)
    episode = next(e for e in episodes if e.pk == item.episode_id)
    return {
        "episode": episode,
        "markers": list(episode.markers.all()),
        "timeline": selectors.timeline(patient, [episode]),
        "missing": rules.missing_items(episode),
        "age": patient.age_on(timezone.localdate()),
        "other_episodes": [e for e in episodes if e.pk != episode.pk],
    }


def decision_history(decision: MdtDecision) -> list[dict]:
    """Every version of the decision, newest first: who, when, what, why."""
    events = list(
        MdtDecision.pgh_event_model.objects.filter(pgh_obj_id=decision.pk)
        .select_related("pgh_context")
        .order_by("-pgh_id")
    )
    users = User.objects.in_bulk(
        {e.pgh_context.metadata.get("user") for e in events if e.pgh_context} - {None}
    )
    return [
        {
            "at": e.pgh_created_at,
            "who": users.get((e.pgh_context.metadata if e.pgh_context else {}).get("user")),
            "recommendation": e.recommendation,
            "plan": list(e.plan),
            "reason": (e.pgh_context.metadata if e.pgh_context else {}).get("reason", ""),
            "label": e.pgh_label,
        }
        for e in events
    ]


def treating_clinicians(item: MdtAgendaItem) -> list[User]:
    """Active clinicians of the patient's institutions: told of the board's decision."""
    return list(
        User.objects.filter(
            is_active=True,
            role=Role.CLINICIAN,
            institutions__in=item.patient.institutions.values("pk"),
        ).distinct()
    )


def meetings_starting_on(day) -> QuerySet[MdtMeeting]:
    return MdtMeeting.objects.filter(starts_at__date=day).select_related("institution")


def meetings_ended_without_summary(now) -> QuerySet[MdtMeeting]:
    from .models import MdtSummary

    return (
        MdtMeeting.objects.filter(
            ends_at__lt=now,
            ends_at__gte=now - timedelta(days=2),
            items__decision__isnull=False,
        )
        .exclude(Exists(MdtSummary.objects.filter(meeting=OuterRef("pk"))))
        .distinct()
    )


def newest_summary(meeting: MdtMeeting):
    return meeting.summaries.defer("pdf").first()
