"""The national quality register: patients, their tumour episodes (one per primary
tumour), molecular markers, treatment and course. Variable set from
docs/registry-rules.md §1; vocabularies in vocabulary.py.

Each section row carries a `version`: a save names the version it was loaded at, and a
save against a newer version is refused (consortium.exceptions.EditConflict), never overwritten.
Change history (who, when, what, why) is kept by django-pghistory triggers; services
put the patient and the reason into the history context."""

import secrets

import pghistory
import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import F, Func, Q, Value
from django.urls import reverse
from django.utils import timezone

from consortium.append_only import protect_history_of, refuse_truncate
from consortium.choice_labels import ChoiceLabels
from consortium.formats import local_date
from consortium.models import NORWEGIAN, Institution

from . import national_id, vocabulary
from .national_id import IDENTIFIER_SYSTEMS, IdentifierKind


def all_changes() -> tuple:
    """Inserts, updates and deletions (pghistory tracks the first two by default): an entry
    removed in error stays in the history, with why. New instances for each model."""
    return (pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())


class YesNoUnknown(models.TextChoices):
    YES = "yes", "Yes"
    NO = "no", "No"
    UNKNOWN = "unknown", "Unknown"


def new_register_number() -> str:
    """Pseudonymous: random, so it says nothing about the person or the order of entry.
    Crockford-style alphabet without I, L, O, U, so it reads aloud and types safely."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    body = "".join(secrets.choice(alphabet) for _ in range(8))
    return f"NB-{body[:4]}-{body[4:]}"


@pghistory.track(*all_changes(), exclude=["search_name", "sort_name"])
class Patient(ChoiceLabels):
    class Sex(models.TextChoices):
        FEMALE = "female", "Female"
        MALE = "male", "Male"
        UNKNOWN = "unknown", "Unknown"

    class VitalStatus(models.TextChoices):
        ALIVE = "alive", "Alive"
        DEAD = "dead", "Dead"

    register_number = models.CharField(
        max_length=16, unique=True, default=new_register_number, editable=False
    )
    national_id = models.CharField("national ID", max_length=11, unique=True)
    # An H-number is temporary: the hospital's worklist asks for the national ID until a
    # clinician replaces it (services.patient_replace_h_number).
    identifier_kind = models.CharField(
        max_length=12, choices=IdentifierKind.choices, default=IdentifierKind.NATIONAL_ID
    )
    synthetic_id = models.CharField(
        max_length=40, blank=True, help_text="Set when the national ID is a synthetic test number."
    )
    full_name = models.CharField("name", max_length=200)
    search_name = models.CharField(max_length=200, editable=False, db_index=True)
    # The list's order: surname first ("Nordmann Kari" for "Kari Nordmann"), compared by
    # Norwegian Bokmål rules (Æ, Ø, Å after Z; "Aa" as Å), PostgreSQL's ICU collation
    # (https://www.postgresql.org/docs/15/collation.html#COLLATION-MANAGING, CLDR's Norwegian
    # order, https://unicode.org/cldr/charts/latest/collation/nb.html). The surname is the
    # last word of the name as written.
    sort_name = models.GeneratedField(
        expression=Func(
            Func(
                F("full_name"),
                Value(r"^\s*(.*?)\s*(\S+)\s*$"),
                Value(r"\2 \1"),
                function="regexp_replace",
            ),
            function="btrim",
        ),
        output_field=models.CharField(max_length=200, db_collation=NORWEGIAN),
        db_persist=True,
    )
    sex = models.CharField(max_length=10, choices=Sex.choices)
    birth_date = models.DateField()
    health_region = models.CharField(
        max_length=20, choices=Institution.HealthRegion.choices, blank=True
    )
    vital_status = models.CharField(
        max_length=10, choices=VitalStatus.choices, default=VitalStatus.ALIVE
    )
    date_of_death = models.DateField(null=True, blank=True)
    institutions = models.ManyToManyField(
        Institution, through="PatientInstitution", related_name="patients"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["search_name", "id"]
        indexes = [
            GinIndex(name="patient_name_trgm", fields=["search_name"], opclasses=["gin_trgm_ops"]),
            # One per sortable column of the patient list, in its order (keyset pages). The
            # name searched by is INCLUDEd, so a name search finds its page in the index
            # alone (an index-only scan; PatientFilter.PAGE_IDS_FIRST).
            models.Index(
                fields=["sort_name", "id"], name="patient_by_surname", include=["search_name"]
            ),
            models.Index(
                fields=["birth_date", "id"], name="patient_by_birth_date", include=["search_name"]
            ),
            # The worklist's "replace the H-number" items: few rows, found without a scan.
            models.Index(
                fields=["created_at", "id"],
                condition=Q(identifier_kind="h_number"),
                name="patient_h_numbers",
            ),
        ]

    def __str__(self) -> str:  # never the national ID or the name: __str__ ends up in logs
        return self.register_number

    def get_absolute_url(self) -> str:
        return reverse("registry:patient", args=[self.register_number])

    @property
    def masked_national_id(self) -> str:
        return national_id.mask(self.national_id)

    @property
    def has_h_number(self) -> bool:
        return self.identifier_kind == IdentifierKind.H_NUMBER

    @property
    def identifier_system(self) -> str:
        return IDENTIFIER_SYSTEMS[self.identifier_kind]

    def age_on(self, day) -> int:
        return (
            day.year
            - self.birth_date.year
            - ((day.month, day.day) < (self.birth_date.month, self.birth_date.day))
        )


@pghistory.track(pghistory.InsertEvent(), pghistory.DeleteEvent())
class PatientInstitution(models.Model):
    """The institutions that treat the patient (diagnosed in Tromsø, operated in Oslo:
    both). Their clinicians see and edit the patient."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE)
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "institution"], name="patient_institution_once"
            )
        ]
        indexes = [models.Index(fields=["institution", "patient"])]

    def __str__(self) -> str:
        return f"patient {self.patient_id} at institution {self.institution_id}"


