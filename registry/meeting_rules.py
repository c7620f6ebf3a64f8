"""Domain rules of tumour-board (MDT) meetings: who may take part, when invited members
see the meeting's patients, and when a decision may be recorded or changed. Pure
functions of the meeting, the member's hospitals and the time; services and selectors
apply them. Each refusal names the field and the rule."""

from datetime import datetime, timedelta

from consortium.models import Institution

from .models import MdtMeeting, MdtPlan

# Invited members (another hospital's clinicians at a national board) see the meeting's
# patients from shortly before it starts (to open the pages as it begins) until shortly after
# it ends, never outside: access by "tjenstlig behov" for the time of the care task
# (Normen Faktaark 14, https://www.ehelse.no/normen/faktaark/faktaark-14-tilgangsstyring).
WINDOW_BEFORE = timedelta(minutes=30)
WINDOW_AFTER = timedelta(minutes=30)
LONGEST_MEETING = timedelta(hours=12)


def window(meeting: MdtMeeting) -> tuple[datetime, datetime]:
    return meeting.starts_at - WINDOW_BEFORE, meeting.ends_at + WINDOW_AFTER


def window_open(meeting: MdtMeeting, now: datetime) -> bool:
    opens, closes = window(meeting)
    return opens <= now <= closes


def has_started(meeting: MdtMeeting, now: datetime) -> bool:
    return now >= meeting.starts_at


def has_ended(meeting: MdtMeeting, now: datetime) -> bool:
    return now > meeting.ends_at


def meeting_times_error(starts_at: datetime, ends_at: datetime) -> dict[str, str]:
    if ends_at <= starts_at:
        return {"ends_at": "The meeting must end after it starts."}
    if ends_at - starts_at > LONGEST_MEETING:
        return {"ends_at": "A meeting lasts at most 12 hours (its window opens the patients)."}
    return {}


def participant_error(
    meeting: MdtMeeting, member_hospitals: list[Institution], *, member_role: str
) -> str:
    """Why this member may not take part, or "". Local boards are the hospital's own;
    regional ones take the hospitals of the same health region; only a national board
    invites any hospital (Nasjonalt handlingsprogram for gliomer, rare tumours discussed
    nationally: https://www.helsedirektoratet.no/retningslinjer/hjernesvulster)."""
    from consortium.models import Role

    if member_role not in (Role.CLINICIAN, Role.COORDINATOR):
        return "Only clinicians and trial coordinators take part in a tumour board."
    codes = {h.pk for h in member_hospitals}
    if meeting.institution_id in codes:
        return ""
    if meeting.kind == MdtMeeting.Kind.NATIONAL:
        return "" if member_hospitals else "The member belongs to no hospital."
    if meeting.kind == MdtMeeting.Kind.REGIONAL and any(
        h.health_region and h.health_region == meeting.institution.health_region
        for h in member_hospitals
    ):
        return ""
    where = (
        "the hospital's own health region"
        if meeting.kind == MdtMeeting.Kind.REGIONAL
        else "the hospital itself"
    )
    return (
        f"A {meeting.get_kind_display().lower()} meeting takes members of {where} only; "
        "invite clinicians of other hospitals to a national meeting."
    )


def is_invited(meeting: MdtMeeting, member_hospital_ids: list[int]) -> bool:
    return meeting.institution_id not in member_hospital_ids


def decision_time_error(meeting: MdtMeeting, now: datetime) -> str:
    if has_started(meeting, now):
        return ""
    return "The meeting has not taken place yet; the board's decision is recorded at or after it."


def change_needs_reason(meeting: MdtMeeting, now: datetime, *, existing: bool) -> bool:
    """A decision changed once the meeting is over changes what the board decided: say why."""
    return existing and has_ended(meeting, now)


def plan_errors(plan: list[str], plan_other: str) -> dict[str, str]:
    if not plan:
        return {"plan": "Choose at least one treatment plan."}
    unknown = [p for p in plan if p not in MdtPlan.values]
    if unknown:
        return {"plan": f"Unknown plan: {', '.join(unknown)}; choose from {', '.join(MdtPlan)}."}
    if len(set(plan)) != len(plan):
        return {"plan": "Each plan once."}
    if MdtPlan.OTHER in plan and not plan_other.strip():
        return {"plan_other": "Say what the other plan is."}
    return {}
