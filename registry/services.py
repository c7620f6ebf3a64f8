"""Writes to the register. Every write:
- checks that the member may edit the patient (clinicians of the patient's institutions);
- refuses an edit made against an older version (EditConflict names what changed);
- runs the entry rules (rules.py): errors raise ValidationError naming field and rule,
  warnings must be acknowledged and are then saved with the row;
- keeps who, when, what and why in django-pghistory's context (patient, reason, user);
- tells other apps in the same transaction (signals.register_changed), whose follow-up
  work runs after commit (consortium's outbox)."""

from dataclasses import dataclass
from datetime import date

import pghistory
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from django.utils.text import capfirst
from django.views.decorators.debug import sensitive_variables

from consortium.exceptions import EditConflict
from consortium.models import Institution, Role, User

from . import national_id, rules, selectors
from .exceptions import PatientAlreadyRegistered, UnacknowledgedWarnings
from .models import (
    CareRelationshipDeclaration,
    MarkerResult,
    MolecularMarker,
    Patient,
    PatientInstitution,
    Reopening,
    TumourEpisode,
    WorklistDigest,
)
from .rules import CARE_DECLARATION_REQUIRED, EPISODE_FIELDS, PATIENT_FIELDS
from .sections import SECTIONS, first_treatment, section_warnings
from .signals import register_changed


def _require_editor(by: User, patient: Patient) -> None:
    if not selectors.can_edit_patient(by, patient):
        raise PermissionDenied("Only clinicians of the patient's institutions edit the report.")


def _require_unlocked(episode: TumourEpisode) -> None:
    if episode.is_locked:
        raise ValidationError(
            {
                "status": "The report is submitted as complete and locked; a coordinator "
                "or admin must reopen it (with a reason) before it changes."
            }
        )


def _notify(patient_id: int, episode_id: int | None = None) -> None:
    """Inside the transaction, so what other apps record (outbox rows) commits with it."""
    register_changed.send(sender=Patient, patient_id=patient_id, episode_id=episode_id)


def _check_version(current, expected_version: int | None, fields: list[str], label: str) -> None:
    """Refuse a save made against an older version, saying which fields changed since."""
    if expected_version is None or current.version == expected_version:
        return
    loaded = (
        current.pgh_event_model.objects.filter(pgh_obj_id=current.pk, version=expected_version)
        .order_by("-pgh_id")
        .first()
    )
    latest = (
        current.pgh_event_model.objects.filter(pgh_obj_id=current.pk)
        .select_related("pgh_context")
        .order_by("-pgh_id")
        .first()
    )
    changed = [
        current._meta.get_field(f).verbose_name
        for f in fields
        if loaded is None or getattr(loaded, f) != getattr(current, f)
    ]
    who = ""
    if latest and latest.pgh_context and latest.pgh_context.metadata.get("user"):
        editor = User.objects.filter(pk=latest.pgh_context.metadata["user"]).first()
        who = f" by {editor}" if editor else ""
    when = timezone.localtime(latest.pgh_created_at).strftime("%d.%m.%Y %H:%M") if latest else ""
    raise EditConflict(
        f"{label} was saved{who} at {when} after you opened it; your changes were not saved. "
        f"Changed since you opened it: {', '.join(changed) or 'no visible fields'}. "
        "Reload to see the current values and edit again."
    )


def _acknowledge(warnings: list[rules.EntryWarning], acknowledge) -> list[str]:
    """Warnings do not block, but the member must have seen them: a save with warnings
    not yet acknowledged is refused once, listing them (`acknowledge_warnings`: True, or
    the codes acknowledged). The codes are saved with the row."""
    codes = [w.code for w in warnings]
    acknowledged = set(codes) if acknowledge is True else set(acknowledge or [])
    unacknowledged = [w for w in warnings if w.code not in acknowledged]
    if unacknowledged:
        raise UnacknowledgedWarnings(unacknowledged)
    return codes


