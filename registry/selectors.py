"""Reads of the register, always through who may see what:
- clinicians and coordinators see the patients of their own institutions;
- consortium admins see every patient (to reopen reports and list access histories),
  with the national ID masked;
- everyone else (researchers, lab scientists) sees no patient records here.
Anything a member may not see answers 404, so ids reveal nothing."""

import functools
import json
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.postgres.expressions import ArraySubquery
from django.contrib.postgres.fields import ArrayField
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import DEFAULT_DB_ALIAS, connection, models
from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.functional import cached_property

from consortium import formats, prepared
from consortium.history import events_in_words
from consortium.models import Institution, Role, User
from consortium.pagination import first_page, order_of
from consortium.prepared import PreparedQuery

from . import panels, rules, vocabulary
from .history import events_of
from .models import (
    CareRelationshipDeclaration,
    MolecularMarker,
    Patient,
    PatientHistoryEntry,
    PatientInstitution,
    Reopening,
    TumourEpisode,
)
from .national_id import IdentifierKind
from .sections import SECTIONS, section_warnings

CLINICAL_ROLES = {Role.CLINICIAN, Role.COORDINATOR}
# Undated reports lack the most, so worklists show them first.
UNDATED_FIRST = F("diagnosis_date").asc(nulls_first=True)


def normalise_name(name: str) -> str:
    """Lower case without accents, so 'Ødegård' is found by 'odegard' and 'ødegård'."""
    folded = unicodedata.normalize("NFKD", name.casefold().replace("ø", "o").replace("æ", "ae"))
    return " ".join("".join(c for c in folded if not unicodedata.combining(c)).split())


_INSTITUTIONS_OF = PreparedQuery(
    lambda member: (
        Institution.objects.filter(members=member)
        .order_by("name", "pk")
        .values_list("pk", "code", "name")
    ),
    member=-1,
)


def _user_institutions(user: User) -> dict[int, tuple[str, str]]:
    """The member's institutions by name, id -> (code, name); one query per request."""
    if not hasattr(user, "_institutions"):
        user._institutions = {
            pk: (code, name) for pk, code, name in _INSTITUTIONS_OF(member=user.pk)
        }
    return user._institutions


def user_institution_ids(user: User) -> list[int]:
    return list(_user_institutions(user))


def user_institution_choices(user: User) -> list[tuple[str, str]]:
    """(code, "Name (CODE)") of the member's institutions by name, as a select of them by
    code shows them (Institution.__str__), without reading them again."""
    return [(code, f"{name} ({code})") for code, name in _user_institutions(user).values()]


def patient_institution_codes(patient: Patient) -> list[str]:
    """From the list's annotation when there, else from the prefetched institutions."""
    codes = getattr(patient, "institution_codes", None)
    return codes if codes is not None else [i.code for i in patient.institutions.all()]


def patients_visible_to(user: User) -> QuerySet[Patient]:
    if not user.is_authenticated or not user.sees_register:
        return Patient.objects.none()
    if user.is_consortium_admin:
        return Patient.objects.all()
    return _at_institutions(Patient.objects.all(), user_institution_ids(user))


def _at_institutions(patients: QuerySet[Patient], institution_ids: list[int]) -> QuerySet[Patient]:
    """The patients at any of these institutions: the rule of who sees whom, for a member
    who is not an admin."""
    return patients.filter(
        Exists(
            PatientInstitution.objects.filter(
                patient=OuterRef("pk"), institution_id__any_of=institution_ids
            )
        )
    )


COUNT_VERSION_KEY = "registry:patient-count-version"


