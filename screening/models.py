"""Drug-screening requests and living-cell transport. Facts and numbers from
docs/drug-sensitivity.md, cited below by section (§n), with their public sources.

A clinician requests a screen for a register patient's tumour episode; the chosen lab
reviews it; the sending hospital registers the sample and ships it; the lab records its
receipt. A request moves through explicit states (services.TRANSITIONS); every move is a
RequestEvent row, and with the shipment's hand-overs forms the chain of custody.
Plate results hang off an accepted Sample (its Receipt.accepted is True).

Times are stored in UTC (USE_TZ) and shown in Europe/Oslo. Change history is kept by
django-pghistory triggers; services put the user and the request into the context."""

import pghistory
from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from consortium.append_only import protect_history_of
from consortium.models import Institution
from registry.models import Patient, TumourEpisode, all_changes

# --- Configuration: sample types and the labs' libraries --------------------------------


@pghistory.track(*all_changes())
class SampleType(models.Model):
    """How a kind of material travels: its viability window from collection and the
    allowed temperature range are configuration, not code (docs/drug-sensitivity.md §2: "Configure
    per sample type: allowed temperature range, viability window from collection,
    warning threshold")."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    viability_hours = models.PositiveIntegerField(
        help_text="Window from collection to receipt, in hours."
    )
    min_celsius = models.DecimalField("lowest allowed °C", max_digits=5, decimal_places=1)
    max_celsius = models.DecimalField("highest allowed °C", max_digits=5, decimal_places=1)
    warning_percent = models.PositiveSmallIntegerField(
        default=75,
        help_text="Warn when this share of the window has passed (e.g. 75 %).",
    )
    transport_note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.viability_hours} h, {self.min_celsius}–{self.max_celsius} °C)"


@pghistory.track(*all_changes())
class Drug(models.Model):
    """A compound in a lab's screening library."""

    lab = models.ForeignKey(
        Institution,
        on_delete=models.PROTECT,
        related_name="screening_drugs",
        limit_choices_to={"kind": Institution.Kind.LAB},
    )
    name = models.CharField(max_length=100)
    drug_class = models.CharField(
        max_length=100, blank=True, help_text="Mechanism or target class."
    )
    approved = models.BooleanField(
        default=True, help_text="Approved for clinical use (else investigational)."
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["lab", "name"], name="one_drug_name_per_lab")
        ]

    def __str__(self) -> str:
        return self.name


@pghistory.track(*all_changes())
class DrugPanel(models.Model):
    """A lab's standard panel: a named, fixed set of drugs from its library."""

    lab = models.ForeignKey(
        Institution,
        on_delete=models.PROTECT,
        related_name="screening_panels",
        limit_choices_to={"kind": Institution.Kind.LAB},
    )
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    drugs = models.ManyToManyField(Drug, related_name="panels")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["lab", "name"], name="one_panel_name_per_lab")
        ]

    def __str__(self) -> str:
        return self.name


# --- The request and its states ------------------------------------------------------


class State(models.TextChoices):
    REQUESTED = "requested", "Requested"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    SAMPLE_COLLECTED = "sample_collected", "Sample collected"
    IN_TRANSIT = "in_transit", "In transit"
    RECEIVED = "received", "Received"
    REJECTED = "rejected", "Rejected"
    IN_CULTURE = "in_culture", "In culture"
    SCREENING = "screening", "Screening"
    REPORTED = "reported", "Reported"
    CANCELLED = "cancelled", "Cancelled"


@pghistory.track(*all_changes())
class ScreeningRequest(models.Model):
    class Priority(models.TextChoices):
        ROUTINE = "routine", "Routine"
        URGENT = "urgent", "Urgent"

    class ConsentScope(models.TextChoices):
        # Storage in a research biobank is a separate consent scope (docs/drug-sensitivity.md §2).
        SCREENING = "screening", "Screening only"
        SCREENING_AND_BIOBANK = "screening_biobank", "Screening and biobank"

    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="screening_requests"
    )
    episode = models.ForeignKey(
        TumourEpisode, on_delete=models.PROTECT, related_name="screening_requests"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    lab = models.ForeignKey(
        Institution,
        on_delete=models.PROTECT,
        related_name="screening_requests_received",
        help_text="The screening lab.",
    )
    indication = models.TextField()
    planned_surgery_date = models.DateField()
    surgery_hospital = models.ForeignKey(
        Institution,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Where the operation (and collection) takes place.",
    )
    panel = models.ForeignKey(
        DrugPanel,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="requests",
        help_text="A standard panel of the lab, or pick drugs.",
    )
    drugs = models.ManyToManyField(
        Drug, blank=True, related_name="requests", help_text="Drugs picked from the lab's library."
    )
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.ROUTINE)
    consent_date = models.DateField(null=True, blank=True)
    consent_form_version = models.CharField(max_length=40, blank=True)
    consent_scope = models.CharField(max_length=20, choices=ConsentScope.choices, blank=True)

    state = models.CharField(max_length=20, choices=State, default=State.REQUESTED)
    expected_sample_date = models.DateField(
        null=True, blank=True, help_text="The day the lab expects the sample (set on acceptance)."
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["lab", "state"]),
            models.Index(fields=["patient", "state"]),
            # The requests list's orders (keyset pages).
            models.Index(fields=["created_at", "id"], name="request_by_created"),
            models.Index(fields=["planned_surgery_date", "id"], name="request_by_surgery"),
        ]

    def __str__(self) -> str:  # never the name or national ID
        return f"Screening request {self.pk} ({self.patient.register_number})"

    def get_absolute_url(self) -> str:
        return reverse("screening:request", args=[self.pk])