def _save_versioned(row, *, warnings, acknowledge, by: User, patient: Patient, reason: str):
    """The end of every section save: warnings acknowledged (or refused), the version
    bumped, the row saved with who and why in its history, other apps told."""
    row.acknowledged_warnings = _acknowledge(warnings, acknowledge)
    if row.pk:
        row.version += 1
    with _history(by, patient, reason):
        row.save()
    _notify(patient.pk, row.pk if isinstance(row, TumourEpisode) else row.episode_id)
    return row


def _history(by: User, patient: Patient, reason: str):
    return pghistory.context(user=by.pk, patient=patient.pk, reason=reason or "")


def _recorded_dates(patient: Patient) -> list[tuple[str, date]]:
    recorded = []
    for episode in patient.episodes.prefetch_related(
        "surgeries", "radiotherapy", "systemic_therapies", "follow_ups", "performance"
    ):
        recorded += [
            ("date of diagnosis", episode.diagnosis_date),
            ("referral date", episode.referral_date),
        ]
        recorded += [("surgery", s.surgery_date) for s in episode.surgeries.all()]
        recorded += [("radiotherapy start", r.start_date) for r in episode.radiotherapy.all()]
        recorded += [("radiotherapy end", r.end_date) for r in episode.radiotherapy.all()]
        recorded += [
            ("systemic therapy start", s.start_date) for s in episode.systemic_therapies.all()
        ]
        recorded += [("follow-up", f.assessed_on) for f in episode.follow_ups.all()]
        recorded += [("performance status", p.assessed_on) for p in episode.performance.all()]
    return recorded


# --- Patients ------------------------------------------------------------------------


def _declare_care(
    *, patient: Patient, by: User, institutions: list[Institution], care_reason: str
) -> Patient:
    """Link the declaring clinician's institutions to a patient already in the register
    and record the declaration (who, which institution, why, when); its details are not
    changed. Already linked institutions get no new declaration."""
    linked = set(patient.institutions.values_list("pk", flat=True))
    new = [i for i in institutions if i.pk not in linked]
    patient.declared_care = bool(new)
    if not new:
        return patient
    with _history(by, patient, f"Care relationship declared: {care_reason}"):
        PatientInstitution.objects.bulk_create(
            PatientInstitution(patient=patient, institution=i) for i in new
        )
        CareRelationshipDeclaration.objects.bulk_create(
            CareRelationshipDeclaration(
                patient=patient, institution=i, member=by, reason=care_reason[:500]
            )
            for i in new
        )
    transaction.on_commit(selectors.forget_patient_counts)
    _notify(patient.pk)
    return patient


@sensitive_variables("national_id_value", "parsed", "fields")
@transaction.atomic
def patient_register(
    *,
    by: User,
    national_id_value: str,
    institutions: list[Institution],
    allow_synthetic: bool,
    reason: str = "",
    care_reason: str = "",
    **fields,
) -> Patient:
    """Register a patient. The birth date and sex are taken from the national ID when the
    form leaves them empty and the number tells them.

    A national ID already in the register (at another hospital) is not refused, which
    would tell anyone that the person has a brain tumour: with the clinician's declared
    care relationship (`care_reason`) their institutions are linked to the existing
    record (see _declare_care); the returned patient then has `declared_care` set."""
    if by.role != Role.CLINICIAN:
        raise PermissionDenied("Only clinicians register patients.")
    errors = rules.Errors()
    try:
        parsed = national_id.parse(national_id_value, allow_synthetic=allow_synthetic)
    except ValidationError as exc:
        errors.add("national_id", f"Invalid national ID: {' '.join(exc.messages)}")
        parsed = None
    own = set(by.institutions.values_list("pk", flat=True))
    if not any(i.pk in own for i in institutions):
        errors.add(
            "institutions",
            "Include at least one of your own institutions, or you could not "
            "see the patient you register.",
        )
    existing = (
        Patient.objects.select_for_update().filter(national_id=parsed.number).first()
        if parsed
        else None
    )
    if existing is not None and selectors.can_view_patient(by, existing):
        # Already a patient of the clinician's own institutions: they see the record
        # anyway (a national-ID search finds it), so saying so tells nothing new; a second
        # registration would be a duplicate, so the answer links to the record there is.
        raise PatientAlreadyRegistered(existing)
    if existing is not None:
        # Whether the number is in the register is told only to a clinician who declares
        # that they treat the patient; before that every answer is the same as for a new
        # number (the forms and the API require the declaration on every registration).
        if not care_reason.strip():
            errors.add("care_reason", CARE_DECLARATION_REQUIRED)
        errors.raise_any()
        return _declare_care(
            patient=existing,
            by=by,
            institutions=[i for i in institutions if i.pk in own],
            care_reason=care_reason.strip(),
        )
    if parsed and not fields.get("birth_date"):
        if parsed.birth_date:
            fields["birth_date"] = parsed.birth_date
        else:
            errors.add("birth_date", "This national ID does not tell the birth date; enter it.")
    if parsed and not fields.get("sex"):
        fields["sex"] = parsed.sex or Patient.Sex.UNKNOWN
    errors.raise_any()
    patient = Patient(
        national_id=parsed.number,
        identifier_kind=parsed.kind,
        synthetic_id=parsed.synthetic,
        **fields,
    )
    patient.search_name = selectors.normalise_name(patient.full_name)
    patient.full_clean(exclude=["national_id"])
    rules.check_patient(patient, recorded_dates=[])
    with _history(by, patient, reason):
        patient.save()
        with pghistory.context(patient=patient.pk):
            PatientInstitution.objects.bulk_create(
                PatientInstitution(patient=patient, institution=i) for i in institutions
            )
    transaction.on_commit(selectors.forget_patient_counts)
    _notify(patient.pk)
    patient.declared_care = False
    return patient


