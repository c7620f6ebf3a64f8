"""Reads of the trials app, always through who may see what:
- the catalogue (trials, sites, criteria) holds no patient data: every signed-in member;
- matches: trial coordinators see the matches of their institutions' patients, consortium
  admins all; clinicians see their institutions' patients' matches on the patient page
  only; researchers and lab scientists none. Anything else answers 404.
Coordinators see the register number, the treating hospital and the facts the match
used; never the name or the national ID (the templates and serializers show neither)."""

from collections import defaultdict
from datetime import datetime

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet, Sum, Value
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Coalesce, JSONObject, NullIf
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from consortium import pagination
from consortium.models import Institution, Role, User
from consortium.prepared import PreparedQuery
from registry.models import PatientInstitution, TumourEpisode
from registry.panels import Wanted
from registry.selectors import at_own_institution, user_institution_ids

from .criteria_kinds import UNKNOWN
from .models import (
    STEP_ORDER,
    CatalogueSync,
    CloseReason,
    Eligibility,
    ManualCheck,
    Match,
    MatchCount,
    ReviewEvent,
    Step,
    Suggestion,
    Trial,
    eligibility_words,
    phases_in_words,
)


def works_trials(user: User) -> bool:
    return user.is_authenticated and user.works_trial_matches


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
    return checks_as_marked(
        match.trial.check_by_hand,
        [
            {
                "text": check.text,
                "status": check.status,
                "by": str(check.by) if check.by else None,
                "at": check.at,
                "note": check.note,
            }
            for check in match.manual_checks.all()
        ],
    )


def checks_as_marked(check_by_hand: list[str], marked: list[dict]) -> list[dict]:
    """Each of the trial's items to check by hand with its mark for one match (`marked`:
    {text, status, by, at, note} rows), or unchecked when it has none."""
    by_text = {check["text"]: check for check in marked}
    unchecked = {"status": ManualCheck.Status.UNCHECKED, "by": None, "at": None, "note": ""}
    return [{"text": text, **{**unchecked, **by_text.get(text, {})}} for text in check_by_hand]


# Which matches a list or count takes: the current ones (what the funnel counts), those a
# criteria change, closing the trial or a death took away ("no longer matching", kept with
# their history), or both. The queue, the funnel and its CSV all go through trial_matches.
CURRENT, NO_LONGER, ALL = "current", "no_longer_matching", "all"
MATCHING_CHOICES = [
    (CURRENT, "Current matches"),
    (NO_LONGER, "No longer matching"),
    (ALL, "Both"),
]


def trial_matches(*, user: User, trial_id=None, matching: str = CURRENT) -> QuerySet[Match]:
    """The one scope of the queue, the funnel and the CSV: the matches the member sees,
    of one trial or all, current, no longer matching, or both."""
    matches = matches_visible_to(user)
    if trial_id:
        matches = matches.filter(trial_id=trial_id)
    if matching == CURRENT:
        matches = matches.filter(active=True)
    elif matching == NO_LONGER:
        matches = matches.filter(active=False)
    return matches


def match_queue(
    *,
    user: User,
    trial_id=None,
    institution: str = "",
    outcome: str = "",
    step: str = "",
    flagged: bool = False,
    include_inactive: bool = False,
    matching: str = CURRENT,
) -> QuerySet[Match]:
    """Matches of trials a Norwegian patient can reach (a Nordic site or a cross-border
    referral) first, then the others; newest first within each (the order of the
    match_queue indexes, so a keyset page reads only its rows)."""
    matches = trial_matches(
        user=user, trial_id=trial_id, matching=ALL if include_inactive else matching
    )
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
    return matches.order_by(*QUEUE_ORDER)


QUEUE_ORDER = ("-reachable", "-matched_at", "-id")
# What a page of the queue is found by (the keyset's columns, and the patient for the
# access log); its rows are read after, by id (queue_rows).
QUEUE_PAGE_FIELDS = ("id", "patient", "reachable", "matched_at")


