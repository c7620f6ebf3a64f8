"""The trial catalogue (ClinicalTrials.gov API v2 records and trials entered by hand),
the structured eligibility coordinators encode, and the matches of register episodes to
trials with their review steps. Facts and examples: docs/trials-matching.md.

The criteria tree is JSON {"version": 1, "criteria": {...}, "check_by_hand": [...]}
(schema in criteria.py); matching keeps one row per (episode, trial, arm) that was ever
eligible or possibly eligible, diffed on re-runs so coordinators' work survives
(MatchMiner's hash-diffing, docs/trials-matching.md §1)."""

import pghistory
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.urls import reverse
from django.utils import timezone

from consortium.append_only import protect_history_of
from registry.models import Patient, TumourEpisode

OPEN_STATUSES = ("RECRUITING", "NOT_YET_RECRUITING")
# A site in one of these countries is reachable for a Norwegian patient without a
# cross-border referral arrangement (the Nordic countries, ClinicalTrials.gov's country
# names: https://clinicaltrials.gov/data-api/api, locations[].country).
NORDIC_COUNTRIES = ("Norway", "Sweden", "Denmark", "Finland", "Iceland")


class TrialStatus(models.TextChoices):
    # ClinicalTrials.gov overallStatus values (docs/trials-matching.md §3).
    RECRUITING = "RECRUITING", "Recruiting"
    NOT_YET_RECRUITING = "NOT_YET_RECRUITING", "Not yet recruiting"
    ENROLLING_BY_INVITATION = "ENROLLING_BY_INVITATION", "Enrolling by invitation"
    ACTIVE_NOT_RECRUITING = "ACTIVE_NOT_RECRUITING", "Active, not recruiting"
    SUSPENDED = "SUSPENDED", "Suspended"
    TERMINATED = "TERMINATED", "Terminated"
    COMPLETED = "COMPLETED", "Completed"
    WITHDRAWN = "WITHDRAWN", "Withdrawn"
    UNKNOWN = "UNKNOWN", "Unknown"


PHASES = ["EARLY_PHASE1", "PHASE1", "PHASE2", "PHASE3", "PHASE4", "NA"]


@pghistory.track()
class Trial(models.Model):
    class Source(models.TextChoices):
        CTGOV = "ctgov", "ClinicalTrials.gov"
        MANUAL = "manual", "Entered by hand"

    nct_id = models.CharField("NCT id", max_length=11, blank=True, db_index=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.CTGOV)
    brief_title = models.CharField(max_length=500)
    official_title = models.TextField(blank=True)
    acronym = models.CharField(max_length=100, blank=True)
    overall_status = models.CharField(
        max_length=30, choices=TrialStatus, default=TrialStatus.UNKNOWN
    )
    phases = ArrayField(models.CharField(max_length=20), default=list, blank=True)
    conditions = ArrayField(models.CharField(max_length=300), default=list, blank=True)
    eligibility_text = models.TextField(blank=True)
    minimum_age = models.CharField(
        max_length=30, blank=True, help_text='As registered, e.g. "18 Years".'
    )
    maximum_age = models.CharField(max_length=30, blank=True)
    sex = models.CharField(max_length=10, blank=True, help_text="ALL, FEMALE or MALE.")
    sponsor = models.CharField(max_length=300, blank=True)
    interventions = models.JSONField(default=list, blank=True)
    last_update = models.DateField(null=True, blank=True)
    has_norwegian_site = models.BooleanField(default=False, db_index=True)
    has_nordic_site = models.BooleanField(
        default=False, help_text="A site in Norway, Sweden, Denmark, Finland or Iceland."
    )
    cross_border_referral = models.BooleanField(
        "cross-border referral possible",
        default=False,
        help_text="A coordinator confirmed that Norwegian patients can be referred to a site "
        "abroad (recorded by hand; a re-import keeps it).",
    )
    import_warnings = ArrayField(
        models.CharField(max_length=300),
        default=list,
        blank=True,
        help_text="What the imported record lacked.",
    )
    # Coordinators' additions: never overwritten by a re-import.
    criteria = models.JSONField(null=True, blank=True)
    criteria_encoded_at = models.DateTimeField(
        null=True, blank=True, help_text="Matched only once a coordinator encoded criteria."
    )
    diagnoses = ArrayField(
        models.CharField(max_length=60),
        default=list,
        blank=True,
        help_text="Diagnoses named in the criteria (for the list's filter).",
    )
    coordinator_notes = models.TextField(blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-has_norwegian_site", "brief_title", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["nct_id"], condition=~models.Q(nct_id=""), name="one_trial_per_nct_id"
            )
        ]

    def __str__(self) -> str:
        return f"{self.nct_id or 'Local'}: {self.acronym or self.brief_title[:60]}"

    def get_absolute_url(self) -> str:
        return reverse("trials:trial_detail", args=[self.pk])

    @property
    def is_open(self) -> bool:
        return self.overall_status in OPEN_STATUSES

    @property
    def reachable(self) -> bool:
        """A Norwegian patient can take part: a Nordic site, or a referral abroad arranged."""
        return self.has_nordic_site or self.cross_border_referral

    @property
    def check_by_hand(self) -> list[str]:
        return list((self.criteria or {}).get("check_by_hand", []))

    @property
    def phase_words(self) -> str:
        return phases_in_words(self.phases)