class CareRelationshipDeclaration(models.Model):
    """A clinician's statement that they treat a patient already in the register, made
    when registering the patient's national ID linked their institution to the record.
    The register tells no one whether a national ID is already there (that alone says a
    person has a brain tumour); a clinician gets the record only by declaring the care
    relationship, with a reason, and the patient's other institutions see every such
    declaration on the patient's page. Access only by "tjenstlig behov" (Normen
    Faktaark 14, https://www.ehelse.no/normen/faktaark/faktaark-14-tilgangsstyring).
    Append-only in the database."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="care_declarations")
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+")
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=500)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        triggers = [
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
            refuse_truncate(),
        ]

    def __str__(self) -> str:
        return f"{self.patient} at {self.institution_id} by {self.member_id}"


@pghistory.track(*all_changes())
class TumourEpisode(ChoiceLabels):
    """One primary tumour and its report. The report is a draft until a clinician submits
    it as complete; it is then locked until a coordinator or admin reopens it."""

    class Basis(models.TextChoices):
        HISTOLOGY = "histology", "Histology"
        CYTOLOGY = "cytology", "Cytology"
        RADIOLOGY = "radiology", "Radiology only"

    class Laterality(models.TextChoices):
        LEFT = "left", "Left"
        RIGHT = "right", "Right"
        BILATERAL = "bilateral", "Bilateral"
        MIDLINE = "midline", "Midline"
        NOT_APPLICABLE = "not_applicable", "Not applicable"
        UNKNOWN = "unknown", "Unknown"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        COMPLETE = "complete", "Complete"

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="episodes")
    institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, help_text="The reporting hospital.", related_name="+"
    )
    referral_date = models.DateField(
        null=True, blank=True, help_text="Referral received (starts the cancer pathway)."
    )
    diagnosis_date = models.DateField(null=True, blank=True)
    basis = models.CharField("basis of diagnosis", max_length=20, choices=Basis.choices, blank=True)
    diagnosis = models.CharField(
        "WHO CNS5 diagnosis",
        max_length=60,
        blank=True,
        choices=[(k, t.label) for k, t in vocabulary.TUMOUR_TYPES.items()],
    )
    who_grade = models.PositiveSmallIntegerField("CNS WHO grade", null=True, blank=True)
    morphology = models.CharField("ICD-O-3 morphology", max_length=7, blank=True)
    topography = models.CharField(
        "ICD-10 topography", max_length=5, blank=True, choices=vocabulary.TOPOGRAPHY_CHOICES
    )
    laterality = models.CharField(max_length=20, choices=Laterality.choices, blank=True)
    mdt_dates = ArrayField(
        models.DateField(), default=list, blank=True, verbose_name="MDT meeting dates"
    )
    trial_offered = models.CharField(
        "trial inclusion offered", max_length=10, choices=YesNoUnknown, blank=True
    )
    trial_accepted = models.CharField(
        "trial inclusion accepted", max_length=10, choices=YesNoUnknown, blank=True
    )
    acknowledged_warnings = ArrayField(models.CharField(max_length=40), default=list, blank=True)

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1)
    markers_version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["diagnosis_date", "id"]
        indexes = [
            # The worklist: an institution's drafts, undated first, then oldest first.
            models.Index(
                F("institution"),
                F("status"),
                F("diagnosis_date").asc(nulls_first=True),
                name="episode_worklist",
            ),
            # The worklist sorted by when the report was registered.
            models.Index(
                fields=["institution", "status", "created_at", "id"],
                name="episode_worklist_registered",
            ),
        ]

    def __str__(self) -> str:  # the breadcrumb and episode choices: the date in Norwegian style
        day = local_date(self.diagnosis_date) or "no date"
        return f"{self.get_diagnosis_display() or 'Tumour'} ({day})"

    @property
    def diagnosis_with_grade(self) -> str:
        """The diagnosis as the web page and the PDF report both show it: the WHO CNS5 type
        and its CNS WHO grade (Louis et al., Neuro-Oncol 2021;23:1231, which writes the grade
        in Arabic numerals after the type: https://doi.org/10.1093/neuonc/noab106)."""
        label = self.get_diagnosis_display()
        if not label:
            return ""
        return f"{label}, CNS WHO grade {self.who_grade}" if self.who_grade else label

    @property
    def tumour_type(self) -> vocabulary.TumourType | None:
        return vocabulary.TUMOUR_TYPES.get(self.diagnosis)

    @property
    def is_locked(self) -> bool:
        return self.status == self.Status.COMPLETE


class MarkerResult(models.TextChoices):
    ALTERED = "altered", "Altered / mutant / methylated / deleted"
    WILDTYPE = "wildtype", "Wildtype / negative / unmethylated"
    INCONCLUSIVE = "inconclusive", "Inconclusive"
    NOT_TESTED = "not_tested", "Not tested"


class MarkerMethod(models.TextChoices):
    IHC = "ihc", "Immunohistochemistry"
    SEQUENCING = "sequencing", "Sequencing (Sanger/NGS)"
    PCR = "pcr", "PCR / pyrosequencing"
    FISH = "fish", "FISH"
    METHYLATION_ARRAY = "methylation_array", "Methylation array"
    COPY_NUMBER = "copy_number", "Copy-number analysis"
    OTHER = "other", "Other"


@pghistory.track(*all_changes())
class MolecularMarker(ChoiceLabels):
    episode = models.ForeignKey(TumourEpisode, on_delete=models.CASCADE, related_name="markers")
    marker = models.CharField(max_length=30, choices=list(vocabulary.MARKERS.items()))
    result = models.CharField(max_length=20, choices=MarkerResult)
    method = models.CharField(max_length=20, choices=MarkerMethod, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["episode", "marker"], name="one_result_per_marker")
        ]

    def __str__(self) -> str:
        return f"{self.marker} {self.result} (episode {self.episode_id})"

    @property
    def result_text(self) -> str:
        """The result in the marker's own words: 'MGMT promoter methylation: methylated'."""
        altered, wildtype = vocabulary.MARKER_RESULT_WORDS.get(self.marker, ("altered", "wildtype"))
        return {MarkerResult.ALTERED: altered, MarkerResult.WILDTYPE: wildtype}.get(
            self.result, self.get_result_display().lower()
        )


