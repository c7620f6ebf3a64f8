"""Change history in words, for every history page (a patient's record, a directory group):
django-pghistory's trigger-written snapshots turned into who, when, what changed from what to
what, and why, each value in words by consortium.formats.StoredValues (choice labels, member
names, Yes/No, Oslo times, quantities in their units). A page never shows a stored key, an id
or a UTC ISO time."""

from collections.abc import Iterable

from django.apps import apps

from .formats import StoredValues
from .models import User

# Bookkeeping columns no reader needs (the row's own id, its optimistic-lock counters, the
# timestamps the event itself carries).
BOOKKEEPING = {"id", "version", "markers_version", "updated_at", "created_at", "pgh_obj"}

ACTIONS = {"insert": "added", "update": "changed", "delete": "removed"}


def _empty(value) -> bool:
    return value in (None, "", [])


def events_in_words(
    events: Iterable, *, hidden: Iterable[str] = (), members: dict | None = None
) -> list[dict]:
    """pghistory `Events` rows (newest first, as given) in words. `hidden` names fields left
    out (by field name; a snapshot names a foreign key by its column, "episode_id");
    `members` ({id: member}) the authors when the caller has read them already."""
    hidden = BOOKKEEPING | set(hidden)
    values = StoredValues()
    rows = []
    for event in events:
        model = apps.get_model(event.pgh_obj_model)
        data = (
            event.pgh_diff
            if event.pgh_label == "update" and event.pgh_diff
            else {k: [None, v] for k, v in (event.pgh_data or {}).items()}
        )
        changes = []
        for column, (old, new) in data.items():
            found = StoredValues.field(model, column)
            name = found.name if found is not None else column
            if name in hidden or name.startswith("pgh_") or (_empty(old) and _empty(new)):
                continue
            label = str(found.verbose_name) if found is not None else column
            values.want(model, column, old)
            values.want(model, column, new)
            changes.append((label, name, column, old, new))
        rows.append((event, model, changes))
    contexts = [_context(event) for event, _, _ in rows]
    authors = {c.get("user") for c in contexts if c.get("user")}
    if members is None or not authors <= members.keys():
        members = User.objects.in_bulk(authors)
    users = members
    history = []
    for (event, model, changes), context in zip(rows, contexts, strict=True):
        is_update = event.pgh_label == "update"
        # Each change as stored (for the API) and in words (an added row has no old value;
        # an emptied one reads "–").
        fields = [
            {
                "field": name,
                "label": label,
                "old": old if is_update else None,
                "new": new,
                "old_text": values.words(model, column, old) if is_update else None,
                "new_text": values.words(model, column, new),
            }
            for label, name, column, old, new in changes
        ]
        history.append(
            {
                "at": event.pgh_created_at,
                "who": users.get(context.get("user")),
                "source": context.get("import_source", ""),
                "record": model._meta.label,
                "action": event.pgh_label,
                "what": f"{model._meta.verbose_name.capitalize()} "
                f"{ACTIONS.get(event.pgh_label, event.pgh_label)}",
                "fields": fields,
                "changes": [(f["label"], f["old_text"], f["new_text"]) for f in fields],
                "reason": context.get("reason", ""),
            }
        )
    return history


def _context(event) -> dict:
    """The context the services and the middleware set (pghistory's Events proxy gives it as a
    dict; an event model's own rows as a Context row)."""
    context = event.pgh_context
    if context is None:
        return {}
    return context if isinstance(context, dict) else context.metadata