PHASE_WORDS = {
    # ClinicalTrials.gov's phase values in the words of its own site
    # (https://clinicaltrials.gov/data-api/about-api/study-data-structure, designModule.phases).
    "EARLY_PHASE1": "Early phase 1",
    "PHASE1": "Phase 1",
    "PHASE2": "Phase 2",
    "PHASE3": "Phase 3",
    "PHASE4": "Phase 4",
    "NA": "Not applicable",
}


def phases_in_words(phases) -> str:
    """["PHASE2", "PHASE3"] -> "Phase 2/Phase 3" (a phase 2/3 trial has both entries)."""
    return "/".join(PHASE_WORDS.get(p, p) for p in phases or [])


class TrialSite(models.Model):
    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="sites")
    facility = models.CharField(max_length=300, blank=True)
    city = models.CharField(max_length=100, blank=True)
    country = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=30, blank=True)
    is_norwegian = models.BooleanField(default=False)

    class Meta:
        ordering = ["-is_norwegian", "country", "city", "id"]

    def __str__(self) -> str:
        return f"{self.facility or 'site'}, {self.city or '-'}, {self.country or '-'}"


@pghistory.track()
class TrialArm(models.Model):
    """An arm or cohort (armGroups of the record); coordinators may give it criteria of its own."""

    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="arms")
    label = models.CharField(max_length=300)
    arm_type = models.CharField(max_length=40, blank=True)
    description = models.TextField(blank=True)
    intervention_names = ArrayField(models.CharField(max_length=300), default=list, blank=True)
    criteria = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["trial", "label"], name="one_arm_per_label")]

    def __str__(self) -> str:
        return self.label


class Outcome(models.TextChoices):
    """The engine's verdict on the encoded criteria alone (Match.outcome)."""

    ELIGIBLE = "eligible", "Eligible on the encoded criteria"
    POSSIBLY = "possibly", "Possibly eligible"
    NOT_ELIGIBLE = "not_eligible", "Not eligible"


class Eligibility(models.TextChoices):
    """What a coordinator may act on (Match.eligibility, the API's `outcome`): the
    engine's verdict and the criteria checked by hand together. Every encoded criterion
    met is not yet eligible while an item to check by hand is open; one marked not met
    makes the match not eligible."""

    ELIGIBLE = "eligible", "Eligible"
    PENDING_CHECKS = "eligible_pending_checks", "Eligible on the encoded criteria"
    POSSIBLY = "possibly_eligible", "Possibly eligible"
    NOT_ELIGIBLE = "not_eligible", "Not eligible"


class Step(models.TextChoices):
    NEW = "new", "New"
    UNDER_REVIEW = "under_review", "Under review"
    CONTACTED = "contacted", "Treating physician contacted"
    SCREENING = "screening", "Screening"
    ENROLLED = "enrolled", "Enrolled"
    CLOSED = "closed", "Closed"


STEP_ORDER = [Step.NEW, Step.UNDER_REVIEW, Step.CONTACTED, Step.SCREENING, Step.ENROLLED]