def match_queue_count(
    *,
    user: User,
    trial_id=None,
    institution: str = "",
    outcome: str = "",
    step: str = "",
    flagged: bool = False,
    include_inactive: bool = False,
    matching: str = CURRENT,
) -> int:
    """How many matches match_queue() lists with the same filters, summed from the kept
    counts (models.MatchCount): a few thousand rows whatever the number of matches."""
    if not works_trials(user):
        return 0
    counts = MatchCount.objects.all()
    if not user.is_consortium_admin:
        counts = counts.filter(institutions__overlap=user_institution_ids(user))
    if trial_id:
        counts = counts.filter(trial_id=trial_id)
    matching = ALL if include_inactive else matching
    if matching == CURRENT:
        counts = counts.filter(active=True)
    elif matching == NO_LONGER:
        counts = counts.filter(active=False)
    if institution:
        pk = Institution.objects.filter(code=institution).values_list("pk", flat=True).first()
        if pk is None:
            return 0
        counts = counts.filter(institutions__contains=[pk])
    if outcome:
        counts = counts.filter(eligibility=outcome)
    if step:
        counts = counts.filter(step=step)
    if flagged:
        counts = counts.filter(needs_another_look=True)
    return counts.aggregate(n=Sum("n"))["n"] or 0


def _cursor_of(match: Match) -> str:
    """The queue's cursor of a match (for the matching benchmark's deep pages)."""
    return pagination.cursor_of(match, [(f.lstrip("-"), f.startswith("-")) for f in QUEUE_ORDER])


def keyset_page(matches: QuerySet[Match], *, after: str = "", before: str = "", size: int = 50):
    """A page of match_queue()'s matches by keyset in the queue's order (the platform's one
    keyset pager, consortium.pagination.keyset_page): the first, the one after `after` or
    the one before `before`; PostgreSQL walks the match_queue index from the cursor. A
    cursor that is not one of the queue's is refused (ValidationError naming it).
    The page is found on the matches' own columns, then its rows are read by id with what
    they show (queue_rows): one query ordering, limiting and joining five tables took
    PostgreSQL 20-50 ms just to plan (the join orders it weighs against the index order)."""
    page = pagination.keyset_page(
        matches.only(*QUEUE_PAGE_FIELDS), after=after, before=before, size=size
    )
    page.rows = queue_rows([row.pk for row in page.rows])
    return page


_ANY_ID = 918_273_645
_STEP_WORDS = dict(Step.choices)
_CLOSE_WORDS = {value: label.lower() for value, label in CloseReason.choices}
_DIAGNOSIS_WORDS = dict(TumourEpisode._meta.get_field("diagnosis").flatchoices)


def _queue_row_values(detail: bool) -> dict:
    values = {
        "register_number": F("patient__register_number"),
        "nct_id": F("trial__nct_id"),
        "acronym": F("trial__acronym"),
        "brief_title": F("trial__brief_title"),
        "has_norwegian_site": F("trial__has_norwegian_site"),
        "phases": F("trial__phases"),
        "arm_label": F("arm__label"),
        "hospitals": ArraySubquery(
            PatientInstitution.objects.filter(patient=OuterRef("patient_id"))
            .order_by("institution__code")
            .values("institution__code")
        ),
    }
    if detail:
        values |= {
            "diagnosis": F("episode__diagnosis"),
            "verdicts": F("verdict_set__rows"),
            # The trial's items alone, not its whole criteria tree.
            "check_by_hand": KeyTransform("check_by_hand", "trial__criteria"),
            "checks": ArraySubquery(
                ManualCheck.objects.filter(match=OuterRef("pk"))
                .order_by("pk")
                .values(
                    json=JSONObject(
                        text="text",
                        status="status",
                        note="note",
                        at="at",
                        # str(user): the name, else the e-mail address
                        by=Coalesce(NullIf("by__full_name", Value("")), "by__email"),
                    )
                )
            ),
        }
    return values


_QUEUE_COLUMNS = (
    "id",
    "version",
    "patient_id",
    "trial_id",
    "episode_id",
    "outcome",
    "eligibility",
    "checks_pending",
    "reachable",
    "active",
    "inactive_reason",
    "needs_another_look",
    "step",
    "close_reason",
    "matched_at",
    "outcome_changed_at",
)


