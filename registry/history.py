"""The patient's history as a list that sorts, filters and pages by keyset like every other
long list: PatientHistoryEntry reads the view `registry_patient_history`, one row per change
(django-pghistory's trigger-written events of every app) whose context names the patient.

The view is a UNION ALL over every event table, rebuilt from the installed event models
after each migrate (post_migrate, registry.apps), so a model tracked later joins the history
without a migration of its own. It carries what the list sorts and filters by (when, who,
which section, added/changed/removed, why); the page's own rows then fetch their snapshots
and the snapshot before each (for the field-by-field change) in one statement.
The patient's rows are found through the index on the contexts' patient (migration 0020):
the sort then orders that patient's changes only, never the whole history."""

import functools
import json
from types import SimpleNamespace

from django.apps import apps
from django.db import DEFAULT_DB_ALIAS, connection, connections

VIEW = "registry_patient_history"
# pghistory's labels of the changes the register tracks, in words.
ACTIONS = {"insert": "Added", "update": "Changed", "delete": "Removed"}


def event_models() -> list:
    """Every installed pghistory event model with a tracked object and a context."""
    from pghistory.models import Event

    found = []
    for model in apps.get_models():
        if not issubclass(model, Event) or model._meta.proxy or not model._meta.managed:
            continue
        names = {f.name for f in model._meta.concrete_fields}
        if {"pgh_obj", "pgh_context", "pgh_created_at", "pgh_label"} <= names:
            found.append(model)
    return sorted(found, key=lambda m: m._meta.label)


def section_of(event_model) -> str:
    """The tracked model's name in words ("Surgery"): the list's What column."""
    return event_model.pgh_tracked_model._meta.verbose_name.capitalize()


def section_choices() -> list[tuple[str, str]]:
    seen = {}
    for model in event_models():
        seen.setdefault(model.pgh_tracked_model._meta.label, section_of(model))
    return sorted(seen.items(), key=lambda item: item[1])


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# Names come from the installed models, never from input.
BRANCH = (
    "SELECT {label} || ':' || e.pgh_id AS id, e.pgh_created_at AS at, {label} AS event_model, "
    "{tracked} AS tracked_model, {section} AS section, e.pgh_label AS action, "
    "e.pgh_id AS event_id, e.pgh_obj_id::text AS obj_id, "
    "((c.metadata ->> 'patient')::bigint) AS patient_id, "
    "((c.metadata ->> 'user')::bigint) AS user_id, "
    "coalesce(c.metadata ->> 'reason', '') AS reason "
    "FROM {table} e JOIN pghistory_context c ON c.id = e.pgh_context_id"
)


VIEW_SQL = (
    "CREATE OR REPLACE VIEW {view} AS SELECT h.*, "
    "coalesce(u.sort_name, '') COLLATE {collation} AS who_sort "
    "FROM ({branches}) h LEFT JOIN {members} u ON u.id = h.user_id"
)


def view_sql(tables: set[str] | None = None) -> str:
    """The view's SQL over the event models' tables (those in `tables` when given: a
    migrate to an earlier state leaves some out)."""
    from consortium.models import NORWEGIAN, User

    quote = connection.ops.quote_name
    branches = [
        BRANCH.format(
            label=_literal(model._meta.label),
            tracked=_literal(model.pgh_tracked_model._meta.label),
            section=_literal(section_of(model)),
            table=quote(model._meta.db_table),
        )
        for model in event_models()
        if tables is None or model._meta.db_table in tables
    ]
    # Who, sortable by surname in Norwegian order as every list of members is ("" for the
    # system: a bound for the keyset pages, which take no NULLs).
    return VIEW_SQL.format(
        view=VIEW,
        collation=quote(NORWEGIAN),
        branches=" UNION ALL ".join(branches),
        members=quote(User._meta.db_table),
    )


def create_view(using: str = DEFAULT_DB_ALIAS, **kwargs) -> None:
    """post_migrate: the view over the event tables installed now."""
    database = connections[using]
    tables = set(database.introspection.table_names())
    with database.cursor() as cursor:
        cursor.execute(f"DROP VIEW IF EXISTS {VIEW}")
        if "pghistory_context" in tables and any(
            m._meta.db_table in tables for m in event_models()
        ):
            cursor.execute(view_sql(tables))


@functools.cache
def _model_by_label() -> dict:
    return {model._meta.label: model for model in event_models()}


SNAPSHOTS = (
    "SELECT {label}, e.pgh_id, row_to_json(e)::text, (SELECT row_to_json(p)::text FROM {table} p "
    "WHERE p.pgh_obj_id = e.pgh_obj_id AND p.pgh_id < e.pgh_id ORDER BY p.pgh_id DESC LIMIT 1) "
    "FROM {table} e WHERE e.pgh_id = ANY(%s)"
)


def _without_pgh(data: dict) -> dict:
    return {k: v for k, v in data.items() if not k.startswith("pgh_")}


def events_of(entries) -> list:
    """The page's entries as pghistory's Events rows read (pgh_data, pgh_diff: what the
    history shows field by field), their snapshots fetched in one statement."""
    entries = list(entries)
    by_model: dict[str, list[int]] = {}
    for entry in entries:
        by_model.setdefault(entry.event_model, []).append(entry.event_id)
    snapshots = {}
    if by_model:
        quote = connection.ops.quote_name
        models = _model_by_label()
        parts, params = [], []
        for label, ids in by_model.items():
            parts.append(
                SNAPSHOTS.format(label=_literal(label), table=quote(models[label]._meta.db_table))
            )
            params.append(ids)
        with connection.cursor() as cursor:
            cursor.execute(" UNION ALL ".join(parts), params)
            for label, event_id, current, previous in cursor.fetchall():
                snapshots[(label, event_id)] = (
                    _without_pgh(json.loads(current)),
                    _without_pgh(json.loads(previous)) if previous else None,
                )
    events = []
    for entry in entries:
        data, previous = snapshots.get((entry.event_model, entry.event_id), ({}, None))
        diff = None
        if previous is not None:
            diff = {k: [previous.get(k), v] for k, v in data.items() if previous.get(k) != v}
        events.append(
            SimpleNamespace(
                pgh_obj_model=entry.tracked_model,
                pgh_label=entry.action,
                pgh_data=data,
                pgh_diff=diff,
                pgh_context={"user": entry.user_id, "reason": entry.reason},
                pgh_created_at=entry.at,
                entry=entry,
            )
        )
    return events