@dataclass(frozen=True)
class HNumberReplacement:
    """What replacing an H-number did: `patient` has the national ID now, or `duplicate` is
    the record that already has it (which the clinician's institutions now reach: on their
    declared care relationship, as a registration with a registered number does)."""

    patient: Patient
    duplicate: Patient | None = None
    linked: bool = False  # the duplicate was linked to the clinician's institutions just now


def duplicate_message(duplicate: Patient, *, linked: bool) -> str:
    where = (
        "Your institution is now linked to that record on your declared care relationship."
        if linked
        else "That record is at your institution."
    )
    return (
        f"This national ID is already in the register, as patient {duplicate.register_number}. "
        f"{where} This record keeps its H-number: carry its reports over to "
        f"{duplicate.register_number}."
    )


@sensitive_variables("national_id_value", "parsed")
@transaction.atomic
def patient_replace_h_number(
    *,
    patient: Patient,
    by: User,
    national_id_value: str,
    care_reason: str,
    expected_version: int | None,
    allow_synthetic: bool,
    reason: str = "",
) -> HNumberReplacement:
    """Replace a patient's temporary H-number with the person's national ID or D-number.
    The old number stays in the record's history (django-pghistory). A number already in
    the register is another record of the same person: like a registration, the answer is
    the same whether that record is at the clinician's hospital or elsewhere only after the
    declared care relationship (`care_reason`, required every time), so nothing about other
    hospitals' patients shows before a declaration (Normen's need-in-the-service rule,
    https://www.ehelse.no/normen/faktaark/faktaark-14-tilgangsstyring); the record is then
    linked and named, and this one is left unchanged."""
    _require_editor(by, patient)
    current = Patient.objects.select_for_update().get(pk=patient.pk)
    _check_version(current, expected_version, ["national_id"], "The patient's details")
    errors = rules.Errors()
    if current.identifier_kind != national_id.IdentifierKind.H_NUMBER:
        raise ValidationError(
            {"national_id": "This record has no H-number to replace: its number is permanent."}
        )
    parsed = None
    try:
        parsed = national_id.parse(national_id_value, allow_synthetic=allow_synthetic)
    except ValidationError as exc:
        errors.add("national_id", f"Invalid national ID: {' '.join(exc.messages)}")
    if parsed and parsed.is_h_number:
        errors.add(
            "national_id",
            "This is an H-number too (month + 40): enter the person's national ID "
            "(fødselsnummer) or D-number.",
        )
        parsed = None
    if parsed and parsed.birth_date and parsed.birth_date != current.birth_date:
        errors.add(
            "national_id",
            f"The national ID gives the birth date {parsed.birth_date:%d.%m.%Y}, the record "
            f"has {current.birth_date:%d.%m.%Y}: check the number, or correct the birth date "
            "first.",
        )
    if not care_reason.strip():
        errors.add("care_reason", CARE_DECLARATION_REQUIRED)
    errors.raise_any()
    duplicate = (
        Patient.objects.select_for_update()
        .filter(national_id=parsed.number)
        .exclude(pk=current.pk)
        .first()
    )
    if duplicate is not None:
        own = set(selectors.user_institution_ids(by))
        linked_before = set(duplicate.institutions.values_list("pk", flat=True))
        mine = [i for i in current.institutions.all() if i.pk in own]
        _declare_care(patient=duplicate, by=by, institutions=mine, care_reason=care_reason.strip())
        return HNumberReplacement(
            patient=current, duplicate=duplicate, linked=not (linked_before & own)
        )
    current.national_id = parsed.number
    current.identifier_kind = parsed.kind
    current.synthetic_id = parsed.synthetic
    if current.sex == Patient.Sex.UNKNOWN and parsed.sex:
        current.sex = parsed.sex
    current.version += 1
    with _history(by, current, reason.strip() or "H-number replaced by the national ID"):
        current.save()
    _notify(current.pk)
    return HNumberReplacement(patient=current)