class EpisodeSection(ChoiceLabels):
    """A repeating section of an episode (surgery, radiotherapy ...), versioned on its own."""

    version = models.PositiveIntegerField(default=1)
    acknowledged_warnings = ArrayField(models.CharField(max_length=40), default=list, blank=True)

    class Meta:
        abstract = True


@pghistory.track(*all_changes())
class Surgery(EpisodeSection):
    class Procedure(models.TextChoices):
        STEREOTACTIC_BIOPSY = "stereotactic_biopsy", "Stereotactic biopsy"
        OPEN_BIOPSY = "open_biopsy", "Open biopsy"
        RESECTION = "resection", "Resection"

    class ExtentOfResection(models.TextChoices):
        GROSS_TOTAL = "gross_total", "Gross total resection"
        SUBTOTAL = "subtotal", "Subtotal resection"
        PARTIAL = "partial", "Partial resection"
        BIOPSY_ONLY = "biopsy_only", "Biopsy only"
        UNKNOWN = "unknown", "Unknown"

    episode = models.ForeignKey(TumourEpisode, on_delete=models.CASCADE, related_name="surgeries")
    surgery_date = models.DateField()
    surgery_end_time = models.TimeField(
        null=True, blank=True, help_text="When the operation ended (for MRI timing)."
    )
    procedure = models.CharField(max_length=30, choices=Procedure.choices)
    extent_of_resection = models.CharField(
        max_length=20, choices=ExtentOfResection.choices, blank=True
    )
    postoperative_mri_at = models.DateTimeField("postoperative MRI", null=True, blank=True)
    complications_within_30_days = models.CharField(max_length=10, choices=YesNoUnknown, blank=True)
    complications = models.TextField("complications (describe)", blank=True)
    reoperation = models.BooleanField(default=False, help_text="A reoperation for this tumour.")
    # Tromsø and Stavanger patients are often operated in Oslo or Bergen: surgical quality
    # indicators belong to the hospital that operated, the others to the reporting one.
    operating_institution = models.ForeignKey(
        Institution,
        verbose_name="operating hospital",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        limit_choices_to={"kind": Institution.Kind.HOSPITAL},
        help_text="Leave blank when it is the reporting hospital.",
    )

    class Meta:
        ordering = ["surgery_date", "id"]

    def __str__(self) -> str:
        return f"{self.procedure} on {self.surgery_date} (episode {self.episode_id})"

    def save(self, *args, **kwargs):
        if self.operating_institution_id is None and self.episode_id:
            self.operating_institution_id = self.episode.institution_id  # cached when loaded
        super().save(*args, **kwargs)

    @property
    def ended_at(self):
        from datetime import datetime, time

        return timezone.make_aware(
            datetime.combine(self.surgery_date, self.surgery_end_time or time(0))
        )

    @property
    def mri_hours_after_surgery(self) -> float | None:
        if not self.postoperative_mri_at:
            return None
        # Timestamps, not aware-datetime subtraction: Python subtracts two datetimes of the
        # same zone as wall-clock times, which is an hour off across a daylight-saving change.
        return round((self.postoperative_mri_at.timestamp() - self.ended_at.timestamp()) / 3600, 1)