def queue_rows(ids: list[int], *, detail: bool = False) -> list[dict]:
    """The queue's rows of these matches, in this order, as plain values ready to show
    (the page's and the trial page's list; with detail=True also what the API lists:
    diagnosis, verdicts, items to check by hand as marked). One query; no model instance
    per row (building five per match and serialising them was most of a page's time,
    benchmark_matching)."""
    if not ids:
        return []
    rows = {
        row["id"]: row
        for row in Match.objects.filter(pk__in=ids)
        .order_by()
        .values(*_QUEUE_COLUMNS, **_queue_row_values(detail))
    }
    # The match page's address, reversed once (not once per row)
    url = reverse("trials:match_detail", args=[_ANY_ID]).replace(str(_ANY_ID), "{}")
    out = []
    for pk in ids:
        row = rows.get(pk)
        if row is None:  # deleted since its page was found
            continue
        row["url"] = url.format(pk)
        row["choice"] = f"{pk}:{row['version']}"  # the bulk move's box (id:version shown)
        row["trial_name"] = row["nct_id"] or row["brief_title"]
        row["phase_words"] = phases_in_words(row["phases"])
        row["hospital_words"] = ", ".join(row["hospitals"])
        row["outcome_words"] = eligibility_words(row["eligibility"], row["checks_pending"])
        row["step_words"] = _STEP_WORDS.get(row["step"], row["step"])
        row["close_reason_words"] = _CLOSE_WORDS.get(row["close_reason"], row["close_reason"])
        row["matched_on"] = timezone.localtime(row["matched_at"]).strftime("%d.%m.%Y %H:%M")
        if detail:
            row["diagnosis"] = _DIAGNOSIS_WORDS.get(row["diagnosis"], row["diagnosis"])
            row["verdicts"] = row["verdicts"] or []
            marked = [
                {**check, "at": datetime.fromisoformat(check["at"]) if check["at"] else None}
                for check in row["checks"]
            ]
            row["manual_checks"] = checks_as_marked(row["check_by_hand"] or [], marked)
        out.append(row)
    return out


def match_get(*, user: User, pk: int) -> Match:
    match = _with_hospitals(matches_visible_to(user)).filter(pk=pk).first()
    if match is None:
        raise Http404
    return match


def match_events(match: Match) -> list[ReviewEvent]:
    return list(match.review_events.select_related("by").order_by("at", "id"))


PANEL_LEAVES_OUT = (
    "official_title",
    "conditions",
    "eligibility_text",
    "interventions",
    "import_warnings",
    "coordinator_notes",
    "sponsor",
)


# The patient page's panel, built once per process (consortium.prepared).
_PANEL_MATCHES = PreparedQuery(
    lambda patient: (
        Match.objects.filter(patient=patient, active=True)
        .select_related("trial", "arm", "verdict_set")
        # The panel shows a trial's name, sites and items to check by hand: its eligibility
        # text and the rest of the catalogue record (several kilobytes each) stay behind.
        .defer(*(f"trial__{name}" for name in PANEL_LEAVES_OUT))
        .prefetch_related(
            Prefetch("manual_checks", queryset=ManualCheck.objects.select_related("by"))
        )
        .order_by(
            "-reachable", "-trial__has_norwegian_site", "eligibility", "trial__brief_title", "id"
        )
    ),
    patient=-1,
)
_REPLIES_TO = PreparedQuery(
    lambda matches: (
        ReviewEvent.objects.filter(match_id__any_of=matches).select_related("by").order_by("at")
    ),
    matches=[-1],
)


def patient_matches(*, user: User, patient) -> list[Match]:
    """For the patient page's panel: the treating clinicians and coordinators of the
    patient's institutions, and admins. Open trials with a Norwegian site first."""
    if not user.is_consortium_admin:  # an admin sees every match (matches_visible_to)
        if user.role != Role.CLINICIAN and not works_trials(user):
            return []
        # The patient page has read the patient's institutions: no EXISTS per request.
        if not at_own_institution(user, patient):
            return []
    matches = _PANEL_MATCHES(patient=patient.pk)
    replies = defaultdict(list)
    if matches:
        for event in _REPLIES_TO(matches=[m.pk for m in matches]):
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