# The review's steps and the only moves between them: forward one step at a time, closed
# (with a reason) from any open step, reopened (with a reason) back to review. Enrolled
# ends the review. The same table refuses a move in the browser, the API and bulk moves
# (services.check_step_move), as screening's request table does.
STEP_TRANSITIONS: dict[str, tuple[str, ...]] = {
    Step.NEW: (Step.UNDER_REVIEW, Step.CLOSED),
    Step.UNDER_REVIEW: (Step.CONTACTED, Step.CLOSED),
    Step.CONTACTED: (Step.SCREENING, Step.CLOSED),
    Step.SCREENING: (Step.ENROLLED, Step.CLOSED),
    Step.ENROLLED: (),
    Step.CLOSED: (Step.UNDER_REVIEW,),
}


_ELIGIBILITY_WORDS = dict(Eligibility.choices)


def eligibility_words(eligibility: str, checks_pending: int) -> str:
    """What the queue and the match page say of a match's eligibility: "Eligible on the
    encoded criteria, N to check by hand" while items are open."""
    if eligibility == Eligibility.PENDING_CHECKS:
        return f"{Eligibility.PENDING_CHECKS.label}, {checks_pending} to check by hand"
    return _ELIGIBILITY_WORDS.get(eligibility, eligibility or "")


class CloseReason(models.TextChoices):
    DECLINED = "declined", "Declined by patient"
    NOT_ELIGIBLE = "not_eligible", "Not eligible after review"
    NOT_PURSUED = "not_pursued", "Not pursued"


class VerdictSet(models.Model):
    """A match's per-criterion verdict rows ({"criterion", "verdict", "value", "reason"}),
    stored once per distinct list: keyed by the engine's fingerprint (an md5 of the
    outcome and the rows, engine._digest), which many matches share. Content-addressed,
    so never updated; the engine inserts what is new (ON CONFLICT DO NOTHING) before the
    matches that refer to it. Storing the list in every match made the full run's writes
    and the match table several times larger (benchmark_matching)."""

    fingerprint = models.CharField(max_length=32, primary_key=True)
    rows = models.JSONField(default=list)

    def __str__(self) -> str:
        return self.fingerprint


