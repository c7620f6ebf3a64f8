"""The shared core: institutions, members and their roles, the access log, and the
Nordic network directory."""

import pghistory
import pgtrigger
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import F, Func, Value
from django.urls import reverse
from django.utils import timezone
from knox.models import AbstractAuthToken

from .append_only import protect_history_of, refuse_truncate

# PostgreSQL's ICU collation for Norwegian Bokmål: names compared as Norwegians sort them
# (Æ, Ø, Å after Z). Migration 0009 creates it where the server's ICU has not already
# (https://www.postgresql.org/docs/15/sql-createcollation.html).
NORWEGIAN = "nb-NO-x-icu"


def surname_first(field: str) -> Func:
    """'Kari Nordmann' as 'Nordmann Kari': the last word of the name as written, then the
    rest, so a list sorts people by surname as Norwegian lists do (the register's patients
    and its members alike)."""
    return Func(
        Func(F(field), Value(r"^\s*(.*?)\s*(\S+)\s*$"), Value(r"\2 \1"), function="regexp_replace"),
        function="btrim",
    )


@pghistory.track()
class Institution(models.Model):
    class Kind(models.TextChoices):
        HOSPITAL = "hospital", "Hospital"
        LAB = "lab", "Screening lab"
        RESEARCH_INSTITUTE = "research_institute", "Research institute"

    class HealthRegion(models.TextChoices):
        # The four regional health authorities (regionale helseforetak).
        SOUTH_EAST = "south_east", "Helse Sør-Øst"
        WEST = "west", "Helse Vest"
        CENTRAL = "central", "Helse Midt-Norge"
        NORTH = "north", "Helse Nord"

    code = models.SlugField(max_length=20, unique=True, help_text="Short code, e.g. OUS.")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    city = models.CharField(max_length=100)
    health_region = models.CharField(max_length=20, choices=HealthRegion.choices, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Role(models.TextChoices):
    CLINICIAN = "clinician", "Clinician"
    COORDINATOR = "coordinator", "Trial coordinator"
    LAB_SCIENTIST = "lab_scientist", "Lab scientist"
    RESEARCHER = "researcher", "Researcher"
    ADMIN = "admin", "Consortium admin"


# Roles that see patient data must use two-factor sign-in (OWASP ASVS 5.0 6.3.3,
# https://github.com/OWASP/ASVS).
ROLES_REQUIRING_MFA = {Role.CLINICIAN, Role.COORDINATOR, Role.LAB_SCIENTIST, Role.ADMIN}
# Roles that may edit the Nordic directory and resolve suggested corrections.
ROLES_EDITING_DIRECTORY = {Role.COORDINATOR, Role.ADMIN}


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email, password=None, **extra):
        if not email:
            raise ValueError("A member needs an email address.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)  # None gives an unusable password until the invite is used
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **extra):
        extra.update(is_staff=True, is_superuser=True, role=Role.ADMIN)
        return self.create_user(email, password, **extra)