@pghistory.track(*all_changes())
class RadiotherapyCourse(EpisodeSection):
    episode = models.ForeignKey(
        TumourEpisode, on_delete=models.CASCADE, related_name="radiotherapy"
    )
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True)
    total_dose_gy = models.DecimalField("total dose (Gy)", max_digits=5, decimal_places=2)
    fractions = models.PositiveSmallIntegerField()
    completed_as_planned = models.CharField(max_length=10, choices=YesNoUnknown, blank=True)

    class Meta:
        ordering = ["start_date", "id"]

    def __str__(self) -> str:
        return f"radiotherapy from {self.start_date} (episode {self.episode_id})"

    @property
    def dose_per_fraction_gy(self):
        return round(self.total_dose_gy / self.fractions, 2) if self.fractions else None


@pghistory.track(*all_changes())
class SystemicTherapy(EpisodeSection):
    class Regimen(models.TextChoices):
        # Norwegian guideline regimens (docs/registry-rules.md §2: Stupp, PCV, lomustine).
        TEMOZOLOMIDE_CONCOMITANT = "tmz_concomitant", "Temozolomide, concomitant with RT"
        TEMOZOLOMIDE_ADJUVANT = "tmz_adjuvant", "Temozolomide, adjuvant"
        PCV = "pcv", "PCV (procarbazine, lomustine, vincristine)"
        LOMUSTINE = "lomustine", "Lomustine"
        BEVACIZUMAB = "bevacizumab", "Bevacizumab"
        # Tumour-treating fields (the Optune device), worn with maintenance temozolomide after
        # chemoradiation in newly diagnosed glioblastoma (EF-14: Stupp et al., JAMA
        # 2017;318:2306-2316, https://doi.org/10.1001/jama.2017.18718). Not a drug, but given
        # and stopped like the adjuvant treatments recorded here (start, stop, stop reason;
        # cycles stay blank), and trials ask whether a patient had it.
        TTFIELDS = "ttfields", "Tumour-treating fields (Optune)"
        OTHER = "other", "Other"

    class StopReason(models.TextChoices):
        COMPLETED = "completed", "Completed as planned"
        PROGRESSION = "progression", "Progression"
        TOXICITY = "toxicity", "Toxicity"
        PATIENT_CHOICE = "patient_choice", "Patient's choice"
        DEATH = "death", "Death"
        OTHER = "other", "Other"

    episode = models.ForeignKey(
        TumourEpisode, on_delete=models.CASCADE, related_name="systemic_therapies"
    )
    regimen = models.CharField(max_length=30, choices=Regimen.choices)
    regimen_other = models.CharField("other regimen", max_length=200, blank=True)
    cycles = models.PositiveSmallIntegerField(null=True, blank=True)
    start_date = models.DateField()
    stop_date = models.DateField(null=True, blank=True)
    stop_reason = models.CharField(max_length=20, choices=StopReason.choices, blank=True)

    class Meta:
        ordering = ["start_date", "id"]
        verbose_name_plural = "systemic therapies"

    def __str__(self) -> str:
        return f"{self.regimen} (episode {self.episode_id})"


@pghistory.track(*all_changes())
class PerformanceStatus(EpisodeSection):
    episode = models.ForeignKey(TumourEpisode, on_delete=models.CASCADE, related_name="performance")
    assessed_on = models.DateField()
    ecog = models.PositiveSmallIntegerField("ECOG", null=True, blank=True)
    karnofsky = models.PositiveSmallIntegerField("Karnofsky", null=True, blank=True)

    class Meta:
        ordering = ["assessed_on", "id"]
        verbose_name_plural = "performance statuses"

    def __str__(self) -> str:
        return f"performance on {self.assessed_on} (episode {self.episode_id})"


