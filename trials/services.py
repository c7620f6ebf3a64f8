"""Writes of the trials app. Every write checks who may make it, refuses an edit made
against an older version (EditConflict -> 409), keeps who/when/what in pghistory's
context, and re-matches after the transaction commits when what matching reads changed."""

import json
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pghistory
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from consortium.exceptions import EditConflict
from consortium.heartbeat import HEARTBEAT_STALE, heartbeat
from consortium.models import InboxItem, Role, User
from consortium.services import inbox_deliver, outbox_enqueue
from registry.models import PatientInstitution

from . import criteria, ctgov, engine, reading, selectors
from .criteria_readers import ANY_GATE, kind_readers
from .models import (
    OPEN_STATUSES,
    STEP_TRANSITIONS,
    CatalogueSync,
    CloseReason,
    EligibilityReading,
    ManualCheck,
    Match,
    MatchingRun,
    ReviewEvent,
    Step,
    Suggestion,
    Trial,
    TrialArm,
    TrialSite,
    TrialStatus,
)


def _require_coordinator(by: User) -> None:
    if not selectors.works_trials(by):
        raise PermissionDenied("Only trial coordinators and admins work trials and matches.")


def _rematch_trial(trial_id: int) -> None:
    """The trial's re-match, written to the outbox with the save (it runs after commit,
    or once the broker is back)."""
    from .tasks import rematch_trial

    outbox_enqueue(rematch_trial, trial_id)


# --- Import -------------------------------------------------------------------------


@dataclass
class ImportReport:
    added: list = field(default_factory=list)
    updated: list = field(default_factory=list)
    problems: list = field(default_factory=list)  # "file (NCT id): why", the record skipped
    warnings: list = field(
        default_factory=list
    )  # "file (NCT id): what is missing", imported anyway
    skipped: list = field(default_factory=list)  # NCT ids the caller's filter left out
    only: object = None  # the caller's filter of parsed records (None: every record)
    changed: list = field(default_factory=list)  # NCT ids whose record changed on re-import
    closed: list = field(default_factory=list)  # NCT ids no longer open after re-import

    def lines(self) -> list[str]:
        skipped = f", skipped {len(self.skipped)} not about a brain tumour" if self.skipped else ""
        return (
            [
                f"Added {len(self.added)}, updated {len(self.updated)}, "
                f"refused {len(self.problems)}{skipped}."
            ]
            + [f"Refused {p}" for p in self.problems]
            + [f"Incomplete {w}" for w in self.warnings]
        )


def trials_import_paths(*, paths: list, by: User | None = None, only=None) -> ImportReport:
    """Import files or folders; `only` (a test of the parsed fields, e.g.
    ctgov.is_brain_tumour) leaves the other records out, listed as skipped."""
    report = ImportReport(only=only)
    for path in paths:
        path = Path(path)
        if not path.exists():
            report.problems.append(f"{path}: no such file or folder")
            continue
        for name, document in ctgov.documents_in(path):
            _import_document(name, document, report, by)
    return report


def trials_import_api(
    *,
    query: str = "",
    by: User | None = None,
    page_size: int = 100,
    params: dict | None = None,
    only=None,
) -> ImportReport:
    """Pages through GET {CTGOV_API_URL}/studies?query.term=...&pageToken=... (or the
    given search parameters)."""
    report, token, page = ImportReport(only=only), None, 0
    search = params if params is not None else {"query.term": query}
    while True:
        params = {**search, "pageSize": page_size, "format": "json"}
        if token:
            params["pageToken"] = token
        url = f"{settings.CTGOV_API_URL.rstrip('/')}/studies?{urllib.parse.urlencode(params)}"
        page += 1
        try:
            with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - the setting's https URL
                document = json.load(response)
        except (
            OSError,
            ValueError,
        ) as error:  # unreachable, HTTP error, or not JSON: say so, keep what came
            report.problems.append(f"API page {page} ({settings.CTGOV_API_URL}): {error}")
            return report
        _import_document(f"API page {page}", document, report, by)
        token = document.get("nextPageToken")
        if not token:
            return report


def _import_document(name: str, document, report: ImportReport, by) -> None:
    for record in ctgov.studies_in(document):
        nct = ctgov.nct_of(record) if not isinstance(record, Exception) else ""
        where = f"{name} ({nct})" if nct else name
        try:
            if isinstance(record, ctgov.UnreadableRecord):
                raise record
            parsed = ctgov.parse_study(record)
            if report.only is not None and not report.only(parsed["fields"]):
                report.skipped.append(parsed["nct_id"])
                continue
            with transaction.atomic():  # one record whole or not at all; the rest go on
                created = trial_upsert(parsed=parsed, by=by, report=report)
        except (
            ctgov.UnreadableRecord,
            ValidationError,
            ValueError,
            KeyError,
            TypeError,
            DatabaseError,
        ) as error:
            # DatabaseError: e.g. a value longer than its column; that record's savepoint
            # rolled back, the rest of the file still imports.
            report.problems.append(f"{where}: {error}")
            continue
        (report.added if created else report.updated).append(parsed["nct_id"])
        report.warnings += [f"{where}: {w}" for w in parsed["fields"]["import_warnings"]]


def _record_tree(fields: dict) -> dict:
    """The criteria an imported record states in fields: age and sex (docs/trials-matching.md §3:
    the only structured eligibility of CT.gov)."""
    tree = criteria.empty_tree()
    low, high = ctgov.age_in_years(fields["minimum_age"]), ctgov.age_in_years(fields["maximum_age"])
    if low is not None or high is not None:
        tree["criteria"]["all"].append({"type": "age", "min_years": low, "max_years": high})
    if fields["sex"] in ("FEMALE", "MALE"):
        tree["criteria"]["all"].append({"type": "sex", "sex": fields["sex"].lower()})
    return tree


