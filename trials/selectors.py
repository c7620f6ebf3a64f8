"""Reads of the trials app, always through who may see what:
- the catalogue (trials, sites, criteria) holds no patient data: every signed-in member;
- matches: trial coordinators see the matches of their institutions' patients, consortium
  admins all; clinicians see their institutions' patients' matches on the patient page
  only; researchers and lab scientists none. Anything else answers 404.
Coordinators see the register number, the treating hospital and the facts the match
used; never the name or the national ID (the templates and serializers show neither)."""

from collections import Counter, defaultdict

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import Http404

from consortium.models import Role, User
from registry.models import PatientInstitution
from registry.selectors import user_institution_ids

from .models import STEP_ORDER, ManualCheck, Match, ReviewEvent, Step, Trial


def works_trials(user: User) -> bool:
    return user.is_authenticated and (user.is_consortium_admin or user.role == Role.COORDINATOR)


def _of_own_patients(user: User) -> Q:
    return Q(
        Exists(
            PatientInstitution.objects.filter(
                patient=OuterRef("patient_id"), institution__in=user_institution_ids(user)
            )
        )
    )


def matches_visible_to(user: User) -> QuerySet[Match]:
    """The review queue's scope (coordinators and admins)."""
    if not works_trials(user):
        return Match.objects.none()
    if user.is_consortium_admin:
        return Match.objects.all()
    return Match.objects.filter(_of_own_patients(user))


def clinician_sees_match(user: User, match: Match) -> bool:
    return (
        user.role == Role.CLINICIAN
        and Match.objects.filter(pk=match.pk).filter(_of_own_patients(user)).exists()
    )


def match_for_clinician(*, user: User, pk: int) -> Match:
    """A match of one of the clinician's institutions' patients (to answer it), or 404."""
    if user.role != Role.CLINICIAN:
        raise Http404
    match = (
        Match.objects.filter(pk=pk).filter(_of_own_patients(user)).select_related("patient").first()
    )
    if match is None:
        raise Http404
    return match


def _with_hospitals(matches: QuerySet[Match]) -> QuerySet[Match]:
    return (
        matches.select_related("trial", "arm", "patient", "episode", "verdict_set")
        .prefetch_related(
            Prefetch("manual_checks", queryset=ManualCheck.objects.select_related("by"))
        )
        .annotate(
            hospitals=ArraySubquery(
                PatientInstitution.objects.filter(patient=OuterRef("patient_id"))
                .order_by("institution__code")
                .values("institution__code")
            )
        )
    )


def manual_checks(match: Match) -> list[dict]:
    """The trial's items to check by hand, each as marked for this match (or unchecked),
    in the trial's order (prefetch manual_checks to read many matches' without a query each)."""
    marked = {check.text: check for check in match.manual_checks.all()}
    out = []
    for text in match.trial.check_by_hand:
        check = marked.get(text)
        out.append(
            {
                "text": text,
                "status": check.status if check else ManualCheck.Status.UNCHECKED,
                "by": str(check.by) if check and check.by else None,
                "at": check.at if check else None,
                "note": check.note if check else "",
            }
        )
    return out


def match_queue(
    *,
    user: User,
    trial_id=None,
    institution: str = "",
    outcome: str = "",
    step: str = "",
    flagged: bool = False,
    include_inactive: bool = False,
) -> QuerySet[Match]:
    """Newest first; Norwegian-site trials first among matches of the same moment."""
    matches = matches_visible_to(user)
    if not include_inactive:
        matches = matches.filter(active=True)
    if trial_id:
        matches = matches.filter(trial_id=trial_id)
    if institution:
        matches = matches.filter(
            Exists(
                PatientInstitution.objects.filter(
                    patient=OuterRef("patient_id"), institution__code=institution
                )
            )
        )
    if outcome:
        matches = matches.filter(eligibility=outcome)
    if step:
        matches = matches.filter(step=step)
    if flagged:
        matches = matches.filter(needs_another_look=True)
    return _with_hospitals(matches).order_by("-matched_at", "-trial__has_norwegian_site", "-id")