@pghistory.track(*all_changes())
class FollowUp(EpisodeSection):
    class Response(models.TextChoices):
        # RANO 2010 (Wen et al., J Clin Oncol 2010;28:1963; docs/registry-rules.md §3).
        COMPLETE = "CR", "Complete response (CR)"
        PARTIAL = "PR", "Partial response (PR)"
        STABLE = "SD", "Stable disease (SD)"
        PROGRESSIVE = "PD", "Progressive disease (PD)"
        NOT_EVALUABLE = "NE", "Not evaluable"

    episode = models.ForeignKey(TumourEpisode, on_delete=models.CASCADE, related_name="follow_ups")
    assessed_on = models.DateField()
    rano_response = models.CharField(
        "RANO response", max_length=2, choices=Response.choices, blank=True
    )
    progression = models.BooleanField(default=False)
    progression_date = models.DateField(null=True, blank=True)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["assessed_on", "id"]
        verbose_name = "follow-up"

    def __str__(self) -> str:
        return f"follow-up on {self.assessed_on} (episode {self.episode_id})"


class Reopening(models.Model):
    """A coordinator or admin reopened a complete report, and why."""

    episode = models.ForeignKey(TumourEpisode, on_delete=models.CASCADE, related_name="reopenings")
    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"episode {self.episode_id} reopened at {self.at:%Y-%m-%d %H:%M}"


class AccessReviewSummary(models.Model):
    """One monthly access-log summary per institution and month: the beat task may run
    twice, or be retried, and still sends once."""

    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="+")
    month = models.DateField(help_text="The month's first day.")
    entries = models.PositiveIntegerField(default=0)
    flagged = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["institution", "month"], name="one_access_summary_per_month"
            )
        ]

    def __str__(self) -> str:
        return f"access-log summary for institution {self.institution_id}, {self.month:%Y-%m}"


class WorklistDigest(models.Model):
    """One nightly digest per clinician and day: the beat task may run twice, or be
    retried, and still sends once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    items = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "day"], name="one_digest_per_day")]

    def __str__(self) -> str:
        return f"worklist digest for member {self.user_id} on {self.day}"


class FormDraft(models.Model):
    """What a clinician typed into a section form but has not saved yet, kept as they
    type (autosave) so a draft is never lost; removed when the section is saved."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    form_key = models.CharField(max_length=100)
    # None once the form was saved: autosaves still in flight from that same rendering of
    # the form (same token) are then ignored instead of bringing the draft back.
    data = models.JSONField(null=True)
    token = models.CharField(
        max_length=32, blank=True, help_text="The rendering of the form it came from."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "patient", "form_key"], name="one_draft_per_form"
            )
        ]

    def __str__(self) -> str:
        return f"draft of {self.form_key} by member {self.user_id}"


# --- Quality indicators ----------------------------------------------------------------