def visible_patient_count(user: User) -> int:
    """How many patients the member may see, for the unfiltered list's pager. A COUNT
    over tens of thousands of rows is the list's dearest query, so it is cached for a
    minute, and dropped whenever a patient is registered or changes institutions."""
    scope = (
        "all"
        if user.is_consortium_admin
        else ",".join(map(str, sorted(user_institution_ids(user))))
    )
    key = f"registry:patient-count:{user.role}:{scope}"
    # One round trip for both: the count is kept with the version it was counted under.
    found = cache.get_many([COUNT_VERSION_KEY, key])
    version = found.get(COUNT_VERSION_KEY)
    if version is None:  # not set yet (or evicted): start one, or read the one just started
        version = (
            1 if cache.add(COUNT_VERSION_KEY, 1, timeout=None) else cache.get(COUNT_VERSION_KEY, 1)
        )
    kept = found.get(key)
    if kept is not None and kept[0] == version:
        return kept[1]
    count = patients_visible_to(user).count()
    cache.set(key, (version, count), timeout=60)
    return count


def forget_patient_counts() -> None:
    try:
        cache.incr(COUNT_VERSION_KEY)
    except ValueError:  # not set yet (or evicted): the next count starts a version
        cache.set(COUNT_VERSION_KEY, 2, timeout=None)