@transaction.atomic
def patient_update(
    *,
    patient: Patient,
    by: User,
    expected_version: int | None,
    reason: str = "",
    institutions: list[Institution] | None = None,
    **changes,
) -> Patient:
    _require_editor(by, patient)
    current = Patient.objects.select_for_update().get(pk=patient.pk)
    _check_version(current, expected_version, PATIENT_FIELDS, "The patient's details")
    for field, value in changes.items():
        if field not in PATIENT_FIELDS:
            raise ValidationError({field: "This field cannot be changed here."})
        setattr(current, field, value)
    current.search_name = selectors.normalise_name(current.full_name)
    current.full_clean(exclude=["national_id"])
    rules.check_patient(current, recorded_dates=_recorded_dates(current))
    current.version += 1
    with _history(by, current, reason):
        current.save()
        if institutions is not None:
            own = set(by.institutions.values_list("pk", flat=True))
            if not any(i.pk in own for i in institutions):
                raise ValidationError(
                    {"institutions": "Keep at least one of your own institutions."}
                )
            PatientInstitution.objects.filter(patient=current).exclude(
                institution__in=institutions
            ).delete()
            existing = set(current.institutions.values_list("pk", flat=True))
            PatientInstitution.objects.bulk_create(
                PatientInstitution(patient=current, institution=i)
                for i in institutions
                if i.pk not in existing
            )
            transaction.on_commit(selectors.forget_patient_counts)
    _notify(current.pk)
    return current


# --- Episodes and markers ------------------------------------------------------------


def _markers(episode: TumourEpisode) -> dict[str, str]:
    return dict(episode.markers.values_list("marker", "result")) if episode.pk else {}


@transaction.atomic
def episode_save(
    *,
    patient: Patient,
    by: User,
    episode: TumourEpisode | None = None,
    expected_version: int | None = None,
    reason: str = "",
    acknowledge=None,
    **fields,
) -> TumourEpisode:
    """Create or update a tumour episode's diagnosis section."""
    _require_editor(by, patient)
    if episode is None:
        current = TumourEpisode(
            patient=patient, institution=selectors.reporting_institution(by, patient)
        )
    else:
        current = TumourEpisode.objects.select_for_update().get(pk=episode.pk, patient=patient)
        _require_unlocked(current)
        _check_version(current, expected_version, EPISODE_FIELDS, "The diagnosis")
    for field, value in fields.items():
        if field not in EPISODE_FIELDS:
            raise ValidationError({field: "This field cannot be changed here."})
        setattr(current, field, value)
    current.mdt_dates = sorted(set(current.mdt_dates or []))
    tumour_type = current.tumour_type
    current.morphology = tumour_type.morphology(current.who_grade) if tumour_type else ""
    current.full_clean(exclude=["patient", "institution", "completed_by"])
    first = first_treatment(current) if current.pk else None
    warnings = rules.check_episode(
        current,
        patient,
        _markers(current),
        first_treatment_date=first[1] if first else None,
        first_treatment_kind=first[0] if first else None,
    )
    return _save_versioned(
        current, warnings=warnings, acknowledge=acknowledge, by=by, patient=patient, reason=reason
    )