class RequestEvent(models.Model):
    """One move of a request from a state to another: who, when, why. Append-only; the
    request's timeline reads them with the hand-overs."""

    request = models.ForeignKey(
        ScreeningRequest, on_delete=models.CASCADE, related_name="transitions"
    )
    from_state = models.CharField(max_length=20, choices=State, blank=True)
    to_state = models.CharField(max_length=20, choices=State)
    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["to_state", "at"])]

    def __str__(self) -> str:
        return f"request {self.request_id}: {self.from_state or '-'} -> {self.to_state}"


# --- Sample, shipment, hand-overs, temperatures, receipt -----------------------------


@pghistory.track(*all_changes())
class Sample(models.Model):
    request = models.ForeignKey(ScreeningRequest, on_delete=models.PROTECT, related_name="samples")
    sample_type = models.ForeignKey(SampleType, on_delete=models.PROTECT, related_name="+")
    amount = models.DecimalField(max_digits=8, decimal_places=2)
    amount_unit = models.CharField(
        max_length=10,
        choices=[("mg", "mg"), ("ml", "ml"), ("cells", "million cells")],
        default="mg",
    )
    medium = models.CharField(
        "transport medium",
        max_length=100,
        help_text="E.g. Hibernate-A, or culture medium with antibiotics.",
    )
    collected_at = models.DateTimeField(help_text="The viability clock runs from here.")
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    registered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["collected_at", "id"]

    def __str__(self) -> str:
        return self.label_id

    @property
    def label_id(self) -> str:
        """The id printed on the label with the register number (docs/drug-sensitivity.md §2)."""
        return f"S-{self.pk:06d}"


@pghistory.track(*all_changes())
class Shipment(models.Model):
    class Packaging(models.TextChoices):
        # docs/drug-sensitivity.md §2: UN3373 triple packaging under P650; dry ice adds UN1845.
        COLD = "un3373_cold", "UN3373 (P650), cold packs 2–8 °C"
        DRY_ICE = "un3373_dry_ice", "UN3373 (P650) + UN1845 dry ice"
        DRY_SHIPPER = "un3373_dry_shipper", "UN3373 (P650), liquid-nitrogen dry shipper"
        AMBIENT = "un3373_ambient", "UN3373 (P650), ambient"

    sample = models.OneToOneField(Sample, on_delete=models.PROTECT, related_name="shipment")
    packaging = models.CharField(max_length=30, choices=Packaging.choices)
    dry_ice_kg = models.DecimalField(
        "dry ice (kg)", max_digits=5, decimal_places=2, null=True, blank=True
    )
    courier = models.CharField(max_length=100)
    tracking_reference = models.CharField(max_length=100, blank=True)
    dispatched_at = models.DateTimeField()
    expected_arrival = models.DateTimeField()
    dispatched_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-dispatched_at"]

    def __str__(self) -> str:
        return f"shipment {self.pk} of sample {self.sample_id}"

    def get_absolute_url(self) -> str:
        return reverse("screening:shipment", args=[self.pk])