# Updates only: a match is inserted by the engine from register facts that pghistory
# already keeps (and the insert is the row itself, with matched_at); every later change,
# the engine's or a coordinator's, is an update and is kept. Tracking the inserts too
# doubled the nightly run's write cost (benchmark_matching).
@pghistory.track(pghistory.UpdateEvent())
class Match(models.Model):
    """One (episode, trial, arm) that the engine found eligible or possibly eligible.
    Rows are kept when the outcome later drops (trial closed, patient died, facts
    changed): `active` turns off, so the coordinator's step and notes stay."""

    # No single-column indexes on episode and trial: the unique (episode, trial, arm) and
    # the (trial, active, outcome) indexes start with them and serve the same look-ups;
    # every index is paid on each of a full run's inserts (benchmark_matching).
    episode = models.ForeignKey(
        TumourEpisode, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    # The episode's patient, kept on the match for the who-sees-what filters. No database
    # constraint: the episode's foreign key already holds (a patient's deletion cascades
    # through the episode, and Django cascades this one too), and its check was paid on
    # every insert of a full run (benchmark_matching).
    patient = models.ForeignKey(
        Patient, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    trial = models.ForeignKey(
        Trial, on_delete=models.CASCADE, related_name="matches", db_index=False
    )
    # No index either: matches are looked up by trial (with the arm), and deleting an arm
    # (rare, by hand) can afford a scan; the index would be paid on every insert.
    arm = models.ForeignKey(
        TrialArm,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="matches",
        db_index=False,
    )
    outcome = models.CharField(max_length=20, choices=Outcome)
    # The fingerprint of the verdicts the match was last judged with (the run's diff key)
    # and through it the verdict rows. A match that drops out keeps it: the coordinator
    # still sees the verdicts as they last saw them. No index: nothing looks matches up by
    # it, and every index is paid on each insert. No database constraint either: its check
    # on each of a full run's inserts cost a sixth of the run (benchmark_matching); the
    # engine inserts the lists before the matches in the same transaction, and lists are
    # never deleted (content-addressed, shared).
    verdict_set = models.ForeignKey(
        VerdictSet,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_column="fingerprint",
        db_constraint=False,
    )
    # The trial's items to check by hand not yet marked for this patient, and whether one
    # was marked not met (services keep both; the engine inserts a match with all open).
    checks_pending = models.PositiveSmallIntegerField(default=0, db_default=0)
    checks_failed = models.BooleanField(default=False, db_default=False)
    eligibility = models.GeneratedField(
        expression=models.Case(
            models.When(
                models.Q(outcome=Outcome.NOT_ELIGIBLE) | models.Q(checks_failed=True),
                then=models.Value(Eligibility.NOT_ELIGIBLE.value),
            ),
            models.When(outcome=Outcome.POSSIBLY, then=models.Value(Eligibility.POSSIBLY.value)),
            models.When(checks_pending__gt=0, then=models.Value(Eligibility.PENDING_CHECKS.value)),
            default=models.Value(Eligibility.ELIGIBLE.value),
        ),
        output_field=models.CharField(max_length=30, choices=Eligibility),
        db_persist=True,
    )
    # The trial has a Nordic site or a cross-border referral was recorded (kept on the
    # match so the queue's order has an index; services update it with the trial).
    reachable = models.BooleanField(default=True, db_default=True)
    active = models.BooleanField(default=True)
    inactive_reason = models.CharField(max_length=100, blank=True)
    needs_another_look = models.BooleanField(default=False)
    step = models.CharField(max_length=20, choices=Step, default=Step.NEW)
    close_reason = models.CharField(max_length=20, choices=CloseReason, blank=True)
    notes = models.TextField(blank=True)
    version = models.PositiveIntegerField(default=1)
    matched_at = models.DateTimeField(default=timezone.now)
    outcome_changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-matched_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["episode", "trial", "arm"],
                nulls_distinct=False,
                name="one_match_per_episode_trial_arm",
            ),
        ]
        # The queue's order (reachable trials first, newest first), whole or for one
        # trial: keyset pages walk these indexes instead of sorting every match.
        indexes = [
            models.Index(
                fields=["trial", "active", "-reachable", "-matched_at", "-id"],
                name="match_trial_queue",
            ),
            models.Index(fields=["active", "-reachable", "-matched_at", "-id"], name="match_queue"),
            # The queue's filters in the same order, so a filter that few matches meet
            # (a review step, "needs another look", an outcome) walks only those: walking
            # the whole order for them, or the sequential scan PostgreSQL chose instead,
            # took 100-150 ms at 700,000 matches (benchmark_matching). Steps and the flag
            # are partial indexes: every match starts new and unflagged, so the nightly
            # run's inserts add nothing to them; the outcome takes any of its values.
            models.Index(
                fields=["step", "active", "-reachable", "-matched_at", "-id"],
                condition=~models.Q(step=Step.NEW),
                name="match_queue_reviewed",
            ),
            models.Index(
                fields=["active", "-reachable", "-matched_at", "-id"],
                condition=models.Q(needs_another_look=True),
                name="match_queue_flagged",
            ),
            models.Index(
                fields=["eligibility", "active", "-reachable", "-matched_at", "-id"],
                name="match_queue_eligibility",
            ),
        ]  # patient: the foreign key's index

    def __str__(self) -> str:
        return f"episode {self.episode_id} for trial {self.trial_id} ({self.outcome})"

    def get_absolute_url(self) -> str:
        return reverse("trials:match_detail", args=[self.pk])

    @property
    def eligibility_display(self) -> str:
        return Eligibility(self.eligibility).label if self.eligibility else ""

    @property
    def outcome_words(self) -> str:
        return eligibility_words(self.eligibility, self.checks_pending)

    @property
    def fingerprint(self) -> str:
        return self.verdict_set_id

    @property
    def verdicts(self) -> list:
        """The per-criterion rows (select_related("verdict_set") to read them without a
        query each)."""
        return self.verdict_set.rows if self.verdict_set_id else []


