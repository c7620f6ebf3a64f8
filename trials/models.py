"""The trial catalogue (ClinicalTrials.gov API v2 records and trials entered by hand),
the structured eligibility coordinators encode, and the matches of register episodes to
trials with their review steps. Facts and examples: shared/reference/trials.md.

The criteria tree is JSON {"version": 1, "criteria": {...}, "check_by_hand": [...]}
(schema in criteria.py); matching keeps one row per (episode, trial, arm) that was ever
eligible or possibly eligible, diffed on re-runs so coordinators' work survives
(MatchMiner's hash-diffing, trials.md §1.3 step 6)."""

import pghistory
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.urls import reverse
from django.utils import timezone

from registry.models import Patient, TumourEpisode

OPEN_STATUSES = ("RECRUITING", "NOT_YET_RECRUITING")


class TrialStatus(models.TextChoices):
    # ClinicalTrials.gov overallStatus values (trials.md §3).
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
        max_length=30, choices=TrialStatus.choices, default=TrialStatus.UNKNOWN
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


class TrialSite(models.Model):
    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="sites")
    facility = models.CharField(max_length=300, blank=True)
    city = models.CharField(max_length=100, blank=True)
    country = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=30, blank=True)
    is_norwegian = models.BooleanField(default=False)

    class Meta:
        ordering = ["-is_norwegian", "country", "city", "id"]


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
    ELIGIBLE = "eligible", "Eligible"
    POSSIBLY = "possibly", "Possibly eligible"
    NOT_ELIGIBLE = "not_eligible", "Not eligible"


class Step(models.TextChoices):
    NEW = "new", "New"
    UNDER_REVIEW = "under_review", "Under review"
    CONTACTED = "contacted", "Treating physician contacted"
    SCREENING = "screening", "Screening"
    ENROLLED = "enrolled", "Enrolled"
    CLOSED = "closed", "Closed"


STEP_ORDER = [Step.NEW, Step.UNDER_REVIEW, Step.CONTACTED, Step.SCREENING, Step.ENROLLED]


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
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
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
    active = models.BooleanField(default=True)
    inactive_reason = models.CharField(max_length=100, blank=True)
    needs_another_look = models.BooleanField(default=False)
    step = models.CharField(max_length=20, choices=Step.choices, default=Step.NEW)
    close_reason = models.CharField(max_length=20, choices=CloseReason.choices, blank=True)
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
        indexes = [
            models.Index(fields=["trial", "active", "outcome"])
        ]  # patient: the foreign key's index

    def get_absolute_url(self) -> str:
        return reverse("trials:match_detail", args=[self.pk])

    @property
    def is_reviewed(self) -> bool:
        return self.step != Step.NEW

    @property
    def fingerprint(self) -> str:
        return self.verdict_set_id

    @property
    def verdicts(self) -> list:
        """The per-criterion rows (select_related("verdict_set") to read them without a query each)."""
        return self.verdict_set.rows if self.verdict_set_id else []


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
    step = models.CharField(max_length=20, choices=Step.choices, blank=True)
    close_reason = models.CharField(max_length=20, choices=CloseReason.choices, blank=True)
    answer = models.CharField(max_length=20, choices=Answer.choices, blank=True)
    note = models.TextField(blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]