class IndicatorSnapshot(models.Model):
    """One computation of every quality indicator (registry.indicators), by a Celery task:
    nightly by beat and on demand. Pages read the newest finished one. It records the
    moment its data was read (as_of: one repeatable-read transaction, so every count saw
    the same register) and the definitions' version it was computed with, so it can be
    recomputed and compared; an old snapshot keeps its version when definitions change."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class Kind(models.TextChoices):
        NIGHTLY = "nightly", "Nightly"
        ON_DEMAND = "on_demand", "On demand"

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.ON_DEMAND)
    # The nightly snapshot's day: beat may fire twice or a task be redelivered (acks_late);
    # the day's snapshot is still made once.
    nightly_day = models.DateField(null=True, blank=True, unique=True)
    requested_at = models.DateTimeField(default=timezone.now)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    as_of = models.DateTimeField(null=True, blank=True, help_text="The data as of this moment.")
    finished_at = models.DateTimeField(null=True, blank=True)
    definitions_version = models.CharField(max_length=20, blank=True)
    # Which history events the snapshot's transaction could see, per event table: the
    # highest event id and the ids below it it could not (transactions still open, or
    # rolled back). The register as of the snapshot is rebuilt from exactly these events
    # (registry.indicator_history).
    history_marks = models.JSONField(default=dict, blank=True, editable=False)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-as_of", "-id"]
        indexes = [models.Index(fields=["status", "-as_of"], name="indicator_snapshot_newest")]

    def __str__(self) -> str:
        return f"Indicators as of {self.as_of or self.requested_at:%Y-%m-%d %H:%M}"


class IndicatorCell(models.Model):
    """One indicator's counts for one year and place (a hospital, a health region, or the
    nation) and diagnosis group ("" = all). Value and interval follow from the counts."""

    snapshot = models.ForeignKey(IndicatorSnapshot, on_delete=models.CASCADE, related_name="cells")
    indicator = models.CharField(max_length=40)
    indicator_version = models.PositiveSmallIntegerField()
    year = models.PositiveSmallIntegerField()
    institution = models.ForeignKey(
        Institution, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    region = models.CharField(max_length=20, blank=True)
    diagnosis_group = models.CharField(max_length=60, blank=True)
    numerator = models.PositiveIntegerField()
    denominator = models.PositiveIntegerField()
    left_out = models.JSONField(default=dict, help_text="Reason code -> how many were left out.")

    class Meta:
        indexes = [
            models.Index(
                fields=["snapshot", "year", "diagnosis_group"], name="indicator_cell_page"
            ),
            models.Index(fields=["snapshot", "indicator"], name="indicator_cell_trend"),
        ]

    def __str__(self) -> str:
        return f"{self.indicator} {self.year} {self.institution_id or self.region or 'national'}"


class IndicatorReproduction(models.Model):
    """One recomputation of a finished snapshot from the change history as of its data's
    moment (registry.indicator_history), run by a Celery task: whether every stored cell
    came out the same, and if not, which indicators and cells differ."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    snapshot = models.ForeignKey(
        IndicatorSnapshot, on_delete=models.CASCADE, related_name="reproductions"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=Status, default=Status.QUEUED)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Rebuilt from the snapshot's recorded history marks (exact), or by event time for a
    # snapshot older than its marks.
    exact = models.BooleanField(null=True)
    cells = models.PositiveIntegerField(null=True, help_text="Cells compared.")
    equal = models.BooleanField(null=True, help_text="Every stored cell came out the same.")
    differing_indicators = models.JSONField(default=list, blank=True)
    # The first differing cells, "stored ..., again ..." (admins only: they hold counts).
    differences = models.JSONField(default=list, blank=True)
    differences_total = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]

    def __str__(self) -> str:
        return f"Reproduction of snapshot {self.snapshot_id} ({self.status})"


class IndicatorReport(models.Model):
    """A hospital's or the national report of the quality indicators for a year (or a
    month of it), as PDF and CSV, made by a Celery task from the newest snapshot. The
    figures are as a hospital's member sees them (their hospital exact, other hospitals'
    small cells suppressed), or, for the national report, as everyone sees them, so a
    stored report can be listed to all who may see that view."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    year = models.PositiveSmallIntegerField()
    month = models.PositiveSmallIntegerField(null=True, blank=True)
    institution = models.ForeignKey(
        Institution, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=Status, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done.")
    progress_text = models.CharField(max_length=200, blank=True)
    snapshot = models.ForeignKey(
        IndicatorSnapshot, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    pdf = models.BinaryField(null=True, blank=True, editable=False)
    csv = models.TextField(blank=True, editable=False)
    xlsx = models.BinaryField(null=True, blank=True, editable=False)
    error = models.TextField(blank=True)
    # Released annual reports: frozen (the database refuses any change or deletion of a
    # released row); a correction is a new edition with its reason, and every edition
    # stays listed and downloadable.
    edition = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    released_at = models.DateTimeField(null=True, blank=True, editable=False)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    correction_reason = models.TextField(blank=True, editable=False)
    corrects = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="corrected_by",
        editable=False,
        help_text="The released edition this one corrects.",
    )

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["year", "institution", "edition"],
                condition=models.Q(edition__isnull=False),
                nulls_distinct=False,  # the national report has no institution
                name="one_indicator_report_edition",
            ),
        ]
        triggers = [
            pgtrigger.Protect(
                name="released_report_frozen",
                operation=pgtrigger.Update | pgtrigger.Delete,
                condition=pgtrigger.Q(old__released_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        place = self.institution.code if self.institution_id else "national"
        return f"Indicator report {place} {self.year}" + (
            f"-{self.month:02d}" if self.month else ""
        )


class NotifiedCaseImport(models.Model):
    """One import of the Cancer Registry's notified cases for a year (whole or nothing);
    a new import of the same year replaces that year's cases."""

    year = models.PositiveSmallIntegerField()
    imported_at = models.DateTimeField(default=timezone.now)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    filename = models.CharField(max_length=200, blank=True)
    cases = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-imported_at"]

    def __str__(self) -> str:
        return f"Notified cases {self.year} ({self.cases})"