class MatchCount(models.Model):
    """How many matches there are of one trial, for patients treated at one set of
    institutions, current or not, by eligibility, step and flag: the queue's count is a
    sum over these rows (a few thousand) instead of a count of 700,000 matches with an
    institution check each (benchmark_matching). Kept by database triggers on the match
    and the patient-institution tables (migration 0013), so every writer keeps it in its
    own transaction: the engine's COPY and bulk updates, the review services, cascades.
    Rows are changes (+n, -n), never one counter updated in place, so no writer waits for
    another's counter row (the nightly run's transaction holds its own for minutes);
    the nightly run folds them (trials_matchcount_rebuild(), counted again from the
    matches under a lock, which also mends any drift from concurrent writers)."""

    # No foreign key: a deleted trial's rows sum to zero and the next fold drops them.
    trial_id = models.IntegerField()
    # The patient's institutions (ids, ascending): a coordinator's count sums the rows
    # whose set meets theirs, so a patient treated at two of them counts once.
    institutions = ArrayField(models.IntegerField())
    active = models.BooleanField()
    eligibility = models.CharField(max_length=30, choices=Eligibility)
    step = models.CharField(max_length=20, choices=Step)
    needs_another_look = models.BooleanField()
    n = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.n:+d} matches of trial {self.trial_id}"


class ReviewEvent(models.Model):
    """A step of the review (who, when, note), or the treating clinician's answer to a
    contact request."""

    class Kind(models.TextChoices):
        STEP = "step", "Step"
        REPLY = "reply", "Clinician's answer"
        FLAG = "flag", "Outcome changed"

    class Answer(models.TextChoices):
        INTERESTED = "interested", "Patient may be approached"
        NOT_SUITABLE = "not_suitable", "Not suitable for this patient"
        DISCUSS = "discuss", "Let us discuss"

    match = models.ForeignKey(Match, on_delete=models.CASCADE, related_name="review_events")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.STEP)
    step = models.CharField(max_length=20, choices=Step, blank=True)
    close_reason = models.CharField(max_length=20, choices=CloseReason, blank=True)
    answer = models.CharField(max_length=20, choices=Answer.choices, blank=True)
    note = models.TextField(blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} on match {self.match_id} at {self.at:%Y-%m-%d %H:%M}"


@pghistory.track()
class ManualCheck(models.Model):
    """A criterion to check by hand (the trial's check_by_hand item, by its text) as a
    coordinator marked it for this match: met or not met, who, when and a note. No row
    is an unchecked item: the engine writes none, so a full run costs nothing more."""

    class Status(models.TextChoices):
        UNCHECKED = "unchecked", "Unchecked"
        MET = "met", "Met"
        NOT_MET = "not_met", "Not met"

    match = models.ForeignKey(Match, on_delete=models.CASCADE, related_name="manual_checks")
    text = models.CharField(max_length=1000)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.UNCHECKED)
    note = models.TextField(blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["match", "text"], name="one_check_per_match_item")
        ]

    def __str__(self) -> str:
        return f"{self.text}: {self.get_status_display()}"


class CatalogueSync(models.Model):
    """One weekly pass over ClinicalTrials.gov (services.catalogue_sync): what was new,
    what changed in encoded trials, what closed, and what could not be read. Shown to
    coordinators in the app and sent to them by e-mail."""

    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    added = ArrayField(models.CharField(max_length=11), default=list, blank=True)
    changed = models.JSONField(default=list, blank=True)  # [[nct_id, [field, ...]], ...]
    closed = ArrayField(models.CharField(max_length=11), default=list, blank=True)
    problems = ArrayField(models.TextField(), default=list, blank=True)
    emailed = models.PositiveIntegerField(default=0)
    # Suggested criteria of this sync's new and changed trials still waiting for a coordinator.
    suggestions_waiting = models.PositiveIntegerField(default=0)
    suggestion_trials = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"Catalogue sync {self.started_at:%Y-%m-%d}"

    @property
    def has_news(self) -> bool:
        return bool(self.added or self.changed or self.closed or self.problems)