@pghistory.track(exclude=["password", "last_login", "sort_name"])
class User(AbstractBaseUser, PermissionsMixin):
    """A consortium member. Signs in by email; belongs to one or more institutions."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    # Surname first in PostgreSQL's ICU collation for Norwegian Bokmål (Æ, Ø, Å after Z; "Aa"
    # as Å: CLDR nb, https://unicode.org/cldr/charts/latest/collation/nb.html): every list
    # of members orders by it.
    sort_name = models.GeneratedField(
        expression=surname_first("full_name"),
        output_field=models.CharField(max_length=200, db_collation=NORWEGIAN),
        db_persist=True,
    )
    role = models.CharField(max_length=20, choices=Role, default=Role.RESEARCHER)
    institutions = models.ManyToManyField(
        Institution, through="Membership", related_name="members", blank=True
    )
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="May use the admin site.")
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]
        verbose_name = "member"
        indexes = [  # the members list's orders (keyset pages); e-mail has its unique index
            models.Index(fields=["sort_name", "id"], name="member_by_surname"),
            models.Index(fields=["role", "id"], name="member_by_role"),
            models.Index(fields=["date_joined", "id"], name="member_by_joined"),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email

    @property
    def requires_mfa(self) -> bool:
        return self.is_staff or self.is_superuser or self.role in ROLES_REQUIRING_MFA

    @property
    def can_edit_directory(self) -> bool:
        return self.is_superuser or self.role in ROLES_EDITING_DIRECTORY

    @property
    def is_consortium_admin(self) -> bool:
        return self.is_superuser or self.role == Role.ADMIN

    # What a member's role opens. The menus (templates/base.html, home.html) and the apps'
    # selectors read these, so a page is offered exactly to those the selectors let in; the
    # selectors then narrow by institution.

    @property
    def sees_register(self) -> bool:
        """The register's patients (of their institutions; admins every patient, masked)."""
        return self.role in (Role.CLINICIAN, Role.COORDINATOR) or self.is_consortium_admin

    @property
    def registers_patients(self) -> bool:
        """Registers patients and enters their reports: the treating clinicians."""
        return self.role == Role.CLINICIAN

    @property
    def reopens_reports(self) -> bool:
        """Reopens a report submitted as complete (with a reason): coordinators and admins."""
        return self.role == Role.COORDINATOR or self.is_consortium_admin

    @property
    def works_trial_matches(self) -> bool:
        """Works the trial match queue and edits the trials: coordinators and admins."""
        return self.role == Role.COORDINATOR or self.is_consortium_admin

    @property
    def sees_screening_requests(self) -> bool:
        """Drug-screening requests: the patient's clinicians and coordinators, the lab."""
        return self.role in (Role.CLINICIAN, Role.COORDINATOR, Role.LAB_SCIENTIST)

    @property
    def is_lab_scientist(self) -> bool:
        return self.role == Role.LAB_SCIENTIST


@pghistory.track(pghistory.InsertEvent(), pghistory.DeleteEvent())
class Membership(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE)
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT)
    since = models.DateField(default=timezone.localdate)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "institution"], name="one_membership_each")
        ]

    def __str__(self) -> str:
        return f"member {self.user_id} at institution {self.institution_id}"


@pghistory.track(pghistory.InsertEvent(), pghistory.DeleteEvent(), exclude=["last_used_at"])
class ApiToken(AbstractAuthToken):
    """A member's API token for scripts (django-rest-knox, KNOX_TOKEN_MODEL). Only a SHA-512
    digest of the token and its first characters (`token_key`) are stored: the token itself is
    shown once, when it is created, and nobody (an admin neither) can read it afterwards.
    Every token expires (ASVS 7.3: credentials with a bounded lifetime)."""

    name = models.CharField(max_length=100, help_text="What the token is for, e.g. the script.")
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        verbose_name = "API token"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expiry__isnull=False), name="api_token_expires"
            )
        ]

    def __str__(self) -> str:
        return f"{self.token_key}… {self.name} ({self.user})"


class AccessLog(models.Model):
    """Who looked at which patient, when, on which page (pasientjournalloven § 22,
    Normen Faktaark 15, https://ehelse.no/normen/normen-dokumenter/logging-og-innsyn-i-logg-faktaark-15).
    Append-only in the database.

    The patient is kept as the register's patient id, not a foreign key, so the core
    does not depend on the register app (apps depend one way)."""

    at = models.DateTimeField(default=timezone.now)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, db_index=False)
    patient_id = models.BigIntegerField()
    page = models.CharField(max_length=100, help_text="The page or API endpoint's name.")
    path = models.CharField(max_length=300)
    method = models.CharField(max_length=10, default="GET")
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        # Partitioned by month in PostgreSQL (consortium/partitions.py, migration 0010).
        ordering = ["-at", "-id"]
        indexes = [
            # The review's orders: everyone's newest first, one member's, one patient's.
            models.Index(fields=["at", "id"], name="access_log_by_time"),
            models.Index(fields=["user", "at", "id"], name="access_log_by_member"),
            models.Index(fields=["patient_id", "at", "id"], name="access_log_by_patient"),
        ]
        triggers = [
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
            refuse_truncate(),  # a row trigger never fires on TRUNCATE
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.user} patient {self.patient_id} {self.page}"