def latest_sync() -> CatalogueSync | None:
    """The last weekly ClinicalTrials.gov sync that finished (for the coordinators' notice)."""
    return CatalogueSync.objects.filter(finished_at__isnull=False).first()


def trial_get(*, pk: int) -> Trial:
    trial = Trial.objects.prefetch_related("sites", "arms").filter(pk=pk).first()
    if trial is None:
        raise Http404
    return trial


def trial_suggestions(*, trial: Trial, status: str = "") -> QuerySet[Suggestion]:
    """The suggestions read from the trial's current eligibility text (open and decided),
    in text order; older texts' decided ones stay in the history (confirmed_suggestions)."""
    from .reading import text_hash

    found = Suggestion.objects.filter(
        trial=trial, text_hash=text_hash(trial.eligibility_text or "")
    ).select_related("arm", "decided_by", "accepted_arm")
    return found.filter(status=status) if status else found


def confirmed_suggestions(*, trial: Trial) -> QuerySet[Suggestion]:
    """Which criteria came from suggestions, who confirmed them and when (any text)."""
    return (
        Suggestion.objects.filter(
            trial=trial, status__in=[Suggestion.Status.ACCEPTED, Suggestion.Status.EDITED]
        )
        .select_related("decided_by", "accepted_arm")
        .order_by("decided_at", "id")
    )


def suggestions_waiting(trial_ids: list[int]) -> dict[int, int]:
    """Trial id -> suggested criteria still waiting for a coordinator (one query)."""
    return dict(
        Suggestion.objects.filter(trial_id__in=trial_ids, status=Suggestion.Status.PROPOSED)
        .values_list("trial_id")
        .annotate(n=Count("id"))
        .values_list("trial_id", "n")
    )


def suggestion_get(*, trial: Trial, pk: int) -> Suggestion:
    found = Suggestion.objects.filter(trial=trial, pk=pk).select_related("arm").first()
    if found is None:
        raise Http404
    return found


FUNNEL_STAGES = ("matched", "reviewed", "contacted", "screened", "enrolled")


def funnel(*, user: User, trial: Trial) -> dict:
    """Of the trial's current matches (trial_matches, as the queue lists them): matched,
    reviewed, contacted, screened, enrolled (a match counts at every step it reached, by
    its steps' history), and the close reasons; beside them the matches no longer
    matching. Counted in the database, one query."""

    def reached(steps) -> Q:
        return Q(step__in=steps) | Q(
            Exists(
                ReviewEvent.objects.filter(
                    match=OuterRef("pk"), kind=ReviewEvent.Kind.STEP, step__in=steps
                )
            )
        )

    current = Q(active=True)
    counts = trial_matches(user=user, trial_id=trial.pk, matching=ALL).aggregate(
        matched=Count("pk", filter=current),
        reviewed=Count("pk", filter=current & reached(STEP_ORDER[1:] + [Step.CLOSED])),
        contacted=Count("pk", filter=current & reached(STEP_ORDER[2:])),
        screened=Count("pk", filter=current & reached(STEP_ORDER[3:])),
        enrolled=Count("pk", filter=current & reached(STEP_ORDER[4:])),
        no_longer_matching=Count("pk", filter=Q(active=False)),
        **{
            f"reason_{reason}": Count("pk", filter=current & Q(close_reason=reason))
            for reason in CloseReason.values
        },
    )
    return {
        "stages": [(name, counts[name]) for name in FUNNEL_STAGES],
        "no_longer_matching": counts["no_longer_matching"],
        "reasons": {
            reason: counts[f"reason_{reason}"]
            for reason in CloseReason.values
            if counts[f"reason_{reason}"]
        },
    }


# --- Tumour boards (registry MDT meetings) ---------------------------------------------