class MatchingRun(models.Model):
    """One full re-match (the nightly run, or one started by hand): its progress and its
    worker's heartbeat, so a run whose worker was lost is started again within minutes
    (trials.tasks.requeue_lost_matching_runs) rather than waiting for the next night."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    result = models.JSONField(default=dict, help_text="Matches created, updated, deactivated.")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Full re-match {self.pk} ({self.status})"


@pghistory.track()
class TrialReferral(models.Model):
    """A tumour board's referral of a patient to a trial: made from the board's decision
    (a prefilled form), worked by the trial coordinators of the patient's hospitals."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        TAKEN_UP = "taken_up", "Taken up by a coordinator"

    decision = models.ForeignKey(
        "registry.MdtDecision", on_delete=models.PROTECT, related_name="trial_referrals"
    )
    episode = models.ForeignKey(TumourEpisode, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="referrals")
    match = models.ForeignKey(
        "Match", null=True, blank=True, on_delete=models.SET_NULL, related_name="referrals"
    )
    note = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    taken_up_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    taken_up_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["decision", "trial"], name="one_referral_per_trial")
        ]

    def __str__(self) -> str:
        return f"referral of episode {self.episode_id} to trial {self.trial_id}"


class MdtCandidatesNotice(models.Model):
    """The day-before list of a meeting's candidate trials, sent once per meeting and
    coordinator (beat may fire twice, a task be redelivered)."""

    meeting = models.ForeignKey("registry.MdtMeeting", on_delete=models.CASCADE, related_name="+")
    coordinator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    candidates = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["meeting", "coordinator"], name="one_mdt_notice")
        ]

    def __str__(self) -> str:
        return f"candidates of meeting {self.meeting_id} to member {self.coordinator_id}"


class EligibilityReading(models.Model):
    """The last reading of a trial's eligibility text (trials/reading.py): which text (its
    hash), whether it could be read, and what that gave. Kept so the text is read again
    only when it changes, and so the trial page can say "no text" or "not English"."""

    class Status(models.TextChoices):
        READ = "read", "Read"
        EMPTY = "empty", "No eligibility text"
        NOT_READ = "not_read", "Not read (not in English)"

    trial = models.OneToOneField(Trial, on_delete=models.CASCADE, related_name="reading")
    text_hash = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=Status.choices)
    message = models.CharField(max_length=300, blank=True)
    language = models.CharField(max_length=40, blank=True)
    read_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Reading of trial {self.trial_id}: {self.status}"


@pghistory.track()
class Suggestion(models.Model):
    """A criterion the reader proposes from the eligibility text, with the span it came
    from, for a coordinator to accept (as read or edited) or reject. The text's hash keeps
    a rejected suggestion from coming back until the text changes; a proposed one whose
    text changed is dropped and read again. Who decided and when is kept here and, with
    every change, in pghistory."""

    class Status(models.TextChoices):
        PROPOSED = "proposed", "Proposed"
        ACCEPTED = "accepted", "Accepted"
        EDITED = "edited", "Accepted after an edit"
        REJECTED = "rejected", "Rejected"

    class Polarity(models.TextChoices):
        INCLUDE = "include", "Must hold"
        EXCLUDE = "exclude", "Must not hold"

    class Section(models.TextChoices):
        INCLUSION = "inclusion", "Inclusion criteria"
        EXCLUSION = "exclusion", "Exclusion criteria"

    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="suggestions")
    arm = models.ForeignKey(
        TrialArm, null=True, blank=True, on_delete=models.CASCADE, related_name="suggestions"
    )
    kind = models.CharField(max_length=40)
    value = models.JSONField(help_text="The criteria leaf as read (the schema's shape).")
    polarity = models.CharField(max_length=10, choices=Polarity.choices)
    section = models.CharField(max_length=10, choices=Section.choices)
    start = models.PositiveIntegerField(help_text="Offset of the span in the eligibility text.")
    end = models.PositiveIntegerField()
    text = models.TextField(help_text="The span's words, as they were read.")
    confidence = models.FloatField()
    note = models.TextField(blank=True)
    key = models.CharField(max_length=64, help_text="Kind, value, polarity and arm, hashed.")
    text_hash = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PROPOSED)
    accepted_value = models.JSONField(null=True, blank=True)
    accepted_polarity = models.CharField(max_length=10, choices=Polarity.choices, blank=True)
    accepted_arm = models.ForeignKey(
        TrialArm, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["start", "end", "id"]
        indexes = [models.Index(fields=["trial", "status"], name="suggestion_trial_status")]

    def __str__(self) -> str:
        return f"{self.kind} from trial {self.trial_id} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.PROPOSED


protect_history_of("trials")  # history refuses TRUNCATE too (consortium/append_only.py)