@pghistory.track(*all_changes())
class HandOver(models.Model):
    """Custody passed from a giver to a receiver at a place and time (docs/drug-sensitivity.md §2,
    as OpenSpecimen and SENAITE do it). Couriers are not members: the member handing over or
    receiving enters it. An empty receiver is a gap in custody, shown as an error."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="handovers")
    giver = models.CharField(max_length=150)
    receiver = models.CharField(max_length=150, blank=True)
    place = models.CharField(max_length=150)
    at = models.DateTimeField()
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    entered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"hand-over of shipment {self.shipment_id} at {self.at:%Y-%m-%d %H:%M}"


@pghistory.track(pghistory.InsertEvent(), pghistory.DeleteEvent())
class LoggerUpload(models.Model):
    """A temperature logger's CSV, kept by its SHA-256 so the same file is not taken twice."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="uploads")
    sha256 = models.CharField(max_length=64)
    filename = models.CharField(max_length=200, blank=True)
    device_serial = models.CharField(max_length=100, blank=True)
    time_zone = models.CharField(max_length=60, blank=True)
    readings = models.PositiveIntegerField(default=0, help_text="Rows in the file.")
    added = models.PositiveIntegerField(default=0, help_text="Readings new to the shipment.")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["shipment", "sha256"], name="one_upload_per_file")
        ]

    def __str__(self) -> str:
        return f"logger file {self.filename or self.pk} (shipment {self.shipment_id})"