def episode_candidates(episode_ids: list[int]) -> dict[int, list[Match]]:
    """The active matches of these episodes (the board's candidate trials), best first,
    with verdicts and checks: {episode id: [match, ...]} in three queries. Scoped by the
    caller: the register has decided that the member sees these agenda patients."""
    matches = list(
        Match.objects.filter(episode_id__in=episode_ids, active=True)
        .exclude(eligibility="not_eligible")
        .select_related("trial", "arm", "verdict_set")
        .prefetch_related(
            Prefetch("manual_checks", queryset=ManualCheck.objects.select_related("by"))
        )
        .order_by(
            "-reachable", "-trial__has_norwegian_site", "eligibility", "trial__brief_title", "id"
        )
    )
    found: dict[int, list[Match]] = defaultdict(list)
    for match in matches:
        match.check_list = manual_checks(match)
        found[match.episode_id].append(match)
    return found


def candidate_counts(episode_ids: list[int]) -> dict[int, dict[str, int]]:
    """{episode id: {eligibility: count}} of the active candidate matches, one query."""
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    rows = (
        Match.objects.filter(episode_id__in=episode_ids, active=True)
        .exclude(eligibility="not_eligible")
        .values_list("episode_id", "eligibility")
        .annotate(n=Count("pk"))
    )
    for episode_id, eligibility, n in rows:
        counts[episode_id][eligibility] = n
    return counts


def referrals_visible_to(user: User) -> QuerySet:
    """Tumour-board referrals: the coordinators of the patient's institutions and admins
    (the review queue's scope); the referring clinicians of those institutions."""
    from .models import TrialReferral

    if not user.is_authenticated:
        return TrialReferral.objects.none()
    if user.is_consortium_admin:
        return TrialReferral.objects.all()
    if user.role not in (Role.COORDINATOR, Role.CLINICIAN):
        return TrialReferral.objects.none()
    return TrialReferral.objects.filter(_of_own_patients(user))


def referral_list(user: User, *, status: str = "") -> QuerySet:
    referrals = referrals_visible_to(user).select_related(
        "trial", "patient", "episode__institution", "by", "decision__item__meeting", "match"
    )
    return referrals.filter(status=status) if status else referrals


def referral_get(*, user: User, pk: int):
    referral = referral_list(user).filter(pk=pk).first()
    if referral is None:
        raise Http404("No such referral.")
    return referral


# --- Before the register locks a report (registry.panels.register_submit_check) ---------


def wanted_before_submit(user: User, episode) -> list[Wanted]:
    """What the open candidate matches of this episode find unknown in the register (its
    verdicts' "what to do", e.g. "Record when radiotherapy ended."), each with the trials
    asking, best match first: shown before the report is locked, since a report locked
    without it leaves the trial's question open until a coordinator reopens it. Missing
    data is unknown, never not met (docs/trials-matching.md §2), so these are the facts
    that would settle a verdict. One query; the register has decided the member edits it."""
    scope = (
        Match.objects.filter(_of_own_patients(user))
        if user.role == Role.CLINICIAN
        else matches_visible_to(user)
    )
    matches = (
        scope.filter(episode_id=episode.pk, active=True)
        .exclude(eligibility=Eligibility.NOT_ELIGIBLE)
        .exclude(step__in=(Step.CLOSED, Step.ENROLLED))
        .select_related("trial", "arm", "verdict_set")
        .order_by("-reachable", "-trial__has_norwegian_site", "eligibility", "trial__brief_title")
    )
    asked: dict[str, list[str]] = {}
    for match in matches:
        trial = match.trial
        who = " ".join(part for part in (trial.nct_id, trial.brief_title) if part)
        if match.arm_id:
            who += f" ({match.arm.label})"
        for row in match.verdicts:
            reason = row.get("reason", "")
            if row.get("verdict") == UNKNOWN and reason:
                if who not in asked.setdefault(reason, []):
                    asked[reason].append(who)
    return [Wanted(item, tuple(trials), "trials") for item, trials in asked.items()]