def _mark_reachable(trial: Trial) -> None:
    """The trial's matches say whether a Norwegian patient can reach it (queue order)."""
    trial.matches.exclude(reachable=trial.reachable).update(reachable=trial.reachable)


def trial_upsert(*, parsed: dict, by: User | None = None, report=None) -> bool:
    """Insert or update by NCT id. What coordinators added (criteria, arm criteria, notes)
    is never touched; a changed status of an encoded trial re-matches it. True if new."""
    fields = parsed["fields"]
    trial = Trial.objects.select_for_update().filter(nct_id=parsed["nct_id"]).first()
    created = trial is None
    with pghistory.context(user=by.pk if by else None, source="import_trials"):
        if created:
            trial = Trial(nct_id=parsed["nct_id"], source=Trial.Source.CTGOV)
        old_status = trial.overall_status
        before = {name: getattr(trial, name) for name in fields if name != "import_warnings"}
        if trial.criteria_encoded_at:
            # The coordinator's criteria are kept, but a changed age or sex on the record is said.
            for name in ("minimum_age", "maximum_age", "sex"):
                if getattr(trial, name) != fields[name]:
                    fields["import_warnings"].append(
                        f"{name.replace('_', ' ')} changed on ClinicalTrials.gov from "
                        f"{getattr(trial, name)!r} to "
                        f"{fields[name]!r}; the encoded criteria were kept: review them"
                    )
        for name, value in fields.items():
            setattr(trial, name, value)
        if trial.overall_status not in TrialStatus.values:
            fields["import_warnings"].append(
                f"unknown overall status {trial.overall_status!r}: kept as unknown"
            )
            trial.overall_status = TrialStatus.UNKNOWN
        if (
            not trial.criteria_encoded_at
        ):  # not yet a coordinator's: follow the record's age and sex
            trial.criteria = _record_tree(fields)
        if not created:
            trial.version += 1
        trial.full_clean(exclude=["criteria"])
        trial.save()
        trial.sites.all().delete()
        TrialSite.objects.bulk_create(TrialSite(trial=trial, **site) for site in parsed["sites"])
        labels = [a["label"] for a in parsed["arms"]]
        for arm in parsed["arms"]:
            TrialArm.objects.update_or_create(trial=trial, label=arm["label"], defaults=arm)
        # Arms the record dropped go, unless a coordinator gave them criteria.
        trial.arms.exclude(label__in=labels).filter(criteria__isnull=True).delete()
        if not created:
            _mark_reachable(trial)
        # A new or changed text arrives with its suggested criteria (the weekly sync too).
        suggestions_refresh(trial=trial)
    if report is not None and not created:
        differ = [name for name, value in before.items() if getattr(trial, name) != value]
        if differ:
            report.changed.append((trial.nct_id, differ))
        if old_status in OPEN_STATUSES and not trial.is_open:
            report.closed.append(trial.nct_id)
    if not created and old_status != trial.overall_status and trial.criteria_encoded_at:
        _rematch_trial(trial.pk)
    return created


# --- The weekly catalogue sync ---------------------------------------------------------

# ClinicalTrials.gov API v2 search (https://clinicaltrials.gov/data-api/api): query.cond
# and query.locn take Essie expressions (OR between terms). Brain and other CNS tumours
# with a site in Norway or another Nordic country, whatever their status, so a trial that
# closed is seen closing.
SYNC_SEARCH = {
    "query.cond": "glioma OR glioblastoma OR astrocytoma OR oligodendroglioma OR meningioma "
    'OR medulloblastoma OR ependymoma OR "brain tumor" OR "central nervous system tumor"',
    "query.locn": "Norway OR Sweden OR Denmark OR Finland OR Iceland",
}


def catalogue_sync(*, page_size: int = 100) -> CatalogueSync:
    """Import new brain-tumour trials and update changed ones with the importer; then
    tell the coordinators (in the app: the latest sync on the trial list; by e-mail)
    what is new, what closed and what changed in their encoded trials."""
    sync = CatalogueSync.objects.create()
    encoded = set(
        Trial.objects.filter(criteria_encoded_at__isnull=False).values_list("nct_id", flat=True)
    )
    report = trials_import_api(params=SYNC_SEARCH, page_size=page_size, only=ctgov.is_brain_tumour)
    sync.added = report.added
    sync.changed = [[nct, names] for nct, names in report.changed if nct in encoded]
    sync.closed = report.closed
    sync.problems = report.problems
    arrived = [*report.added, *(nct for nct, _ in report.changed)]
    waiting = Suggestion.objects.filter(
        trial__nct_id__in=arrived, status=Suggestion.Status.PROPOSED
    )
    sync.suggestions_waiting = waiting.count()
    sync.suggestion_trials = waiting.values("trial").distinct().count()
    sync.finished_at = timezone.now()
    if sync.has_news:
        sync.emailed = _email_coordinators(sync)
    sync.save()
    return sync


def sync_lines(sync: CatalogueSync) -> list[str]:
    titles = dict(
        Trial.objects.filter(
            nct_id__in=[*sync.added, *sync.closed, *(c[0] for c in sync.changed)]
        ).values_list("nct_id", "brief_title")
    )
    lines = [f"New: {nct} {titles.get(nct, '')}".rstrip() for nct in sync.added]
    lines += [f"Closed: {nct} {titles.get(nct, '')}".rstrip() for nct in sync.closed]
    for nct, names in sync.changed:
        what = ", ".join(name.replace("_", " ") for name in names)
        lines.append(f"Changed (encoded): {nct} {titles.get(nct, '')}: {what}")
    lines += [f"Could not read: {problem}" for problem in sync.problems]
    if sync.suggestions_waiting:
        lines.append(
            f"Suggested criteria: {sync.suggestions_waiting} wait for confirmation in "
            f"{sync.suggestion_trials} new or changed trial"
            f"{'s' if sync.suggestion_trials != 1 else ''} (open each trial to accept, edit or "
            "reject them)."
        )
    return lines