@transaction.atomic
def markers_save(
    *,
    episode: TumourEpisode,
    by: User,
    results: dict[str, tuple[str, str]],
    expected_version: int | None,
    reason: str = "",
    acknowledge=None,
) -> TumourEpisode:
    """Save the episode's molecular markers: {marker: (result, method)}. A marker left
    without a result is removed (not recorded); "not tested" is a recorded answer."""
    patient = episode.patient
    _require_editor(by, patient)
    current = TumourEpisode.objects.select_for_update().get(pk=episode.pk)
    _require_unlocked(current)
    if expected_version is not None and current.markers_version != expected_version:
        raise EditConflict(
            "The molecular markers were saved by someone else after you opened them; your "
            "changes were not saved. Reload to see the current results and edit again."
        )
    errors = rules.Errors()
    for marker, (result, method) in results.items():
        if result and result not in MarkerResult.values:
            errors.add(marker, f"Result must be one of: {', '.join(MarkerResult.values)}.")
        if method and not result:
            errors.add(marker, "A method is given without a result.")
    errors.raise_any()
    new = {m: r for m, (r, _) in results.items() if r}
    warnings = rules.check_markers(current, new)
    current.acknowledged_warnings = sorted(
        set(current.acknowledged_warnings) | set(_acknowledge(warnings, acknowledge))
    )
    current.markers_version += 1
    with _history(by, patient, reason):
        stored = {m.marker: m for m in current.markers.all()}
        for marker, (result, method) in results.items():
            row = stored.get(marker)
            if not result:
                if row:
                    row.delete()
            elif row is None:
                MolecularMarker.objects.create(
                    episode=current, marker=marker, result=result, method=method
                )
            elif (row.result, row.method) != (result, method):
                row.result, row.method = result, method
                row.save()
        current.save()
    _notify(patient.pk, current.pk)
    return current


# --- Treatment and course sections ---------------------------------------------------


@transaction.atomic
def section_save(
    *,
    section: str,
    episode: TumourEpisode,
    by: User,
    row=None,
    expected_version: int | None = None,
    reason: str = "",
    acknowledge=None,
    **fields,
):
    """Create or update one row of a repeating section (registry/sections.py: surgery,
    radiotherapy course, systemic therapy, performance status, follow-up), by its key."""
    model = SECTIONS[section].model
    patient = episode.patient
    _require_editor(by, patient)
    episode = TumourEpisode.objects.select_for_update().get(pk=episode.pk)
    _require_unlocked(episode)
    if row is None:
        current = model(episode=episode)
    else:
        current = model.objects.select_for_update().get(pk=row.pk, episode=episode)
    editable = [
        f.name
        for f in model._meta.concrete_fields
        if f.name not in ("id", "episode", "version", "acknowledged_warnings")
    ]
    if row is not None:
        _check_version(current, expected_version, editable, capfirst(model._meta.verbose_name))
    for field, value in fields.items():
        if field not in editable:
            raise ValidationError({field: "This field cannot be changed here."})
        setattr(current, field, value)
    current.full_clean(exclude=["episode"])
    warnings = section_warnings(SECTIONS[section], current, episode, patient)
    return _save_versioned(
        current, warnings=warnings, acknowledge=acknowledge, by=by, patient=patient, reason=reason
    )


@transaction.atomic
def section_delete(*, section: str, episode: TumourEpisode, row, by: User, reason: str) -> None:
    """Remove a row entered in error; the history keeps it, with the reason."""
    _require_editor(by, episode.patient)
    episode = TumourEpisode.objects.select_for_update().get(pk=episode.pk)
    _require_unlocked(episode)
    if not reason.strip():
        raise ValidationError({"reason": "Say why the entry is removed."})
    with _history(by, episode.patient, reason):
        SECTIONS[section].model.objects.filter(pk=row.pk, episode=episode).delete()
    _notify(episode.patient_id, episode.pk)