class KnownCountPaginator(Paginator):
    """A Paginator told its total (say, from visible_patient_count) instead of counting."""

    def __init__(self, object_list, per_page, *, count: int | None = None, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.known_count = count

    @cached_property
    def count(self) -> int:
        return self.known_count if self.known_count is not None else super().count


SEARCH_COUNT_CAP = 200


def capped_matches(patients: QuerySet[Patient]) -> QuerySet:
    """The ids of a search's first SEARCH_COUNT_CAP + 1 matches, to count: past a couple of
    hundred a clinician narrows the search rather than pages on, and counting every 'Hansen'
    costs ten times the page itself. Only the ids: the page's columns (the institutions'
    codes, the latest diagnosis) are subqueries per row, not needed here. Unordered: in the
    model's order PostgreSQL walks the whole name index to find the first 201 'Hansen's."""
    return patients.order_by().values_list("pk", flat=True)[: SEARCH_COUNT_CAP + 1]


def search_count(patients: QuerySet[Patient]) -> int:
    """Matches of a search, counted up to SEARCH_COUNT_CAP + 1 (capped_matches)."""
    return capped_matches(patients).count()


def patient_list_count(user: User, patients: QuerySet[Patient], *, narrowed: bool) -> int:
    """The list's count: the cached count of every visible patient when nothing narrows it,
    else the matches counted up to SEARCH_COUNT_CAP + 1."""
    return search_count(patients) if narrowed else visible_patient_count(user)


def with_diagnosis(patients: QuerySet[Patient]) -> QuerySet[Patient]:
    """The diagnosis (and CNS WHO grade) of the patient's latest tumour episode as columns
    of the row, for the list's diagnosis column: one query for the page."""
    latest = TumourEpisode.objects.filter(patient=OuterRef("pk")).order_by(
        F("diagnosis_date").desc(nulls_last=True), "-id"
    )
    return patients.annotate(
        latest_diagnosis=Subquery(latest.values("diagnosis")[:1]),
        latest_grade=Subquery(latest.values("who_grade")[:1]),
    )


def diagnosis_in_words(patient: Patient) -> str:
    tumour = vocabulary.TUMOUR_TYPES.get(getattr(patient, "latest_diagnosis", None) or "")
    if tumour is None:
        return ""
    grade = getattr(patient, "latest_grade", None)
    return f"{tumour.label}, CNS WHO grade {grade}" if grade else tumour.label


def can_view_patient(user: User, patient: Patient) -> bool:
    return patients_visible_to(user).filter(pk=patient.pk).exists()


def can_edit_patient(user: User, patient: Patient) -> bool:
    return user.registers_patients and can_view_patient(user, patient)


def shows_national_id(user: User, patient: Patient) -> bool:
    """The national ID is shown in full only to the treating clinicians: clinicians at the
    patient's institutions (a care relationship, Normen Faktaark 14; docs/registry-rules.md
    §5), so not the trial coordinators, who work by register number. It is masked for everyone else
    who may see the patient."""
    return user.role == Role.CLINICIAN and at_own_institution(user, patient)


def at_own_institution(user: User, patient: Patient) -> bool:
    """Whether the patient is at one of the member's institutions, from the patient row's
    institution codes (patient_get's) and the member's (once per request): no query."""
    own = {code for code, _ in _user_institutions(user).values()}
    return any(code in own for code in patient_institution_codes(patient))


def shows_names(user: User) -> bool:
    """Trial coordinators work by register number: they see the register facts
    of their institutions' patients, never the name; nor can they search by name or
    national ID, which would tell them who is a patient."""
    return user.role != Role.COORDINATOR


IDENTITY_FIELDS = {"full_name", "national_id"}


def identity_search_refused(user: User, query: str) -> str:
    """The message when this member may not search this way, else ""."""
    query = query.strip()
    if query and looks_like_national_id(query) and user.role != Role.CLINICIAN:
        # Admins see every patient with the national ID masked: a search by the full number
        # would confirm it (and that the person has a brain tumour) all the same.
        return (
            "Only the treating clinicians search by national ID; search by register "
            "number (NB-…) or name."
            if shows_names(user)
            else "Trial coordinators search by register number (NB-…); names and national "
            "IDs stay with the treating clinicians."
        )
    if not query or shows_names(user) or REGISTER_NUMBER_QUERY.match(query.upper()):
        return ""
    return (
        "Trial coordinators search by register number (NB-…); names and national IDs stay with the "
        "treating clinicians."
    )


def reporting_institution(user: User, patient: Patient) -> Institution:
    """The episode's reporting hospital: the member's first institution treating the patient."""
    own = set(user_institution_ids(user))
    return next(i for i in patient.institutions.all() if i.pk in own)


NATIONAL_ID_PATTERN = re.compile(r"^\d{6}\s?\d{5}$")
REGISTER_NUMBER_QUERY = re.compile(r"^NB-?[0-9A-Z]{4}(-?[0-9A-Z]{1,4})?$")


def looks_like_national_id(query: str) -> bool:
    return bool(NATIONAL_ID_PATTERN.match(query.strip()))


class VisiblePatients:
    """A prepared read of the patients a member may see (patients_visible_to's rule, once):
    `build(patients, **values)` narrows a queryset of patients; it is prepared twice, over
    every patient for admins and over _at_institutions for everyone else."""

    def __init__(self, build, **markers):
        self._every = PreparedQuery(lambda **v: build(Patient.objects.all(), **v), **markers)
        self._at = PreparedQuery(
            lambda institutions, **v: build(
                _at_institutions(Patient.objects.all(), institutions), **v
            ),
            institutions=[-1],
            **markers,
        )

    def __call__(self, user: User, **values) -> list[Patient]:
        if not user.is_authenticated or not user.sees_register:
            return []
        if user.is_consortium_admin:
            return self._every(**values)
        return self._at(institutions=user_institution_ids(user), **values)


_FIRST_PAGES: dict[tuple, VisiblePatients] = {}


def first_patients(user: User, order: tuple[str, ...], size: int) -> list[Patient]:
    """The first size + 1 patients of the unfiltered list in this order (the list as a
    member opens it, the one past the page tells whether there is a next), with the list's
    columns: patient_search's and with_diagnosis' query, prepared once per order."""
    if (order, size) not in _FIRST_PAGES:
        _FIRST_PAGES[order, size] = VisiblePatients(
            lambda patients: with_diagnosis(_with_institutions(patients)).order_by(*order)[
                : size + 1
            ]
        )
    return _FIRST_PAGES[order, size](user)


_NAME_SEARCHES: dict[tuple, tuple[VisiblePatients, VisiblePatients]] = {}


def _name_searches(order: tuple[str, ...], size: int, words: int):
    """The first page (ids first: the surname and birth-date indexes INCLUDE the searched
    name, consortium.pagination._rows) and the capped count of a search by `words` name words
    in this order, as patient_search and the list's keyset page build them: prepared once."""
    if (order, size, words) not in _NAME_SEARCHES:
        markers = {f"word{i}": f"\0name word {i}" for i in range(words)}

        def matching(patients, **patterns):
            for pattern in patterns.values():
                patients = patients.filter(search_name__like=pattern)
            return patients

        page = VisiblePatients(
            lambda patients, **patterns: with_diagnosis(
                _with_institutions(
                    Patient.objects.filter(
                        pk__in=matching(patients, **patterns)
                        .order_by(*order)
                        .values("pk")[: size + 1]
                    )
                )
            ).order_by(*order)[: size + 1],
            **markers,
        )
        count = VisiblePatients(
            lambda patients, **patterns: capped_matches(matching(patients, **patterns)),
            **markers,
        )
        _NAME_SEARCHES[order, size, words] = page, count
    return _NAME_SEARCHES[order, size, words]


def name_search_first_page(user: User, query: str, filters, size: int):
    """A search by name as it is typed (one to three words, no filter or cursor: most
    searches): its first keyset page and its count (capped as search_count caps it) by
    prepared queries, as (page, count). None for any other search, which is paged by keyset
    as usual."""
    words = normalise_name(query).split()
    if (
        not 1 <= len(words) <= 3
        or not shows_names(user)
        or identity_search_refused(user, query)
        or looks_like_national_id(query)
        or REGISTER_NUMBER_QUERY.match(query.strip().upper())
        or not filters.is_valid()
        or filters.narrowed
    ):
        return None
    order = filters.order()
    page, count = _name_searches(order, size, len(words))
    # The patterns as `contains` writes them: its %, _ and \ escaped.
    like = connection.ops.prep_for_like_query
    patterns = {f"word{i}": f"%{like(word)}%" for i, word in enumerate(words)}
    rows = page(user, **patterns)
    return first_page(rows, order_of(Patient, order), size), len(count(user, **patterns))


def opened_list_page(user: User, filters, size: int):
    """The patient list as a member opens it (no search, filter or cursor: most views of
    it, page and API alike): its first keyset page by the prepared query of its order
    (first_patients) and the cached count, as (page, count). None when the filters are
    bad or narrow the list: then the list is paged by keyset as usual."""
    if not filters.is_valid() or filters.narrowed:
        return None
    order = filters.order()
    rows = first_patients(user, order, size)
    return first_page(rows, order_of(Patient, order), size), visible_patient_count(user)


def patient_search(*, user: User, query: str = "") -> QuerySet[Patient]:
    """Find by register number, national ID (exact) or name (every word a substring,
    trigram-indexed). Ordered by name. Constant queries whatever the page."""
    patients = patients_visible_to(user)
    query = query.strip()
    if not query:
        pass
    elif identity_search_refused(user, query):
        return _with_institutions(patients.none()).order_by("register_number")
    elif looks_like_national_id(query):
        patients = patients.filter(national_id="".join(query.split()))
    elif REGISTER_NUMBER_QUERY.match(query.upper()):
        compact = query.upper().replace("-", "").removeprefix("NB")
        number = f"NB-{compact[:4]}-{compact[4:]}" if len(compact) > 4 else f"NB-{compact}"
        patients = patients.filter(register_number__startswith=number)
    else:
        for word in normalise_name(query).split():
            patients = patients.filter(search_name__contains=word)
    # Ordered by name, except for those who may not see names (the order would hint at them).
    order = ("search_name", "id") if shows_names(user) else ("register_number",)
    return _with_institutions(patients).order_by(*order)


def _with_institutions(patients: QuerySet[Patient], *, names: bool = False) -> QuerySet[Patient]:
    """The institutions' codes (and names) as array columns of the patient row itself,
    not a prefetch: pages that show patients save a query each."""

    def column(field):
        return ArraySubquery(
            PatientInstitution.objects.filter(patient=OuterRef("pk"))
            .order_by("institution__code")
            .values(field)
        )

    patients = patients.annotate(institution_codes=column("institution__code"))
    return patients.annotate(institution_names=column("institution__name")) if names else patients


# The patient page's own row with its institutions' codes and names (consortium.prepared).
_PATIENT = VisiblePatients(
    lambda patients, number: _with_institutions(
        patients.filter(register_number=number), names=True
    ),
    number="\0register number",
)


def patient_get(*, user: User, register_number: str) -> Patient:
    """The patient, if this member may see them (patients_visible_to), else 404."""
    found = _PATIENT(user, number=register_number)
    if not found:
        raise Http404("No Patient matches the given query.")
    return found[0]


def _episode_prefetches() -> list:
    """Every section of an episode, one query each (prefetch_related keeps Meta.ordering),
    and who reopened it."""
    return [
        "markers",
        *SECTIONS,
        Prefetch("reopenings", queryset=Reopening.objects.select_related("by")),
    ]


def _episode_queryset() -> QuerySet[TumourEpisode]:
    return TumourEpisode.objects.select_related("patient", "institution").prefetch_related(
        *_episode_prefetches()
    )


def episode_for_page(episode_id: int) -> TumourEpisode:
    return _episode_queryset().get(pk=episode_id)


def episode_get(*, user: User, patient: Patient, episode_id: int) -> TumourEpisode:
    return get_object_or_404(_episode_queryset(), pk=episode_id, patient=patient)


def submit_blockers(episode: TumourEpisode) -> list[str]:
    """What keeps the report from being submitted as complete: its missing items and the
    warnings not acknowledged yet (an episode loaded by episode_for_page)."""
    return rules.missing_items(episode) + [
        f"Acknowledge: {w.message}"
        for _, w, acknowledged in episode_warnings(episode)
        if not acknowledged
    ]


@dataclass(frozen=True)
class SubmitPreview:
    """What the member confirms before the report is locked: `blocking` must be empty to
    submit; `wanted` is what other apps would still like recorded (candidate trials'
    unknown facts, registry.panels), which does not block."""

    episode: TumourEpisode
    blocking: list[str]
    wanted: list

    @property
    def ready(self) -> bool:
        return not self.blocking


def submit_preview(*, user: User, episode: TumourEpisode) -> SubmitPreview:
    current = episode_for_page(episode.pk)
    return SubmitPreview(
        episode=current,
        blocking=[] if current.is_locked else submit_blockers(current),
        wanted=[] if current.is_locked else panels.wanted_before_submit(user, current),
    )


_EPISODES_OF = PreparedQuery(
    lambda patient: (
        TumourEpisode.objects.filter(patient=patient)
        .select_related("institution", "completed_by")
        .order_by(UNDATED_FIRST, "id")
    ),
    patient=-1,
)


def patient_episodes(patient: Patient) -> list[TumourEpisode]:
    """The patient page's episodes with every section: two queries, whatever the record
    holds (the episodes; then their markers, sections and reopenings in one statement)."""
    episodes = _EPISODES_OF(patient=patient.pk)
    for episode in episodes:
        episode.patient = patient  # already loaded, with its institutions
    _load_sections(episodes)
    return episodes


def _episode_relations() -> list[tuple]:
    """(related name, model, order) of what the patient page shows under each episode, as
    _episode_prefetches() loads it; the order is the model's own, ending in the id."""
    models = [
        ("markers", MolecularMarker),
        *((key, section.model) for key, section in SECTIONS.items()),
        ("reopenings", Reopening),
    ]
    found = []
    for name, model in models:
        order = [(f.lstrip("-"), f.startswith("-")) for f in model._meta.ordering]
        if not any(f in ("id", "pk") for f, _ in order):
            order.append(("id", order[-1][1] if order else False))
        found.append((name, model, order))
    return found


# Table and column names come from the models, values are parameters.
SECTION_ROWS = (
    "SELECT {} AS relation, row_number() OVER (ORDER BY {}) AS position, {} AS data "
    "FROM {} t WHERE t.episode_id = ANY(%s)"
)
REOPENER = "(SELECT row_to_json(u) FROM %s u WHERE u.id = t.by_id)"


@functools.cache
def _sections_sql() -> str:
    """One UNION ALL over the section tables: each row as JSON (a reopening with its
    reopener's), numbered in its model's own order. Built once per process from the models,
    so no query compiler runs for them per page: the eight prefetch queries this replaces
    cost the page several times their SQL in Python (README: Benchmarks)."""
    quote = connection.ops.quote_name
    parts = []
    for number, (_, model, order) in enumerate(_episode_relations()):
        sort = ", ".join(
            f"{quote(model._meta.get_field(name).column)} {'DESC' if descending else 'ASC'}"
            for name, descending in order
        )
        data = "row_to_json(t)::text"
        if model is Reopening:
            members = quote(User._meta.db_table)
            data = (
                f"(row_to_json(t)::jsonb || jsonb_build_object('by', {REOPENER % members}))::text"
            )
        parts.append(SECTION_ROWS.format(number, sort, data, quote(model._meta.db_table)))
    # Each part takes the same list of episode ids, the statement's one parameter.
    return " UNION ALL ".join(parts).replace("%s", "$1") + " ORDER BY relation, position"


def _from_json(model, data: dict):
    """A model instance from its row_to_json(), each value through its field's to_python
    (dates and times from ISO text, numbers read as Decimal), as the ORM would load it."""
    fields = model._meta.concrete_fields
    values = []
    for field in fields:
        value = data[field.column]
        kind = field.output_field if isinstance(field, models.GeneratedField) else field
        if value is None or isinstance(kind, models.JSONField):
            pass
        elif isinstance(kind, ArrayField):
            value = [kind.base_field.to_python(v) for v in value]
        else:
            value = kind.to_python(value)
        values.append(value)
    return model.from_db(DEFAULT_DB_ALIAS, [f.attname for f in fields], values)


def _load_sections(episodes: list[TumourEpisode]) -> None:
    """Every episode's markers, sections and reopenings (with who reopened it) in one
    statement, kept where prefetch_related keeps them: episode.surgeries.all() reads them
    without a query."""
    relations = _episode_relations()
    by_id = {e.pk: e for e in episodes}
    found = {(pk, number): [] for pk in by_id for number in range(len(relations))}
    if by_id:
        with connection.cursor() as cursor:
            ids = [list(by_id)]
            cursor.execute(
                prepared.statement(
                    connection, "registry_sections", _sections_sql(), ids, label="sections"
                ),
                ids,
            )
            rows = cursor.fetchall()
        for number, _, text in rows:
            model = relations[number][1]
            data = json.loads(text, parse_float=Decimal)
            row = _from_json(model, data)
            row.episode = by_id[row.episode_id]
            if model is Reopening:
                row.by = _from_json(User, data["by"])
            found[(row.episode_id, number)].append(row)
    for episode in episodes:
        if not hasattr(episode, "_prefetched_objects_cache"):
            episode._prefetched_objects_cache = {}
        for number, (name, model, _) in enumerate(relations):
            loaded = QuerySet(model)
            loaded._result_cache, loaded._prefetch_done = found[(episode.pk, number)], True
            episode._prefetched_objects_cache[name] = loaded


def episode_warnings(episode: TumourEpisode) -> list[tuple[object, rules.EntryWarning, bool]]:
    """Every warning the stored report raises now, with the row it belongs to and
    whether it was acknowledged when saved. Uses the prefetched sections."""
    patient = episode.patient
    found = []
    markers = {m.marker: m.result for m in episode.markers.all()}
    for warning in rules.diagnosis_warnings(episode, markers):
        found.append((episode, warning))
    for section in SECTIONS.values():
        for row in getattr(episode, section.key).all():
            try:
                found += [(row, w) for w in section_warnings(section, row, episode, patient)]
            except ValidationError:
                # Stored data that a rule now refuses (say, a date of death entered later) is
                # reported when the row is next saved; the page still shows the other warnings.
                continue
    # A lead-time warning may have been acknowledged on the diagnosis (a changed referral
    # date) or on the treatment row; either counts.
    return [
        (row, w, w.code in row.acknowledged_warnings or w.code in episode.acknowledged_warnings)
        for row, w in found
    ]


def timeline(patient: Patient, episodes: list[TumourEpisode]) -> list[tuple]:
    """The whole course, oldest first: (date, kind, text, episode)."""
    events = [(patient.birth_date, "birth", "Born", None)]
    for e in episodes:
        label = e.get_diagnosis_display() or "Tumour"
        if e.referral_date:
            events.append((e.referral_date, "referral", f"Referral received ({label})", e))
        if e.diagnosis_date:
            events.append(
                (e.diagnosis_date, "diagnosis", f"Diagnosis: {e.diagnosis_with_grade or label}", e)
            )
        events += [(d, "mdt", "MDT meeting", e) for d in e.mdt_dates]
        events += [
            (
                s.surgery_date,
                "surgery",
                f"{s.get_procedure_display()}"
                + (
                    f": {s.get_extent_of_resection_display().lower()}"
                    if s.extent_of_resection
                    else ""
                ),
                e,
            )
            for s in e.surgeries.all()
        ]
        events += [
            (
                r.start_date,
                "radiotherapy",
                f"Radiotherapy {formats.quantity(r.total_dose_gy, 'total_dose')}"
                f" / {r.fractions} fractions"
                + (f", until {formats.local_date(r.end_date)}" if r.end_date else ""),
                e,
            )
            for r in e.radiotherapy.all()
        ]
        events += [
            (
                s.start_date,
                "systemic",
                s.get_regimen_display() + (f", {s.cycles} cycles" if s.cycles else ""),
                e,
            )
            for s in e.systemic_therapies.all()
        ]
        events += [
            (
                p.assessed_on,
                "performance",
                " ".join(
                    x
                    for x in [
                        f"ECOG {p.ecog}" if p.ecog is not None else "",
                        f"Karnofsky {p.karnofsky}" if p.karnofsky is not None else "",
                    ]
                    if x
                ),
                e,
            )
            for p in e.performance.all()
        ]
        events += [
            (
                f.assessed_on,
                "follow-up",
                f"Follow-up: {f.get_rano_response_display() or 'no RANO'}"
                + (", progression" if f.progression else ""),
                e,
            )
            for f in e.follow_ups.all()
        ]
    if patient.date_of_death:
        events.append((patient.date_of_death, "death", "Died", None))
    return sorted(events, key=lambda event: event[0])


# --- Worklist --------------------------------------------------------------------------


def worklist_institutions(user: User) -> QuerySet[Institution]:
    if not user.sees_register:
        return Institution.objects.none()
    if user.is_consortium_admin:
        return Institution.objects.filter(kind=Institution.Kind.HOSPITAL)
    return Institution.objects.filter(pk__in=user_institution_ids(user))


def completeness(institution: Institution) -> dict:
    """Share of the institution's reports submitted as complete: this year (by date of
    diagnosis) and overall. One query."""
    year = timezone.localdate().year
    complete = Q(status=TumourEpisode.Status.COMPLETE)
    this_year = Q(diagnosis_date__year=year)
    figures = TumourEpisode.objects.filter(institution=institution).aggregate(
        total=Count("pk"),
        complete=Count("pk", filter=complete),
        year_total=Count("pk", filter=this_year),
        year_complete=Count("pk", filter=this_year & complete),
    )

    def share(part, whole):
        return round(100 * part / whole, 1) if whole else None

    return {
        **figures,
        "year": year,
        "share": share(figures["complete"], figures["total"]),
        "year_share": share(figures["year_complete"], figures["year_total"]),
    }


def incomplete_episodes(institution: Institution) -> QuerySet[TumourEpisode]:
    """Draft reports, oldest diagnosis first (undated ones first: they lack the most)."""
    return (
        _episode_queryset()
        .filter(institution=institution, status=TumourEpisode.Status.DRAFT)
        .order_by(UNDATED_FIRST, "id")
    )


def h_numbers_to_replace(institution: Institution, *, limit: int = 200) -> list[Patient]:
    """The institution's patients registered with a temporary H-number, oldest first: each
    is a worklist item until a clinician enters the person's national ID. Read through the
    partial index on H-numbers (patient_h_numbers)."""
    return list(
        Patient.objects.filter(
            identifier_kind=IdentifierKind.H_NUMBER,
            institutions=institution,
        ).order_by("created_at", "id")[:limit]
    )


def open_items_for(user: User) -> list[tuple[TumourEpisode, list[str]]]:
    episodes = (
        _episode_queryset()
        .filter(institution__in=user_institution_ids(user), status=TumourEpisode.Status.DRAFT)
        .order_by(UNDATED_FIRST, "id")
    )
    return [(e, rules.missing_items(e)) for e in episodes]


HIDDEN_IN_HISTORY = {
    "id",
    "version",
    "markers_version",
    "search_name",
    "updated_at",
    "created_at",
    "pgh_obj",
    "episode",
    "patient",
    "acknowledged_warnings",
}


def history_entries(patient: Patient) -> QuerySet[PatientHistoryEntry]:
    """The patient's history as a list to filter, sort and page (registry/history.py)."""
    return PatientHistoryEntry.objects.filter(patient_id=patient.pk).select_related("user")


def patient_events(patient: Patient, entries=None) -> list:
    """The patient's change events (django-pghistory's trigger-written snapshots of every
    section), as pghistory's Events rows read: those of the given page of history_entries(),
    else the newest 500; services put the patient and the reason into their context."""
    return events_of(entries if entries is not None else history_entries(patient)[:500])


def patient_history(
    patient: Patient, *, limit: int = 500, hide_identity: bool = False, entries=None
) -> list[dict]:
    """Every change to the patient's record (all sections), newest first, or the given page
    of history_entries(): who, when, what (field by field, in words) and why; each with the
    entry's id."""
    if entries is None:
        entries = list(history_entries(patient)[:limit])
    hidden = HIDDEN_IN_HISTORY | (IDENTITY_FIELDS if hide_identity else set())
    history = events_in_words(
        patient_events(patient, entries),
        hidden=hidden,
        members={e.user_id: e.user for e in entries if e.user_id},  # read with the entries
    )
    for entry, row in zip(entries, history, strict=True):
        row["id"] = entry.id
    return history


def history_in_words(events, *, hide_identity: bool = False) -> list[dict]:
    hidden = HIDDEN_IN_HISTORY | (IDENTITY_FIELDS if hide_identity else set())
    return events_in_words(events, hidden=hidden)


def access_history(patient: Patient):
    from consortium.models import AccessLog

    return AccessLog.objects.filter(patient_id=patient.pk).select_related("user")[:1000]


def episode_for_user(*, user: User, episode_id: int) -> TumourEpisode:
    """An episode by id, only when its patient is visible to the member (else 404)."""
    return get_object_or_404(
        _episode_queryset(), pk=episode_id, patient__in=patients_visible_to(user)
    )


def care_declarations(patient: Patient) -> list[CareRelationshipDeclaration]:
    """Who declared a care relationship to reach this record, newest first: shown to
    everyone who may see the patient, so the other institutions notice one that is wrong."""
    return _CARE_DECLARATIONS_OF(patient=patient.pk)


_CARE_DECLARATIONS_OF = PreparedQuery(
    lambda patient: CareRelationshipDeclaration.objects.filter(patient=patient).select_related(
        "institution", "member"
    ),
    patient=-1,
)