@pghistory.track(pghistory.InsertEvent(), pghistory.DeleteEvent())
class NotifiedCase(models.Model):
    """A case the Cancer Registry knows from pathology and hospital notifications. Its
    national ID is used to match a register episode and is never shown back. Its history
    (imported, replaced) is kept so an indicator snapshot can be recomputed as of its day."""

    source = models.ForeignKey(NotifiedCaseImport, on_delete=models.CASCADE, related_name="rows")
    year = models.PositiveSmallIntegerField()
    national_id = models.CharField(max_length=11)
    diagnosis_date = models.DateField()
    icd10 = models.CharField("ICD-10 code", max_length=5)
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+")

    class Meta:
        indexes = [
            models.Index(fields=["national_id"], name="notified_case_national_id"),
            models.Index(fields=["institution", "year"], name="notified_case_hospital"),
        ]

    def __str__(self) -> str:  # never the national ID
        return f"Notified case {self.pk} ({self.diagnosis_date})"

    @property
    def masked_national_id(self) -> str:
        return national_id.mask(self.national_id)


# --- Tumour boards (MDT meetings) -------------------------------------------------------


class MdtDiscipline(models.TextChoices):
    # The Norwegian guideline's minimum board (neurosurgeon, oncologist, pathologist,
    # neuroradiologist, ideally a neurologist): Helsedirektoratet, Nasjonalt handlingsprogram
    # for gliomer og andre hjernesvulster, https://www.helsedirektoratet.no/retningslinjer/hjernesvulster
    NEUROSURGERY = "neurosurgery", "Neurosurgeon"
    ONCOLOGY = "oncology", "Oncologist"
    PATHOLOGY = "pathology", "Neuropathologist"
    NEURORADIOLOGY = "neuroradiology", "Neuroradiologist"
    NEUROLOGY = "neurology", "Neurologist"
    NURSE = "nurse", "Cancer nurse / pathway coordinator"
    TRIALS = "trials", "Trial coordinator"
    OTHER = "other", "Other"


class MdtPlan(models.TextChoices):
    SURGERY = "surgery", "Surgery"
    RADIOTHERAPY = "radiotherapy", "Radiotherapy"
    SYSTEMIC = "systemic", "Systemic therapy"
    SUPPORTIVE = "supportive", "Best supportive care"
    WATCH = "watch", "Watch and wait"
    TRIAL = "trial", "Referral to a trial"
    SCREENING = "screening", "Referral to drug screening"
    OTHER = "other", "Other"


@pghistory.track(*all_changes())
class MdtMeeting(models.Model):
    """A tumour-board meeting of one hospital. Local and regional boards discuss the
    hospital's own patients; a national board (rare tumours) may invite clinicians of
    other hospitals, who see the meeting's patients only during its window."""

    class Kind(models.TextChoices):
        LOCAL = "local", "Local"
        REGIONAL = "regional", "Regional"
        NATIONAL = "national", "National (rare tumours)"

    institution = models.ForeignKey(
        Institution,
        on_delete=models.PROTECT,
        related_name="+",
        limit_choices_to={"kind": Institution.Kind.HOSPITAL},
        verbose_name="hospital",
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.LOCAL)
    title = models.CharField(max_length=200, blank=True)
    starts_at = models.DateTimeField("starts")
    ends_at = models.DateTimeField("ends")
    location = models.CharField(max_length=200, blank=True, help_text="Room or video link.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-starts_at", "-id"]
        indexes = [models.Index(fields=["institution", "-starts_at"], name="mdt_meeting_hospital")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=F("starts_at")), name="mdt_meeting_ends_after_start"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} MDT {timezone.localtime(self.starts_at):%d.%m.%Y %H:%M}"

    def get_absolute_url(self) -> str:
        return reverse("registry:meeting", args=[self.pk])

    @property
    def day(self):
        """The meeting's date in Norway: the register's MDT date."""
        return timezone.localdate(self.starts_at)


@pghistory.track(pghistory.InsertEvent(), pghistory.DeleteEvent())
class MdtParticipant(models.Model):
    """A member taking part, by discipline. Members of another hospital than the
    meeting's are invited (national boards only, regional ones within the health region)."""

    meeting = models.ForeignKey(MdtMeeting, on_delete=models.CASCADE, related_name="participants")
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    discipline = models.CharField(max_length=20, choices=MdtDiscipline)
    invited = models.BooleanField(
        default=False, help_text="Of another hospital: sees the patients during the window only."
    )

    class Meta:
        ordering = ["discipline", "id"]
        constraints = [
            models.UniqueConstraint(fields=["meeting", "member"], name="mdt_member_once")
        ]

    def __str__(self) -> str:
        return f"member {self.member_id} ({self.discipline}) at meeting {self.meeting_id}"