class FailedPasswordCheck(models.Model):
    """A password re-entered for a signature that was wrong, or refused unchecked because the
    account was locked after too many (ASVS 16.3.1: log authentication attempts; Normen
    Faktaark 15). Append-only in the database; admins read it in the admin site."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    purpose = models.CharField(max_length=200, help_text="What the password was to confirm.")
    ip = models.GenericIPAddressField(null=True, blank=True)
    locked = models.BooleanField(
        default=False, help_text="Refused without checking: too many wrong passwords."
    )

    class Meta:
        ordering = ["-at"]
        triggers = [
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete)
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.user}: {self.purpose}"


# --- The Nordic network directory -------------------------------------------------


class DirectoryCategory(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="subcategories"
    )
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position"]
        verbose_name_plural = "directory categories"

    def __str__(self) -> str:
        return f"{self.parent.name} / {self.name}" if self.parent_id else self.name


def _unaccented(field: str) -> Func:
    # nbtc_unaccent: PostgreSQL's unaccent with its dictionary named, declared IMMUTABLE so a
    # stored generated column may use it (migration 0013; the usual wrapper,
    # https://www.postgresql.org/docs/current/unaccent.html).
    return Func(F(field), function="nbtc_unaccent", output_field=models.TextField())


# What the directory search reads: weights rank name and acronym hits above cancer types,
# and those above focus and activities; English stems, "simple" keeps acronyms as written;
# accents dropped, as from the typed words (selectors.search_query).
GROUP_SEARCH_DOCUMENT = (
    SearchVector(_unaccented("name"), weight="A", config="english")
    + SearchVector(_unaccented("acronym"), weight="A", config="simple")
    + SearchVector(_unaccented("cancer_types"), _unaccented("scope"), weight="B", config="english")
    + SearchVector(
        _unaccented("focus"), _unaccented("key_activities"), weight="C", config="english"
    )
)


@pghistory.track(exclude=["search_document"])
class NetworkGroup(models.Model):
    """A Nordic cancer collaboration group, as imported from NorCRIN's overview and
    corrected by coordinators."""

    slug = models.SlugField(max_length=200, unique=True)
    name = models.CharField(max_length=300)
    acronym = models.CharField(max_length=100, blank=True)
    heading = models.CharField(max_length=400, help_text="The heading as the document wrote it.")
    category = models.ForeignKey(DirectoryCategory, on_delete=models.PROTECT, related_name="groups")
    cancer_types = models.TextField(blank=True)
    scope = models.TextField(blank=True)
    participants = models.TextField(blank=True, help_text="Participants or members, as written.")
    countries = ArrayField(
        models.CharField(max_length=2),
        default=list,
        blank=True,
        help_text="Member countries, ISO 3166 alpha-2.",
    )
    associate_countries = ArrayField(
        models.CharField(max_length=2),
        default=list,
        blank=True,
        help_text="Associate members and collaborating partners.",
    )
    focus = models.TextField(blank=True)
    key_activities = models.TextField(blank=True)
    website_url = models.URLField(max_length=500, blank=True)
    website_label = models.CharField(max_length=300, blank=True)
    website_note = models.CharField(max_length=100, blank=True)
    other_facts = models.JSONField(
        default=list, blank=True, help_text="Other labelled facts: [[label, value], ...]."
    )
    position = models.PositiveIntegerField(default=0)
    removed_at = models.DateTimeField(
        null=True, blank=True, help_text="Set when a new edition no longer lists the group."
    )
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(
        default=1,
        help_text="Raised on every change; an edit made against an older version is refused.",
    )

    search_document = models.GeneratedField(
        expression=GROUP_SEARCH_DOCUMENT, output_field=SearchVectorField(), db_persist=True
    )

    class Meta:
        ordering = ["position", "name"]
        indexes = [
            models.Index(fields=["removed_at"]),
            GinIndex(fields=["search_document"], name="group_search"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.acronym})" if self.acronym else self.name

    def get_absolute_url(self) -> str:
        return reverse("directory:group_detail", args=[self.slug])

    @property
    def acronyms(self) -> list[str]:
        return [a.strip() for a in self.acronym.split("/") if a.strip()]


class DirectorySuggestion(models.Model):
    """A member's suggested correction to a group; coordinators resolve it."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        APPLIED = "applied", "Applied"
        DISMISSED = "dismissed", "Dismissed"

    group = models.ForeignKey(NetworkGroup, on_delete=models.CASCADE, related_name="suggestions")
    suggested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="directory_suggestions"
    )
    message = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    notified_at = models.DateTimeField(
        null=True, blank=True, help_text="When editors were e-mailed."
    )
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"suggestion {self.pk} on group {self.group_id} ({self.status})"