# --- Submit and reopen -----------------------------------------------------------------


@transaction.atomic
def episode_submit(*, episode: TumourEpisode, by: User) -> TumourEpisode:
    """Submit the report as complete: only when nothing is missing; then it is locked."""
    _require_editor(by, episode.patient)
    current = selectors.episode_for_page(episode.pk)
    _require_unlocked(current)
    missing = selectors.submit_blockers(current)
    if missing:
        raise ValidationError(
            {
                "status": [
                    "The report is not complete. Missing: "
                    f"{'; '.join(m.rstrip('.') for m in missing)}."
                ]
            }
        )
    TumourEpisode.objects.select_for_update().get(pk=current.pk)
    current.status = TumourEpisode.Status.COMPLETE
    current.completed_at = timezone.now()
    current.completed_by = by
    current.version += 1
    with _history(by, current.patient, "Submitted as complete"):
        current.save(
            update_fields=["status", "completed_at", "completed_by", "version", "updated_at"]
        )
    _notify(current.patient_id, current.pk)
    return current


@transaction.atomic
def episode_reopen(*, episode: TumourEpisode, by: User, reason: str) -> TumourEpisode:
    if not by.reopens_reports:
        raise PermissionDenied("Only a coordinator or an admin reopens a complete report.")
    if not selectors.can_view_patient(by, episode.patient):
        raise PermissionDenied("You cannot see this patient.")
    if not reason.strip():
        raise ValidationError({"reason": "Say why the report is reopened."})
    current = TumourEpisode.objects.select_for_update().get(pk=episode.pk)
    if not current.is_locked:
        raise ValidationError(
            {"status": "The report is not complete, so there is nothing to reopen."}
        )
    current.status = TumourEpisode.Status.DRAFT
    current.completed_at = None
    current.completed_by = None
    current.version += 1
    with _history(by, current.patient, f"Reopened: {reason}"):
        current.save(
            update_fields=["status", "completed_at", "completed_by", "version", "updated_at"]
        )
        Reopening.objects.create(episode=current, by=by, reason=reason)
    _notify(current.patient_id, current.pk)
    return current


# --- Worklist digest -------------------------------------------------------------------


def worklist_digest_send(*, user_id: int, day: date | None = None) -> int:
    """E-mail one clinician the digest of the incomplete reports at their institutions,
    once per day: a retried or repeated task finds the day's row and sends nothing.
    Returns how many items it listed (0: nothing sent). Register numbers only, never
    names or national IDs: the mail leaves the platform."""
    day = day or timezone.localdate()
    user = User.objects.get(pk=user_id)
    with transaction.atomic():
        digest, created = WorklistDigest.objects.select_for_update().get_or_create(
            user=user, day=day
        )
        if not created:
            return 0
        items = selectors.open_items_for(user)
        digest.items = len(items)
        digest.save(update_fields=["items"])
        if not items:
            return 0
        lines = [
            f"- {e.patient.register_number} ({e.institution.code}), diagnosed "
            f"{e.diagnosis_date.strftime('%d.%m.%Y') if e.diagnosis_date else '(date missing)'}: "
            f"missing {'; '.join(missing) or 'nothing, ready to submit'}"
            for e, missing in items[:50]
        ]
        more = f"\n... and {len(items) - 50} more on the worklist." if len(items) > 50 else ""
        # Sent inside the transaction: if the mail fails, the day's row is rolled back
        # and a retry sends it.
        send_mail(
            f"NBTC register: {len(items)} incomplete report(s) at your institutions",
            "These reports still lack items for a complete report (oldest first):\n\n"
            + "\n".join(lines)
            + more
            + "\n\nOpen the worklist in the NBTC platform to complete them.",
            None,
            [user.email],
        )
    return len(items)


def worklist_digest_recipients() -> list[int]:
    """Active clinicians: each gets one digest a night."""
    return list(
        User.objects.filter(is_active=True, role=Role.CLINICIAN).values_list("pk", flat=True)
    )