def match_get(*, user: User, pk: int) -> Match:
    match = _with_hospitals(matches_visible_to(user)).filter(pk=pk).first()
    if match is None:
        raise Http404
    return match


def match_events(match: Match) -> list[ReviewEvent]:
    return list(match.review_events.select_related("by").order_by("at", "id"))


def patient_matches(*, user: User, patient) -> list[Match]:
    """For the patient page's panel: the treating clinicians and coordinators of the
    patient's institutions, and admins. Open trials with a Norwegian site first."""
    if user.role == Role.CLINICIAN:
        scope = Match.objects.filter(_of_own_patients(user))
    else:
        scope = matches_visible_to(user)
    matches = list(
        scope.filter(patient=patient, active=True)
        .select_related("trial", "arm", "episode", "verdict_set")
        .prefetch_related(
            Prefetch("manual_checks", queryset=ManualCheck.objects.select_related("by"))
        )
        .order_by(
            "-reachable", "-trial__has_norwegian_site", "eligibility", "trial__brief_title", "id"
        )
    )
    replies = defaultdict(list)
    for event in (
        ReviewEvent.objects.filter(match__in=[m.pk for m in matches])
        .select_related("by")
        .order_by("at")
    ):
        replies[event.match_id].append(event)
    for match in matches:
        match.event_list = replies[match.pk]
        match.check_list = manual_checks(match)
    return matches


# --- The catalogue -------------------------------------------------------------------


def trial_list(
    *,
    status: str = "",
    phase: str = "",
    norwegian: bool | None = None,
    diagnosis: str = "",
    country: str = "",
    search: str = "",
) -> QuerySet[Trial]:
    trials = Trial.objects.all()
    if status:
        trials = trials.filter(overall_status=status)
    if phase:
        trials = trials.filter(phases__contains=[phase])
    if norwegian or country.upper() == "NO":
        trials = trials.filter(has_norwegian_site=True)
    elif country:
        trials = trials.filter(sites__country__iexact=country).distinct()
    if diagnosis:
        trials = trials.filter(diagnoses__contains=[diagnosis])
    if search:
        trials = trials.filter(
            Q(brief_title__icontains=search)
            | Q(nct_id__iexact=search.strip())
            | Q(acronym__icontains=search)
            | Q(conditions__icontains=search)
        )
    return trials.order_by("-has_norwegian_site", "brief_title", "id")


def trial_get(*, pk: int) -> Trial:
    trial = Trial.objects.prefetch_related("sites", "arms").filter(pk=pk).first()
    if trial is None:
        raise Http404
    return trial


def funnel(*, user: User, trial: Trial) -> dict:
    """Matched, reviewed, contacted, screened, enrolled (a match counts at every step it
    reached), and the reasons the rest were not enrolled; of the matches the member sees."""
    matches = matches_visible_to(user).filter(trial=trial)
    reached = defaultdict(set)
    for match_id, step in ReviewEvent.objects.filter(
        match__in=matches.values("pk"), kind=ReviewEvent.Kind.STEP
    ).values_list("match_id", "step"):
        reached[match_id].add(step)
    rank = {step: i for i, step in enumerate(STEP_ORDER)}
    counts = Counter()
    reasons = Counter()
    for pk, step, reason in matches.values_list("pk", "step", "close_reason"):
        furthest = max((rank[s] for s in reached[pk] | {step} if s in rank), default=0)
        counts["matched"] += 1
        counts["reviewed"] += step != Step.NEW or bool(reached[pk])
        counts["contacted"] += furthest >= rank[Step.CONTACTED]
        counts["screened"] += furthest >= rank[Step.SCREENING]
        counts["enrolled"] += furthest >= rank[Step.ENROLLED]
        if reason:
            reasons[reason] += 1
    stages = [
        (name, counts[name])
        for name in ("matched", "reviewed", "contacted", "screened", "enrolled")
    ]
    return {"stages": stages, "reasons": reasons}