@pghistory.track(pghistory.InsertEvent(), pghistory.DeleteEvent())
class TemperatureReading(models.Model):
    """°C at an instant (UTC). One reading per shipment and instant: overlapping logger
    files and hand entries do not double the trace."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="readings")
    at = models.DateTimeField()
    celsius = models.DecimalField(max_digits=5, decimal_places=2)
    upload = models.ForeignKey(
        LoggerUpload, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["at"]
        constraints = [
            models.UniqueConstraint(fields=["shipment", "at"], name="one_reading_per_instant")
        ]

    def __str__(self) -> str:
        return f"{self.celsius} °C at {self.at:%Y-%m-%d %H:%M} (shipment {self.shipment_id})"


@pghistory.track(*all_changes())
class Receipt(models.Model):
    """The lab's record of arrival (docs/drug-sensitivity.md §2): time, package condition,
    temperature on arrival, viable cell count and viability; accepted, or rejected with a reason."""

    class Condition(models.TextChoices):
        INTACT = "intact", "Intact"
        DAMAGED = "damaged", "Package damaged"
        LEAKING = "leaking", "Leaking"
        WARM = "warm", "Cooling lost"

    sample = models.OneToOneField(Sample, on_delete=models.PROTECT, related_name="receipt")
    arrived_at = models.DateTimeField()
    condition = models.CharField(max_length=20, choices=Condition.choices)
    arrival_celsius = models.DecimalField(
        "temperature on arrival (°C)", max_digits=5, decimal_places=1
    )
    viable_cell_count = models.PositiveBigIntegerField("viable cells", null=True, blank=True)
    viability_percent = models.DecimalField(
        "viability (%)",
        max_digits=4,
        decimal_places=1,
        null=True,
        blank=True,
        help_text="E.g. trypan blue exclusion.",
    )
    accepted = models.BooleanField()
    rejection_reason = models.TextField(blank=True)
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["arrived_at"])]

    def __str__(self) -> str:
        return f"receipt of sample {self.sample_id} at {self.arrived_at:%Y-%m-%d %H:%M}"


# --- Alerts ----------------------------------------------------------------------------


class ShipmentAlert(models.Model):
    """A shipment nearing or passing its window, or an excursion out of range: raised once
    per event however often the beat task runs (the window alerts once per shipment; a
    temperature alert once per excursion, keyed by when it began)."""

    class Kind(models.TextChoices):
        WINDOW_NEAR = "window_near", "Nearing the viability window"
        WINDOW_PASSED = "window_passed", "Past the viability window"
        TEMPERATURE = "temperature", "Temperature out of range"

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    event = models.CharField(
        max_length=40,
        blank=True,
        default="",
        help_text="Which event of its kind: an excursion's start (UTC, ISO).",
    )
    message = models.TextField()
    raised_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-raised_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["shipment", "kind", "event"], name="one_alert_per_event"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} alert on shipment {self.shipment_id}"


# --- Plate results: layouts, uploads, plates, wells, analyses, reports ----------------------------
# Numbers and defaults from docs/drug-sensitivity.md §3-§6; the computation lives in analysis.py.


@pghistory.track(*all_changes())
class LabQcSettings(models.Model):
    """A lab's QC gate and activity threshold. Defaults from docs/drug-sensitivity.md §4 (Z' >= 0.5
    pass, 0.3 warn; |SSMD| >= 5 pass, 3 warn) and §6 (t = 10 % inhibition). The CV and
    edge limits are ours: the reference names the checks, not limits."""

    lab = models.OneToOneField(Institution, on_delete=models.CASCADE, related_name="screening_qc")
    z_prime_pass = models.FloatField(default=0.5)
    z_prime_warn = models.FloatField(default=0.3)
    ssmd_pass = models.FloatField(default=5.0)
    ssmd_warn = models.FloatField(default=3.0)
    max_negative_cv = models.FloatField("highest DMSO CV (%)", default=20.0)
    max_edge_percent = models.FloatField("largest edge effect (%)", default=20.0)
    dss_threshold = models.FloatField("DSS activity threshold (% inhibition)", default=10.0)

    class Meta:
        verbose_name = "lab QC settings"
        verbose_name_plural = "lab QC settings"

    def __str__(self) -> str:
        return f"QC limits of lab {self.lab_id}"


@pghistory.track(*all_changes())
class PlateLayoutTemplate(models.Model):
    """A layout the lab saved to reuse: the wells as parsed (plates.Layout.as_rows)."""

    lab = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="screening_layouts")
    name = models.CharField(max_length=100)
    plate_format = models.PositiveSmallIntegerField(
        choices=[(96, "96 wells"), (384, "384 wells")], default=384
    )
    wells = models.JSONField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["lab", "name"], name="one_layout_name_per_lab")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.plate_format} wells)"


@pghistory.track(*all_changes())
class ReferenceSet(models.Model):
    """Control samples' DSS2 per drug (e.g. other glioblastoma cultures, healthy cells),
    named and versioned so a result says which set made it selective
    (docs/drug-sensitivity.md §6)."""

    lab = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="screening_reference_sets"
    )
    name = models.CharField(max_length=100)
    version = models.PositiveIntegerField(default=1)
    description = models.CharField(max_length=300, blank=True)
    scores = models.JSONField(help_text='{"drug name": [DSS2 of each control sample, ...]}')
    active = models.BooleanField(
        default=True, help_text="The newest active set of the lab is used."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["lab", "name", "version"], name="one_reference_version")
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


@pghistory.track(*all_changes())
class PlateUpload(models.Model):
    """A layout and its readouts for the request's accepted sample, taken whole."""

    request = models.ForeignKey(
        ScreeningRequest, on_delete=models.PROTECT, related_name="plate_uploads"
    )
    sample = models.ForeignKey(Sample, on_delete=models.PROTECT, related_name="plate_uploads")
    plate_format = models.PositiveSmallIntegerField(default=384)
    layout_template = models.ForeignKey(
        PlateLayoutTemplate, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    layout_filename = models.CharField(max_length=200, blank=True)
    readout_filenames = models.CharField(max_length=500, blank=True)
    sha256 = models.CharField(max_length=64, help_text="Of the layout and readouts together.")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-uploaded_at", "-id"]

    def __str__(self) -> str:
        return f"plate upload {self.pk} (request {self.request_id})"


@pghistory.track(*all_changes())
class Plate(models.Model):
    class Qc(models.TextChoices):
        PENDING = "pending", "Not analysed yet"
        PASS = "pass", "Passed"
        WARN = "warn", "Warning"
        FAIL = "fail", "Failed"

    upload = models.ForeignKey(PlateUpload, on_delete=models.CASCADE, related_name="plates")
    name = models.CharField(max_length=60)
    position = models.PositiveSmallIntegerField()
    mu_negative = models.FloatField(null=True)
    mu_positive = models.FloatField(null=True)
    z_prime = models.FloatField(null=True)
    ssmd = models.FloatField(null=True)
    cv_negative = models.FloatField(null=True)
    cv_positive = models.FloatField(null=True)
    edge_percent = models.FloatField(null=True)
    qc_status = models.CharField(max_length=10, choices=Qc.choices, default=Qc.PENDING)
    qc_flags = models.JSONField(default=list)
    # A failed plate is scored only with a scientist's reason, kept with the result
    # (docs/drug-sensitivity.md §4).
    override_reason = models.TextField(blank=True)
    override_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    override_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["upload", "position"]
        constraints = [
            models.UniqueConstraint(fields=["upload", "name"], name="one_plate_name_per_upload")
        ]

    def __str__(self) -> str:
        return f"Plate {self.name}"


class Well(models.Model):
    """A well as read: raw data, written once with its upload (whose history is kept) and
    never changed, so not tracked row by row."""

    plate = models.ForeignKey(Plate, on_delete=models.CASCADE, related_name="wells")
    well = models.CharField(max_length=4)
    row = models.PositiveSmallIntegerField()
    column = models.PositiveSmallIntegerField()
    role = models.CharField(
        max_length=10,
        choices=[
            ("sample", "sample"),
            ("positive", "positive control"),
            ("negative", "negative control"),
        ],
    )
    drug_name = models.CharField(max_length=100, blank=True)
    concentration_nm = models.FloatField(null=True)
    signal = models.FloatField()
    inhibition = models.FloatField(null=True)

    class Meta:
        ordering = ["plate", "row", "column"]
        constraints = [
            models.UniqueConstraint(fields=["plate", "well"], name="one_signal_per_well")
        ]

    def __str__(self) -> str:
        return f"well {self.well} of plate {self.plate_id}"


# The worker's heartbeat is no change of the run's: it is not tracked (a row every 15 s).
@pghistory.track(*all_changes(), exclude=["heartbeat_at"])
class AnalysisRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    upload = models.ForeignKey(PlateUpload, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life of the worker running it."
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    thresholds = models.JSONField(default=dict, help_text="The lab's QC settings used.")
    reference_set = models.ForeignKey(
        ReferenceSet, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    seconds = models.FloatField(null=True, help_text="Normalisation, fitting and scoring.")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"analysis run {self.pk} ({self.status})"


@pghistory.track(pghistory.InsertEvent(), pghistory.DeleteEvent())
class DrugResult(models.Model):
    """One drug's fit and scores in a run. Flags say when a fit failed, was flat, did not
    converge, hit a bound or fits poorly; QC flags name the plates behind a missing score."""

    run = models.ForeignKey(AnalysisRun, on_delete=models.CASCADE, related_name="results")
    drug_name = models.CharField(max_length=100)
    drug = models.ForeignKey(
        Drug, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    drug_class = models.CharField(max_length=100, blank=True)
    plates = models.JSONField(default=list)
    points = models.JSONField(default=list, help_text="[[nM, % inhibition], ...]")
    top = models.FloatField(null=True)
    bottom = models.FloatField(default=0.0)
    log_ic50 = models.FloatField(null=True)
    ic50_nm = models.FloatField(null=True)
    slope = models.FloatField(null=True)
    errors = models.JSONField(default=dict)
    r_squared = models.FloatField(null=True)
    residual_sd = models.FloatField(null=True)
    auc = models.FloatField(null=True)
    x_min = models.FloatField()
    x_max = models.FloatField()
    fit_flags = models.JSONField(default=list)
    # False when the solvers stopped at their evaluation budget (also a fit flag, so shown on
    # the page, the report and the API); None when there was nothing to fit.
    converged = models.BooleanField(null=True)
    fit_evaluations = models.PositiveIntegerField(default=0)
    qc_flags = models.JSONField(default=list)
    scored = models.BooleanField(default=True)
    dss1 = models.FloatField(null=True)
    dss2 = models.FloatField(null=True)
    dss3 = models.FloatField(null=True)
    selective_dss = models.FloatField(null=True)

    class Meta:
        ordering = ["drug_name"]
        constraints = [
            models.UniqueConstraint(fields=["run", "drug_name"], name="one_result_per_drug")
        ]

    def __str__(self) -> str:
        return f"{self.drug_name} in run {self.run_id}"

    @property
    def rank_key(self) -> tuple:
        """Ranking: with a reference set, drugs with a selective DSS first (by sDSS), then
        drugs the set lacks (by DSS2), never the two scales mixed; unscored drugs last."""
        if self.selective_dss is not None:
            return (0, -self.selective_dss, self.drug_name)
        if self.dss2 is not None:
            return (1, -self.dss2, self.drug_name)
        return (2, 0.0, self.drug_name)


@pghistory.track(*all_changes(), exclude=["pdf"])  # the PDF's hash is in the history
class Report(models.Model):
    """The tumour board's report. A draft is edited; signing (password re-entered) releases
    it and freezes it; a change after release is a new version (all versions kept)."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        RELEASED = "released", "Released"

    request = models.ForeignKey(ScreeningRequest, on_delete=models.PROTECT, related_name="reports")
    run = models.ForeignKey(AnalysisRun, on_delete=models.PROTECT, related_name="reports")
    number = models.PositiveIntegerField(help_text="Report version 1, 2, ...")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    interpretation = models.TextField(blank=True)
    top_drugs = models.PositiveSmallIntegerField(default=10)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    signed_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1, help_text="Edit counter for conflicts.")
    # What was signed, frozen at signing: the page's body and the PDF, byte for byte.
    body_html = models.TextField(blank=True, editable=False)
    pdf = models.BinaryField(null=True, editable=False)
    pdf_sha256 = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        ordering = ["request", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["request", "number"], name="one_report_number")
        ]

    def __str__(self) -> str:
        return f"report {self.number} of request {self.request_id} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("screening:report", args=[self.pk])


protect_history_of("screening")  # history refuses TRUNCATE too (consortium/append_only.py)
