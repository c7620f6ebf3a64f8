"""History and the access log are append-only in the database, TRUNCATE included.

pghistory's `PGHISTORY_APPEND_ONLY` (settings) gives every event table a row trigger that
refuses UPDATE and DELETE. A row trigger never fires on TRUNCATE, so each event table
(and the access log) also gets a statement-level BEFORE TRUNCATE trigger that refuses it.
PostgreSQL docs, CREATE TRIGGER ("TRUNCATE ... only statement-level",
https://www.postgresql.org/docs/15/sql-createtrigger.html); django-pgtrigger
(https://django-pgtrigger.readthedocs.io/). ASVS 5.0 16.4.2 (logs cannot be modified);
Normen Faktaark 15 (logs kept and controlled)."""

import pgtrigger
from django.apps import apps

TRUNCATE_TRIGGER = "append_only_truncate"


def refuse_truncate() -> pgtrigger.Trigger:
    return pgtrigger.Trigger(
        name=TRUNCATE_TRIGGER,
        when=pgtrigger.Before,
        operation=pgtrigger.Truncate,
        level=pgtrigger.Statement,
        func="RAISE EXCEPTION 'pgtrigger: Cannot truncate % table (it is append-only)', "
        "TG_TABLE_NAME;",
    )


def protect_history_of(app_label: str) -> None:
    """Give every pghistory event model of the app the TRUNCATE guard. Called at the end
    of the app's models module, once its tracked models (and their event models) exist."""
    from pghistory.models import Event

    for model in list(apps.all_models[app_label].values()):
        if issubclass(model, Event) and not model._meta.abstract:
            pgtrigger.register(refuse_truncate())(model)


def append_only_models() -> list:
    """Every model whose table refuses TRUNCATE: the event tables and the access log."""
    return [
        model
        for model in apps.get_models()
        if any(t.name == TRUNCATE_TRIGGER for t in getattr(model._meta, "triggers", []))
    ]


def truncate_allowed():
    """Lets TRUNCATE through these triggers for the calling thread (pgtrigger.ignore).
    Only the test suite uses it, to empty its throw-away database between transactional
    tests (Django's flush truncates every table)."""
    return pgtrigger.ignore(*(f"{m._meta.label}:{TRUNCATE_TRIGGER}" for m in append_only_models()))