def _email_coordinators(sync: CatalogueSync) -> int:
    recipients = list(
        User.objects.filter(role=Role.COORDINATOR, is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )
    if not recipients:
        return 0
    body = (
        f"The weekly ClinicalTrials.gov check of {sync.started_at:%d.%m.%Y} found:\n\n"
        + "\n".join(sync_lines(sync))
        + "\n\nSee the trial catalogue in the NBTC platform. Re-check the criteria of changed "
        "trials you encoded."
    )
    send_mail(
        f"Trial catalogue: {len(sync.added)} new, {len(sync.closed)} closed, "
        f"{len(sync.changed)} changed"
        + (
            f"; {sync.suggestions_waiting} suggested criteria to confirm"
            if sync.suggestions_waiting
            else ""
        ),
        body,
        None,
        recipients,
    )
    return len(recipients)


# --- Trials by hand, criteria, status -------------------------------------------------

TRIAL_FIELDS = [
    "nct_id",
    "brief_title",
    "official_title",
    "acronym",
    "overall_status",
    "phases",
    "conditions",
    "eligibility_text",
    "minimum_age",
    "maximum_age",
    "sex",
    "sponsor",
    "coordinator_notes",
    "cross_border_referral",
]


@transaction.atomic
def trial_create(*, by: User, **data) -> Trial:
    """A trial entered by hand (a Nordic academic trial not on ClinicalTrials.gov yet)."""
    _require_coordinator(by)
    unknown = set(data) - set(TRIAL_FIELDS)
    if unknown:
        raise ValidationError({sorted(unknown)[0]: "Not a trial field."})
    trial = Trial(source=Trial.Source.MANUAL, **data)
    if trial.nct_id and Trial.objects.filter(nct_id=trial.nct_id).exists():
        raise ValidationError(
            {"nct_id": f"{trial.nct_id} is already in the catalogue; edit it there."}
        )
    trial.criteria = _record_tree(
        {"minimum_age": trial.minimum_age, "maximum_age": trial.maximum_age, "sex": trial.sex}
    )
    trial.full_clean(exclude=["criteria"])
    with pghistory.context(user=by.pk):
        trial.save()
        suggestions_refresh(trial=trial)
    return trial


@transaction.atomic
def trial_update(*, trial: Trial, by: User, expected_version: int | None, **changes) -> Trial:
    """Status and notes (and, for hand-made trials, the rest). A status change re-matches."""
    _require_coordinator(by)
    current = Trial.objects.select_for_update().get(pk=trial.pk)
    _check_version(current, expected_version)
    allowed = (
        set(TRIAL_FIELDS)
        if current.source == Trial.Source.MANUAL
        else {"overall_status", "coordinator_notes", "cross_border_referral"}
    )
    for name, value in changes.items():
        if name not in allowed:
            raise ValidationError(
                {name: "Comes from ClinicalTrials.gov; a re-import would overwrite it."}
            )
        setattr(current, name, value)
    old_status = trial.overall_status
    current.version += 1
    current.full_clean(exclude=["criteria"])
    with pghistory.context(user=by.pk):
        current.save()
        _mark_reachable(current)
        if "eligibility_text" in changes:
            suggestions_refresh(trial=current)
    if old_status != current.overall_status and current.criteria_encoded_at:
        _rematch_trial(current.pk)
    return current


def _check_version(current, expected_version: int | None) -> None:
    if expected_version is not None and current.version != expected_version:
        raise EditConflict(
            f"{current} was changed by someone else since you opened it (version "
            f"{expected_version}, now {current.version}); your changes were not saved. Reload and "
            "edit again."
        )


@transaction.atomic
def trial_criteria_save(
    *,
    trial: Trial,
    by: User,
    tree: dict,
    arm_trees: dict | None = None,
    expected_version: int | None,
) -> Trial:
    """Encode the trial's criteria (and optionally per arm: {arm_id: tree or None}).
    Validated against the schema; the trial is matched from now on, after commit."""
    _require_coordinator(by)
    current = Trial.objects.select_for_update().get(pk=trial.pk)
    _check_version(current, expected_version)
    criteria.validate(tree)
    arms = {arm.pk: arm for arm in current.arms.all()}
    for arm_id, arm_tree in (arm_trees or {}).items():
        if arm_id not in arms:
            raise ValidationError({"arms": f"Arm {arm_id} is not an arm of this trial."})
        if arm_tree is not None:
            criteria.validate(arm_tree, field="arms")
            # An arm's patients meet the trial's criteria and the arm's together.
            problems = criteria.contradictions(tree["criteria"], arm_tree["criteria"])
            if problems:
                raise ValidationError({"arms": f"Arm {arms[arm_id].label}: " + " ".join(problems)})
    with pghistory.context(user=by.pk, reason="criteria encoded"):
        current.criteria = tree
        current.diagnoses = sorted(
            set(criteria.diagnoses(tree))
            | {d for t in (arm_trees or {}).values() if t for d in criteria.diagnoses(t)}
        )
        current.criteria_encoded_at = timezone.now()
        current.version += 1
        current.save()
        for arm_id, arm_tree in (arm_trees or {}).items():
            arms[arm_id].criteria = arm_tree
            arms[arm_id].save(update_fields=["criteria"])
        _recount_checks(current.pk, current.check_by_hand)
    _rematch_trial(current.pk)
    return current


# --- Review of matches ------------------------------------------------------------------


def _step_label(step: str) -> str:
    return Step(step).label.lower()


def check_step_move(current: str, wanted: str, *, close_reason: str = "", note: str = "") -> None:
    """Refuse a move the table (models.STEP_TRANSITIONS) does not allow, naming the
    current step, the wanted one and the allowed moves; a close needs a reason from the
    list, a reopening a note saying why."""
    if wanted not in Step.values:
        raise ValidationError(
            {"step": f"Unknown step {wanted!r}; steps: {', '.join(Step.values)}."}
        )
    if wanted not in STEP_TRANSITIONS[current]:
        allowed = ", ".join(_step_label(s) for s in STEP_TRANSITIONS[current]) or "none (final)"
        raise ValidationError(
            {
                "step": f"A match at {_step_label(current)} cannot move to {_step_label(wanted)}. "
                f"Allowed from {_step_label(current)}: {allowed}."
            }
        )
    if wanted == Step.CLOSED and close_reason not in CloseReason.values:
        raise ValidationError(
            {
                "close_reason": "A closed match needs a reason: "
                f"{', '.join(CloseReason.labels).lower()}."
            }
        )
    if wanted != Step.CLOSED and close_reason:
        raise ValidationError({"close_reason": "Only a closed match has a close reason."})
    if current == Step.CLOSED and not note.strip():
        raise ValidationError({"note": "Say why the match is reopened."})


def _stale(current: Match, expected_version: int | None) -> None:
    if expected_version is not None and current.version != expected_version:
        raise EditConflict(
            "This match was moved by someone else since you opened it (now "
            f"{current.get_step_display()}); your change was not saved. Reload and try again."
        )


@transaction.atomic
def match_move(
    *,
    match: Match,
    by: User,
    step: str,
    close_reason: str = "",
    note: str = "",
    expected_version: int | None = None,
) -> Match:
    """Move a match along the table, with who, when and a note (one event per step)."""
    _require_coordinator(by)
    current = Match.objects.select_for_update().get(pk=match.pk)
    _stale(current, expected_version)
    check_step_move(current.step, step, close_reason=close_reason, note=note)
    with pghistory.context(user=by.pk, reason=note):
        current.step, current.close_reason = step, close_reason
        current.needs_another_look = False  # moving it is the other look
        current.version += 1
        current.save(update_fields=["step", "close_reason", "needs_another_look", "version"])
        event = ReviewEvent.objects.create(
            match=current, step=step, close_reason=close_reason, note=note, by=by
        )
    if step == Step.CONTACTED:
        _ask_treating_clinicians([current], by=by, events={current.pk: event.pk})
    return current


def _ask_treating_clinicians(matches: list[Match], *, by: User, events: dict) -> None:
    """A contact request reaches the inbox of each treating clinician (the clinicians of
    the patient's institutions) with the change: they answer on the patient's page, in
    the candidate trials. Register numbers only; two queries for any number of matches."""
    loaded = {
        m.pk: m
        for m in Match.objects.filter(pk__in=[m.pk for m in matches]).select_related(
            "trial", "patient"
        )
    }
    links = PatientInstitution.objects.filter(
        patient_id__in={m.patient_id for m in loaded.values()}
    ).values_list("patient_id", "institution_id")
    by_patient: dict[int, set[int]] = {}
    for patient_id, institution_id in links:
        by_patient.setdefault(patient_id, set()).add(institution_id)
    clinicians = User.objects.filter(
        is_active=True,
        role=Role.CLINICIAN,
        institutions__in={i for ids in by_patient.values() for i in ids},
    ).prefetch_related("institutions")
    hospitals = {u.pk: {i.pk for i in u.institutions.all()} for u in clinicians}
    for match in loaded.values():
        treating = [
            u for u, own in hospitals.items() if own & by_patient.get(match.patient_id, set())
        ]
        inbox_deliver(
            recipients=treating,
            kind=InboxItem.Kind.CONTACT_REQUEST,
            text=f"{by.full_name or by.email} (trial coordinator) asks about "
            f"{match.patient.register_number} for {match.trial}: answer on the patient's page.",
            url=f"{match.patient.get_absolute_url()}#trials",
            key=f"trials.contact:{events[match.pk]}",
            patient_id=match.patient_id,
        )


@transaction.atomic
def matches_move(
    *,
    match_ids: list[int],
    by: User,
    step: str,
    close_reason: str = "",
    note: str = "",
    versions: dict | None = None,
) -> int:
    """The queue's bulk action: only matches the member may see are moved, and only if
    the table allows the move for every one of them (else nothing moves, and the error
    names the matches and their allowed moves). `versions` (match id -> the version the
    member loaded) refuses the whole move when one was moved meanwhile (409)."""
    _require_coordinator(by)
    matches = list(
        selectors.matches_visible_to(by)
        .filter(pk__in=match_ids)
        .select_related("patient")
        .select_for_update(of=("self",))
        .order_by("pk")
    )
    if not matches:
        raise ValidationError({"matches": "Select at least one match."})
    for current in matches:
        if versions and current.pk in versions:
            _stale(current, versions[current.pk])
    refused = []
    for current in matches:
        try:
            check_step_move(current.step, step, close_reason=close_reason, note=note)
        except ValidationError as error:
            if "step" not in error.message_dict:
                raise
            refused.append(current)
    if refused:
        by_step: dict = {}
        for current in refused:
            by_step.setdefault(current.step, []).append(current.patient.register_number)
        parts = [
            f"{', '.join(numbers)} at {_step_label(at)} (allowed: "
            f"{', '.join(_step_label(s) for s in STEP_TRANSITIONS[at]) or 'none, final'})"
            for at, numbers in by_step.items()
        ]
        raise ValidationError(
            {
                "step": f"Nothing moved: {len(refused)} of the selected matches cannot move to "
                f"{_step_label(step)}: {'; '.join(parts)}."
            }
        )
    ids = [m.pk for m in matches]
    with pghistory.context(user=by.pk, reason=note):
        Match.objects.filter(pk__in=ids).update(
            step=step, close_reason=close_reason, needs_another_look=False, version=F("version") + 1
        )
        now = timezone.now()
        events = ReviewEvent.objects.bulk_create(
            ReviewEvent(match_id=pk, step=step, close_reason=close_reason, note=note, by=by, at=now)
            for pk in ids
        )
    if step == Step.CONTACTED:
        _ask_treating_clinicians(matches, by=by, events={e.match_id: e.pk for e in events})
    return len(ids)


# --- Criteria checked by hand ------------------------------------------------------------


def _checks_state(items: list[str], marked: dict[str, str]) -> tuple[int, bool]:
    """(items not yet marked, any marked not met) of the trial's current items."""
    pending = sum(
        1
        for text in items
        if marked.get(text, ManualCheck.Status.UNCHECKED) == ManualCheck.Status.UNCHECKED
    )
    failed = any(marked.get(text) == ManualCheck.Status.NOT_MET for text in items)
    return pending, failed


@transaction.atomic
def match_check_mark(
    *,
    match: Match,
    by: User,
    text: str,
    status: str,
    note: str = "",
    expected_version: int | None = None,
) -> Match:
    """A coordinator marks one of the trial's items to check by hand as met, not met (or
    back to unchecked) for this patient. Only then (every item met, every encoded
    criterion met) is the match eligible; one not met makes it not eligible."""
    _require_coordinator(by)
    current = Match.objects.select_for_update().select_related("trial").get(pk=match.pk)
    _stale(current, expected_version)
    items = current.trial.check_by_hand
    if text not in items:
        raise ValidationError(
            {"text": f"{text!r} is not one of this trial's criteria to check by hand."}
        )
    if status not in ManualCheck.Status.values:
        raise ValidationError({"status": f"Choose one of: {', '.join(ManualCheck.Status.values)}."})
    if status == ManualCheck.Status.NOT_MET and not note.strip():
        raise ValidationError({"note": "Say what was found (the criterion is not met)."})
    with pghistory.context(user=by.pk, reason=note):
        ManualCheck.objects.update_or_create(
            match=current,
            text=text,
            defaults={"status": status, "note": note.strip(), "by": by, "at": timezone.now()},
        )
        marked = dict(current.manual_checks.values_list("text", "status"))
        current.checks_pending, current.checks_failed = _checks_state(items, marked)
        current.version += 1
        current.save(update_fields=["checks_pending", "checks_failed", "version"])
    current.refresh_from_db(fields=["eligibility"])
    return current


def _recount_checks(trial_id: int, items: list[str]) -> None:
    """After the trial's items changed: every match's open and failed items again, in one
    statement (marks of items no longer listed are kept, and no longer count)."""
    table, checks = Match._meta.db_table, ManualCheck._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE {table} m SET
                checks_pending = %s - (SELECT count(*) FROM {checks} c WHERE c.match_id = m.id
                    AND c.status <> 'unchecked' AND c.text = ANY(%s)),
                checks_failed = EXISTS(SELECT 1 FROM {checks} c WHERE c.match_id = m.id
                    AND c.status = 'not_met' AND c.text = ANY(%s))
            WHERE m.trial_id = %s""",  # noqa: S608 - table names from the models
            [len(items), items, items, trial_id],
        )


@transaction.atomic
@transaction.atomic
def match_reply(*, match: Match, by: User, answer: str, note: str = "") -> ReviewEvent:
    """The treating clinician answers a coordinator's contact request."""
    if by.role != Role.CLINICIAN or not selectors.clinician_sees_match(by, match):
        raise PermissionDenied("Only the patient's treating clinicians answer a contact request.")
    if match.step != Step.CONTACTED:
        raise ValidationError({"answer": "There is no open contact request for this match."})
    if answer not in ReviewEvent.Answer.values:
        raise ValidationError({"answer": f"Choose one of: {', '.join(ReviewEvent.Answer.labels)}."})
    reply = ReviewEvent.objects.create(
        match=match, kind=ReviewEvent.Kind.REPLY, answer=answer, note=note, by=by
    )
    # The answer reaches whoever asked (the coordinator who moved it to contacted).
    asked = (
        ReviewEvent.objects.filter(match=match, kind=ReviewEvent.Kind.STEP, step=Step.CONTACTED)
        .select_related("by")
        .order_by("-at", "-id")
        .first()
    )
    if asked is not None and asked.by is not None and asked.by.is_active:
        inbox_deliver(
            recipients=[asked.by],
            kind=InboxItem.Kind.CONTACT_ANSWER,
            text=f"{by.full_name or by.email} answered about {match.patient.register_number} "
            f"for {match.trial}: {reply.get_answer_display()}.",
            url=match.get_absolute_url(),
            key=f"trials.answer:{reply.pk}",
            patient_id=match.patient_id,
        )
    return reply


# --- Full re-match runs: heartbeat and requeue -------------------------------------------


def matching_run_all(*, run_id: int | None) -> dict:
    """The full re-match, recorded as a MatchingRun (a new one when run_id is None) that
    beats while it runs (consortium/heartbeat.py). Safe to redeliver: a finished run, or one
    another worker is on (fresh heartbeat), is left as it is; a lost one starts over, and
    the engine diffs, so redoing it writes the same matches. Returns the engine's counts."""
    with transaction.atomic():
        if run_id is None:
            run = MatchingRun.objects.create()
        else:
            run = MatchingRun.objects.select_for_update().get(pk=run_id)
        now = timezone.now()
        if run.status == MatchingRun.Status.DONE or (
            run.status == MatchingRun.Status.RUNNING
            and run.heartbeat_at
            and run.heartbeat_at > now - HEARTBEAT_STALE
        ):
            return run.result
        run.status, run.started_at, run.heartbeat_at, run.error = (
            MatchingRun.Status.RUNNING,
            now,
            now,
            "",
        )
        run.attempts += 1
        run.save(update_fields=["status", "started_at", "heartbeat_at", "error", "attempts"])
    claimed = MatchingRun.objects.filter(
        pk=run.pk, status=MatchingRun.Status.RUNNING, started_at=now
    )
    try:
        with heartbeat(claimed):
            result = engine.match_all()
    except Exception as error:  # noqa: BLE001 - recorded, then retried by the task
        claimed.update(
            status=MatchingRun.Status.FAILED, error=str(error)[:2000], finished_at=timezone.now()
        )
        raise
    counts = {
        "created": result.created,
        "updated": result.updated,
        "deactivated": result.deactivated,
    }
    claimed.update(status=MatchingRun.Status.DONE, result=counts, finished_at=timezone.now())
    return vars(result)


@transaction.atomic
def matching_runs_requeue_lost(*, now) -> list[int]:
    """Full re-matches left 'running' by a lost worker (no heartbeat for HEARTBEAT_STALE)
    are queued again; returns their ids. Run every minute (beat)."""
    from .tasks import rematch_all

    lost = list(
        MatchingRun.objects.select_for_update(skip_locked=True)
        .filter(status=MatchingRun.Status.RUNNING, heartbeat_at__lt=now - HEARTBEAT_STALE)
        .values_list("pk", flat=True)
    )
    for run_id in lost:
        MatchingRun.objects.filter(pk=run_id).update(
            status=MatchingRun.Status.QUEUED,
            error=f"The worker was lost at {timezone.localtime(now):%d.%m.%Y %H:%M}; "
            "the re-match was started again.",
        )
        outbox_enqueue(rematch_all, run_id)
    return lost


# --- Tumour-board referrals and the day-before candidates ------------------------------


@transaction.atomic
def referral_create(*, decision, by: User, trial: Trial, note: str = ""):
    """A tumour board's referral of the decision's patient to a trial. The clinician must
    be one who records the meeting's decisions, and the decision must name the trial
    referral among its plans; the same trial once per decision."""
    from registry import meeting_selectors
    from registry.models import MdtPlan

    from .models import TrialReferral

    item = decision.item
    if not meeting_selectors.can_work_agenda(by, item.meeting):
        raise PermissionDenied("Only the meeting's clinicians refer its patients to trials.")
    if MdtPlan.TRIAL not in decision.plan:
        raise ValidationError(
            {"decision": "The board's plan has no referral to a trial; change the decision first."}
        )
    if TrialReferral.objects.filter(decision=decision, trial=trial).exists():
        raise ValidationError({"trial": "The patient is already referred to this trial."})
    match = Match.objects.filter(episode_id=item.episode_id, trial=trial, active=True).first()
    referral = TrialReferral.objects.create(
        decision=decision,
        episode_id=item.episode_id,
        patient_id=item.patient_id,
        trial=trial,
        match=match,
        note=note.strip(),
        by=by,
    )
    from .tasks import notify_trial_referral

    outbox_enqueue(notify_trial_referral, referral.pk)
    return referral


def referral_notify(*, referral_id: int) -> int:
    """E-mail the coordinators of the patient's institutions (register number only)."""
    from .models import TrialReferral

    referral = (
        TrialReferral.objects.select_related("trial", "patient", "decision__item__meeting")
        .filter(pk=referral_id)
        .first()
    )
    if referral is None:
        return 0
    emails = sorted(
        User.objects.filter(
            is_active=True,
            role=Role.COORDINATOR,
            institutions__in=referral.patient.institutions.values("pk"),
        )
        .distinct()
        .values_list("email", flat=True)
    )
    if not emails:
        return 0
    meeting = referral.decision.item.meeting
    inbox_deliver(
        recipients=User.objects.filter(
            is_active=True,
            role=Role.COORDINATOR,
            institutions__in=referral.patient.institutions.values("pk"),
        ).values_list("pk", flat=True),
        kind=InboxItem.Kind.REFERRAL,
        text=f"The tumour board of {meeting.day:%d.%m.%Y} referred "
        f"{referral.patient.register_number} to {referral.trial}.",
        url=reverse("trials:referral_list"),
        key=f"trials.referral:{referral.pk}",
        patient_id=referral.patient_id,
    )
    send_mail(
        f"NBTC: tumour-board referral of {referral.patient.register_number} to {referral.trial}",
        f"The tumour board of {meeting.day:%d.%m.%Y} referred {referral.patient.register_number} "
        f"to {referral.trial}.\n\nOpen the referrals in the NBTC platform: /trials/referrals/",
        None,
        emails,
    )
    return len(emails)


@transaction.atomic
def referral_take_up(*, referral, by: User):
    from .models import TrialReferral

    _require_coordinator(by)
    current = TrialReferral.objects.select_for_update().get(pk=referral.pk)
    if current.status == TrialReferral.Status.TAKEN_UP:
        raise ValidationError({"status": "The referral is taken up already."})
    current.status = TrialReferral.Status.TAKEN_UP
    current.taken_up_by, current.taken_up_at = by, timezone.now()
    current.save(update_fields=["status", "taken_up_by", "taken_up_at"])
    return current


def mdt_candidates_meetings(*, day) -> list[int]:
    """Beat, the day before: the meetings starting on `day` (tomorrow)."""
    from registry import meeting_selectors

    return list(meeting_selectors.meetings_starting_on(day).values_list("pk", flat=True))


def mdt_candidates_send(*, meeting_id: int) -> int:
    """E-mail each trial coordinator of the meeting's hospital (and each coordinator taking
    part) the agenda's patients with their candidate trials, so trials are raised while the
    board still decides. Register numbers only. Once per meeting and coordinator."""
    from registry.models import MdtAgendaItem, MdtMeeting, MdtParticipant

    from .models import MdtCandidatesNotice

    meeting = MdtMeeting.objects.select_related("institution").get(pk=meeting_id)
    items = list(
        MdtAgendaItem.objects.filter(meeting=meeting)
        .select_related("patient", "episode")
        .order_by("position", "id")
    )
    candidates = selectors.episode_candidates([i.episode_id for i in items])
    coordinators = (
        User.objects.filter(is_active=True, role=Role.COORDINATOR)
        .filter(
            Q(institutions=meeting.institution)
            | Q(pk__in=MdtParticipant.objects.filter(meeting=meeting).values("member"))
        )
        .distinct()
    )
    lines = []
    for item in items:
        found = candidates.get(item.episode_id, [])
        lines.append(
            f"- {item.patient.register_number}: "
            f"{item.episode.get_diagnosis_display() or 'diagnosis missing'}"
            f" (question: {item.question[:200]})"
        )
        lines += [
            f"    {m.trial}{f' [{m.arm.label}]' if m.arm_id else ''}: {m.eligibility_display}"
            for m in found
        ] or ["    no candidate trial"]
    total = sum(len(candidates.get(i.episode_id, [])) for i in items)
    sent = 0
    for coordinator in coordinators:
        with transaction.atomic():
            notice, created = MdtCandidatesNotice.objects.select_for_update().get_or_create(
                meeting=meeting, coordinator=coordinator, defaults={"candidates": total}
            )
            if not created:
                continue
            inbox_deliver(
                recipients=[coordinator],
                kind=InboxItem.Kind.TUMOUR_BOARD,
                text=f"Tumour board {meeting.institution.code} {meeting.day:%d.%m.%Y}: "
                f"{total} candidate trial(s) for {len(items)} patient(s).",
                url=meeting.get_absolute_url(),
                key=f"trials.mdt_candidates:{notice.pk}",
            )
            # Inside the transaction: a failed mail rolls the notice (and the inbox item)
            # back and a retry sends it.
            send_mail(
                f"NBTC tumour board {meeting.institution.code} {meeting.day:%d.%m.%Y}: "
                f"{total} candidate trial(s) for {len(items)} patient(s)",
                "Tomorrow's tumour board discusses these patients; their candidate trials "
                "(raise them while the board decides):\n\n"
                + ("\n".join(lines) or "No patients on the agenda yet.")
                + f"\n\nThe meeting in the NBTC platform: {meeting.get_absolute_url()}",
                None,
                [coordinator.email],
            )
            sent += 1
    return sent


# --- Suggested criteria ------------------------------------------------------------------


def _suggestion_key(value: dict, polarity: str, arm_label: str | None) -> str:
    return reading.text_hash(f"{reading.canonical(value)}|{polarity}|{arm_label or ''}")


def suggestions_refresh(*, trial: Trial, force: bool = False) -> EligibilityReading:
    """Read the trial's eligibility text again if it changed since the last reading: the
    proposed suggestions of an older text are dropped (their spans may no longer point at
    their words) and the new text's are proposed, except what a coordinator already
    accepted, and what they rejected in this same text. Cheap when nothing changed (one
    query)."""
    text = trial.eligibility_text or ""
    digest = reading.text_hash(text)
    current = EligibilityReading.objects.filter(trial=trial).first()
    if current and current.text_hash == digest and not force:
        return current
    arms = {arm.label: arm for arm in trial.arms.all()}
    result = reading.read(text, kind_readers(), list(arms), gate=ANY_GATE)
    try:
        return _store_reading(trial, text, digest, result, arms, current, force)
    except IntegrityError:
        # Two first views of a new text read it at once: the other one stored it first
        # (its reading is the trial's one row), and ours rolled back whole.
        return EligibilityReading.objects.get(trial=trial)


def _store_reading(trial, text, digest, result, arms, current, force) -> EligibilityReading:
    with transaction.atomic():
        existing = list(
            Suggestion.objects.filter(trial=trial).values_list("pk", "key", "status", "text_hash")
        )
        proposed = Suggestion.Status.PROPOSED
        # A forced reading (a reader changed) proposes afresh; otherwise only an older
        # text's proposals go.
        stale = [
            pk
            for pk, _, status, hashed in existing
            if status == proposed and (force or hashed != digest)
        ]
        if stale:
            Suggestion.objects.filter(pk__in=stale).delete()
        blocked = {
            key
            for pk, key, status, hashed in existing
            if pk not in stale
            and (
                status in (Suggestion.Status.ACCEPTED, Suggestion.Status.EDITED) or hashed == digest
            )
        }
        new = []
        for f in result.findings:
            for label in f.arms or (None,):
                value = _leaf(f.value)
                key = _suggestion_key(value, f.polarity, label)
                if key in blocked or _already_encoded(trial, arms.get(label), value, f.polarity):
                    continue
                blocked.add(key)
                new.append(
                    Suggestion(
                        trial=trial,
                        arm=arms.get(label) if label else None,
                        kind=f.kind,
                        value=value,
                        polarity=f.polarity,
                        section=f.section,
                        start=f.start,
                        end=f.end,
                        text=text[f.start : f.end],
                        confidence=f.confidence,
                        note=f.note,
                        key=key,
                        text_hash=digest,
                    )
                )
        if new:
            Suggestion.objects.bulk_create(new)
        values = {
            "text_hash": digest,
            "status": result.status,
            "message": result.message[:300],
            "language": result.language or "",
            "read_at": timezone.now(),
        }
        if current is None:
            current = EligibilityReading.objects.create(trial=trial, **values)
        else:
            EligibilityReading.objects.filter(pk=current.pk).update(**values)
            for name, value in values.items():
                setattr(current, name, value)
    return current


def _already_encoded(trial: Trial, arm, leaf: dict, polarity: str) -> bool:
    """The criterion is already in the trial's (or the arm's) encoded criteria, at the top
    level: a coordinator who encoded it by hand is not asked again."""
    tree = (arm.criteria if arm is not None else trial.criteria) or {}
    node = leaf if polarity == Suggestion.Polarity.INCLUDE else {"not": leaf}
    top = (tree.get("criteria") or {}).get("all", [])
    return any(_leaf(n) == node if "type" in n else n == node for n in top)


def _locked_open_suggestion(suggestion: Suggestion, trial: Trial) -> Suggestion:
    current = Suggestion.objects.select_for_update().get(pk=suggestion.pk)
    if current.status != Suggestion.Status.PROPOSED:
        who = f" by {current.decided_by}" if current.decided_by_id else ""
        raise EditConflict(
            f"This suggestion was already {current.get_status_display().lower()}{who}; reload "
            "the trial."
        )
    if current.text_hash != reading.text_hash(trial.eligibility_text or ""):
        raise EditConflict(
            "The eligibility text changed since this suggestion was read; reload the trial to see "
            "the new suggestions."
        )
    return current


def _leaf(value: dict) -> dict:
    """A leaf without its empty bounds (null and absent mean the same to the schema)."""
    return {k: v for k, v in value.items() if v is not None}


def _with_node(tree: dict | None, node: dict) -> dict:
    """A copy of the tree with the node added to its top-level all-of (once)."""
    tree = json.loads(json.dumps(tree)) if tree else criteria.empty_tree()
    root = tree["criteria"]
    if "all" not in root:
        root = tree["criteria"] = {"all": [root]}
    if node not in root["all"]:
        root["all"].append(node)
    return tree


@transaction.atomic
def suggestion_accept(
    *,
    suggestion: Suggestion,
    by: User,
    expected_version: int | None,
    value: dict | None = None,
    polarity: str | None = None,
    arm: TrialArm | None | str = "as suggested",
) -> Suggestion:
    """Put the suggested criterion (or the coordinator's edit of it: another value,
    polarity or arm) into the trial's criteria, or the arm's, through the same save as
    any criteria edit: validated against the schema, a contradiction refused, a stale
    version refused (409), the trial re-matched after commit."""
    _require_coordinator(by)
    trial = Trial.objects.select_for_update().get(pk=suggestion.trial_id)
    _check_version(trial, expected_version)
    current = _locked_open_suggestion(suggestion, trial)
    leaf = dict(current.value)
    if value is not None:
        if not isinstance(value, dict):
            raise ValidationError({"value": "Give the criterion's fields as an object."})
        leaf = {"type": current.kind, **{k: v for k, v in value.items() if k != "type"}}
        if value.get("type", current.kind) != current.kind:
            raise ValidationError(
                {"value": f"The kind stays {current.kind}; reject and encode another by hand."}
            )
    leaf = _leaf(leaf)
    criteria.validate({"version": criteria.SCHEMA_VERSION, "criteria": leaf}, field="value")
    polarity = polarity or current.polarity
    if polarity not in Suggestion.Polarity.values:
        raise ValidationError({"polarity": "include or exclude."})
    target = current.arm if arm == "as suggested" else arm
    if target is not None and target.trial_id != trial.pk:
        raise ValidationError({"arm": f"Arm {target.pk} is not an arm of this trial."})
    node = leaf if polarity == Suggestion.Polarity.INCLUDE else {"not": leaf}
    if target is None:
        tree, arm_trees = _with_node(trial.criteria, node), None
    else:
        tree = trial.criteria or criteria.empty_tree()
        arm_trees = {target.pk: _with_node(target.criteria, node)}
    trial_criteria_save(
        trial=trial, by=by, tree=tree, arm_trees=arm_trees, expected_version=expected_version
    )
    edited = leaf != _leaf(current.value) or polarity != current.polarity or target != current.arm
    current.status = Suggestion.Status.EDITED if edited else Suggestion.Status.ACCEPTED
    current.accepted_value = leaf
    current.accepted_polarity = polarity
    current.accepted_arm = target
    current.decided_by = by
    current.decided_at = timezone.now()
    with pghistory.context(user=by.pk, reason=f"suggestion {current.status}"):
        current.save()
    return current


@transaction.atomic
def suggestion_reject(
    *, suggestion: Suggestion, by: User, expected_version: int | None
) -> Suggestion:
    """Not proposed again until the eligibility text changes."""
    _require_coordinator(by)
    trial = Trial.objects.select_for_update().get(pk=suggestion.trial_id)
    _check_version(trial, expected_version)
    current = _locked_open_suggestion(suggestion, trial)
    current.status = Suggestion.Status.REJECTED
    current.decided_by = by
    current.decided_at = timezone.now()
    with pghistory.context(user=by.pk, reason="suggestion rejected"):
        current.save()
    return current