class DirectoryImport(models.Model):
    """One run of import_nordic_directory: what it changed."""

    at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=300)
    title = models.CharField(max_length=300, blank=True)
    added = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    removed = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"directory import {self.pk} of {self.source} at {self.at:%Y-%m-%d %H:%M}"


class OutboxMessage(models.Model):
    """Follow-up work (a Celery task by name, with its arguments) written in the same
    transaction as the change that calls for it, so a save never stands without its
    follow-up even when the broker is down: the transactional outbox
    (https://microservices.io/patterns/data/transactional-outbox.html). Sent once the
    transaction commits and, if the broker was unreachable, by the relay every minute
    (consortium.tasks.relay_outbox)."""

    task_name = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["id"], condition=models.Q(sent_at__isnull=True), name="outbox_unsent"
            )
        ]

    def __str__(self) -> str:
        return f"{self.task_name}{tuple(self.args)}"


class InboxItem(models.Model):
    """One notice to one member: a contact request, a screening request's news, a shipment
    alert, results or a report ready. Every app writes it through one service
    (consortium.services.inbox_deliver) in the transaction of the event it tells of, so
    an item stands exactly when its event does. The text carries register numbers only,
    never a name or national ID; `url` is the page it is about, which checks again who
    may see it. `key` names the event, so a retried task adds no second item."""

    class Kind(models.TextChoices):
        CONTACT_REQUEST = "contact_request", "Contact request"
        CONTACT_ANSWER = "contact_answer", "Answer to a contact request"
        SCREENING = "screening", "Screening request"
        RESULTS_RELEASED = "results_released", "Screening results released"
        ALERT = "alert", "Alert"
        REPORT_READY = "report_ready", "Report ready"
        TUMOUR_BOARD = "tumour_board", "Tumour board"
        REFERRAL = "referral", "Trial referral"
        DIRECTORY = "directory", "Directory suggestion"

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="inbox_items"
    )
    kind = models.CharField(max_length=30, choices=Kind.choices)
    text = models.TextField()
    url = models.CharField(max_length=500)
    # The patient the item names (for the access log of the pages listing it); a plain id,
    # since the core knows no register models.
    patient_id = models.BigIntegerField(null=True, blank=True)
    key = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["recipient", "key"], name="one_inbox_item_per_event")
        ]
        indexes = [
            # The inbox's pages (newest first, keyset on created_at, id).
            models.Index(fields=["recipient", "-created_at", "-id"], name="inbox_newest"),
            # The navigation's unread count on every page: only unread rows are indexed.
            models.Index(
                fields=["recipient"],
                condition=models.Q(read_at__isnull=True),
                name="inbox_unread",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for member {self.recipient_id}"


protect_history_of("consortium")  # history tables refuse TRUNCATE too (append_only.py)