@pghistory.track(*all_changes())
class MdtAgendaItem(models.Model):
    """A patient's tumour episode on the agenda, with the question for the board."""

    meeting = models.ForeignKey(MdtMeeting, on_delete=models.CASCADE, related_name="items")
    episode = models.ForeignKey(TumourEpisode, on_delete=models.PROTECT, related_name="+")
    # The episode's patient, kept so a patient is on one meeting's agenda once.
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    question = models.TextField("question for the board")
    position = models.PositiveSmallIntegerField(default=0)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["meeting", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["meeting", "patient"], name="mdt_patient_once")
        ]
        indexes = [models.Index(fields=["patient"], name="mdt_item_patient")]

    def __str__(self) -> str:
        return f"agenda item {self.pk} of meeting {self.meeting_id}"

    def get_absolute_url(self) -> str:
        return reverse("registry:meeting_item", args=[self.meeting_id, self.pk])


@pghistory.track(*all_changes())
class MdtDecision(models.Model):
    """The board's decision on one agenda item. Saving it records the meeting's date
    among the episode's MDT dates. Every change is kept (pghistory, with the reason)."""

    item = models.OneToOneField(MdtAgendaItem, on_delete=models.CASCADE, related_name="decision")
    recommendation = models.TextField()
    plan = ArrayField(
        models.CharField(max_length=20, choices=MdtPlan), verbose_name="treatment plan"
    )
    plan_other = models.CharField("other plan", max_length=200, blank=True)
    responsible = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="responsible clinician",
    )
    follow_up_actions = models.TextField("follow-up actions", blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    change_reason = models.TextField(
        blank=True, help_text="Why the decision was changed after the meeting."
    )
    version = models.PositiveIntegerField(default=1)

    def __str__(self) -> str:
        return f"decision on agenda item {self.item_id}"

    def plan_labels(self) -> list[str]:
        return [MdtPlan(p).label for p in self.plan if p in MdtPlan.values]


class MdtSummary(models.Model):
    """A meeting's summary (web page body and PDF, register numbers only), made by a
    Celery task after the meeting; each generation a new row, the newest shown."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    meeting = models.ForeignKey(MdtMeeting, on_delete=models.CASCADE, related_name="summaries")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    body_html = models.TextField(blank=True, editable=False)
    pdf = models.BinaryField(null=True, blank=True, editable=False)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]

    def __str__(self) -> str:
        return f"summary {self.pk} of meeting {self.meeting_id} ({self.status})"


from .research_models import (  # noqa: E402  research access (its own module)
    ExtractDownload,
    ExtractFile,
    ResearchExtract,
    ResearchProject,
)

__all__ = ["ExtractDownload", "ExtractFile", "ResearchExtract", "ResearchProject"]


class IndicatorSubscription(models.Model):
    """A member's monthly report: the chosen indicators (none chosen: all) for a hospital
    (one of their own; none: the national report) and, optionally, a health region. Each
    month a beat task e-mails a link to that month's report, never figures or patients."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="indicator_subscriptions"
    )
    institution = models.ForeignKey(
        Institution, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    region = models.CharField(max_length=20, blank=True, choices=Institution.HealthRegion)
    indicators = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "institution", "region"],
                nulls_distinct=False,
                name="one_indicator_subscription_per_place",
            ),
        ]

    def __str__(self) -> str:
        return f"monthly indicators of {self.institution_id or 'Norway'} for {self.user_id}"


class IndicatorMailing(models.Model):
    """One month's e-mail of a subscription: the row makes it once per month, however
    often the task runs (beat firing twice, a redelivered task)."""

    subscription = models.ForeignKey(
        IndicatorSubscription, on_delete=models.CASCADE, related_name="mailings"
    )
    month = models.DateField(help_text="The first day of the month the report covers.")
    report = models.ForeignKey(
        IndicatorReport, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subscription", "month"], name="one_mailing_a_month")
        ]

    def __str__(self) -> str:
        return f"mailing {self.month:%Y-%m} of subscription {self.subscription_id}"


class PatientHistoryEntry(models.Model):
    """One change to a patient's record, of any app (registry/history.py builds the view it
    reads). Read-only: the history itself is pghistory's append-only event tables."""

    id = models.CharField(primary_key=True, max_length=200)  # "app.ModelEvent:pgh_id"
    at = models.DateTimeField()
    event_model = models.CharField(max_length=100)
    tracked_model = models.CharField(max_length=100)
    section = models.CharField(max_length=100)
    action = models.CharField(max_length=20)
    event_id = models.BigIntegerField()
    obj_id = models.CharField(max_length=100)
    patient = models.ForeignKey(
        Patient, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    reason = models.TextField()
    who_sort = models.CharField(max_length=200, db_collation=NORWEGIAN)

    class Meta:
        managed = False
        db_table = "registry_patient_history"
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.section} {self.action} at {self.at:%Y-%m-%d %H:%M}"


protect_history_of("registry")  # history refuses TRUNCATE too (consortium/append_only.py)
