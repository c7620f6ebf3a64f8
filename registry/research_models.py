"""Research access to the register: projects that apply for data, their approval by a
consortium admin other than the applicant, and the extracts (deliveries) made for them.

In Norway register data reach researchers through an application naming the purpose, the
ethics approval of a Regional Committee for Medical and Health Research Ethics (REK,
https://rekportalen.no/), the legal basis and the variables needed; the delivery holds only
what was approved, pseudonymised, and every delivery is logged (Health Registry Act,
helseregisterloven § 19-20, https://lovdata.no/dokument/NL/lov/2014-06-20-43; GDPR art. 5(1)(c)
data minimisation, art. 89 safeguards, https://eur-lex.europa.eu/eli/reg/2016/679/oj).
Imported by registry.models, so Django finds the models there."""

import secrets

import pghistory
import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.urls import reverse
from django.utils import timezone

from consortium.append_only import refuse_truncate
from consortium.models import Institution


class LegalBasis(models.TextChoices):
    # Helseforskningsloven (https://lovdata.no/dokument/NL/lov/2008-06-20-44): § 9 REK's
    # prior approval, § 13 consent, § 35 REK's exemption from the duty of confidentiality;
    # GDPR art. 6(1)(e) and 9(2)(j) for research in the public interest.
    CONSENT = "consent", "Consent (helseforskningsloven § 13)"
    EXEMPTION = "exemption", "REK exemption from confidentiality (helseforskningsloven § 35)"
    PUBLIC_INTEREST = (
        "public_interest",
        "Research in the public interest (GDPR art. 6(1)(e) and 9(2)(j))",
    )


def new_project_salt() -> str:
    return secrets.token_hex(16)


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent())
class ResearchProject(models.Model):
    class Status(models.TextChoices):
        SUBMITTED = "submitted", "Waiting for a decision"
        APPROVED = "approved", "Approved"
        DECLINED = "declined", "Declined"

    title = models.CharField(max_length=300)
    purpose = models.TextField()
    applicant = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="research_projects"
    )
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+")
    researchers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="+",
        help_text="Researchers besides the applicant who may download the deliveries.",
    )
    rek_number = models.CharField("REK approval number", max_length=40)
    rek_date = models.DateField("REK approval date")
    legal_basis = models.CharField(max_length=20, choices=LegalBasis.choices)
    end_date = models.DateField("project end date")
    variables = ArrayField(models.CharField(max_length=60), verbose_name="approved variables")
    cohort_diagnoses = ArrayField(
        models.CharField(max_length=60), default=list, blank=True, help_text="Empty: all."
    )
    cohort_year_from = models.PositiveSmallIntegerField(null=True, blank=True)
    cohort_year_to = models.PositiveSmallIntegerField(null=True, blank=True)
    cohort_regions = ArrayField(
        models.CharField(max_length=20), default=list, blank=True, help_text="Empty: all."
    )
    dictionary_version = models.CharField(max_length=80)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SUBMITTED)
    submitted_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    # Mixed into the project's pseudonym key: pseudonyms differ between projects even
    # when the platform's key is the same. Never shown.
    pseudonym_salt = models.CharField(max_length=32, default=new_project_salt, editable=False)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-submitted_at", "-id"]

    def __str__(self) -> str:
        return f"Research project {self.pk}: {self.title[:60]}"

    def get_absolute_url(self) -> str:
        return reverse("research:project", args=[self.pk])

    @property
    def is_past_end(self) -> bool:
        return self.end_date < timezone.localdate()


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent())
class ResearchExtract(models.Model):
    """One delivery: what was asked for, what was delivered (files with row counts and
    SHA-256), who asked, and until when the files may be downloaded."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Delivered"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired"

    project = models.ForeignKey(ResearchProject, on_delete=models.PROTECT, related_name="extracts")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    variables = ArrayField(models.CharField(max_length=60))
    cohort_diagnoses = ArrayField(models.CharField(max_length=60), default=list, blank=True)
    cohort_year_from = models.PositiveSmallIntegerField(null=True, blank=True)
    cohort_year_to = models.PositiveSmallIntegerField(null=True, blank=True)
    cohort_regions = ArrayField(models.CharField(max_length=20), default=list, blank=True)
    dictionary_version = models.CharField(max_length=80)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done.")
    progress_text = models.CharField(max_length=200, blank=True)
    rows = models.PositiveIntegerField(null=True, blank=True, help_text="Episodes delivered.")
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]

    def __str__(self) -> str:
        return f"Extract {self.pk} of project {self.project_id}"

    def get_absolute_url(self) -> str:
        return reverse("research:extract", args=[self.pk])

    @property
    def is_expired(self) -> bool:
        return self.status == self.Status.EXPIRED or bool(
            self.expires_at and self.expires_at <= timezone.now()
        )


class ExtractFile(models.Model):
    """One file of a delivery, as written: its row count and SHA-256 are in the log."""

    extract = models.ForeignKey(ResearchExtract, on_delete=models.PROTECT, related_name="files")
    name = models.CharField(max_length=120)
    table = models.CharField(max_length=40, help_text="episodes, a repeated section, dictionary")
    format = models.CharField(max_length=10)
    rows = models.PositiveIntegerField()
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["extract", "name"], name="extract_file_name_once")
        ]
        triggers = [  # the delivery log is append-only
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
            refuse_truncate(),
        ]

    def __str__(self) -> str:
        return self.name


class ExtractDownload(models.Model):
    """Who downloaded which file of a delivery, and when."""

    # No database constraint: the file's row is append-only anyway, and a constraint would
    # let TRUNCATE of the file log fail on the reference before its append-only guard.
    file = models.ForeignKey(
        ExtractFile, on_delete=models.PROTECT, related_name="downloads", db_constraint=False
    )
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at"]
        triggers = [
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
            refuse_truncate(),
        ]

    def __str__(self) -> str:
        return f"{self.file} by member {self.by_id}"
