"""Writes of the shared core: members and invitations, the access log, the directory."""

import logging
from dataclasses import dataclass
from datetime import timedelta

import pghistory
from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.account.forms import default_token_generator
from allauth.account.models import EmailAddress
from allauth.account.utils import user_pk_to_url_str
from allauth.core import context as allauth_context
from django import forms
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from . import prepared, rules
from .directory_parser import ParsedDirectory, ParsedGroup, parse_directory
from .exceptions import EditConflict, LargeRemovalRefused, PasswordRefused
from .http import client_ip
from .models import (
    AccessLog,
    ApiToken,
    DirectoryCategory,
    DirectoryImport,
    DirectorySuggestion,
    FailedPasswordCheck,
    InboxItem,
    Institution,
    NetworkGroup,
    OutboxMessage,
    Role,
    User,
)

# --- Members -----------------------------------------------------------------------

security_log = logging.getLogger("nbtc.security")


def invitation_link(*, user: User, base_url: str) -> str:
    """A one-time link to set the first password: allauth's password-reset-from-key
    URL. The token hashes the password, so it stops working once a password is set,
    and expires after PASSWORD_RESET_TIMEOUT (3 days)."""
    path = reverse(
        "account_reset_password_from_key",
        kwargs={
            "uidb36": user_pk_to_url_str(user),
            "key": default_token_generator.make_token(user),
        },
    )
    return base_url.rstrip("/") + path


@transaction.atomic
def member_invite(
    *,
    email: str,
    role: str,
    institutions: list[Institution],
    full_name: str = "",
    invited_by: User | None = None,
    base_url: str,
    confirm_unusual: bool = False,
) -> tuple[User, str]:
    """Create a member without a password and return them with their invitation link,
    which goes to them by e-mail only (the operators' add_member command prints it; pages
    and the API never show it: whoever holds it sets the member's password).
    The address counts as verified: an admin vouches for it. A role at an institution of a
    kind where it would open nothing is refused; an unusual one must be confirmed
    (rules.py)."""
    email = email.strip().lower()
    if role not in Role.values:
        raise ValidationError({"role": f"Role must be one of: {', '.join(Role.values)}."})
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError({"email": f"{email} is already a member."})
    if not institutions:
        raise ValidationError({"institutions": "A member belongs to at least one institution."})
    refusal = rules.role_institution_refusal(role, institutions)
    if refusal:
        raise ValidationError({"institutions": refusal})
    question = rules.role_institution_question(role, institutions)
    if question and not confirm_unusual:
        raise ValidationError({"confirm_unusual": question})
    user = User.objects.create_user(email, password=None, role=role, full_name=full_name)
    user.institutions.set(institutions)
    EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
    link = invitation_link(user=user, base_url=base_url)
    inviter = f" by {invited_by}" if invited_by else ""
    transaction.on_commit(
        lambda: send_mail(
            "Your NBTC platform account",
            f"You have been invited{inviter} to the NBTC platform as {user.get_role_display()}.\n\n"
            f"Set your password here (the link works once, for 3 days):\n{link}\n\n"
            "You will then set up two-factor authentication.",
            None,
            [email],
        )
    )
    return user, link


# A member's scripts rarely need more; knox checks each of the member's tokens per request.
API_TOKENS_PER_MEMBER = 10


@transaction.atomic
def api_token_create(*, user: User, name: str, days: int) -> tuple[ApiToken, str]:
    """A new API token for the member's scripts, valid for `days` (at most
    settings.API_TOKEN_MAX_DAYS). Returns the row and the token itself, which is stored only
    as a digest: the caller shows it once. Earlier tokens keep working until they expire or
    are revoked. The caller makes sure the session passed MFA."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Say what the token is for (e.g. the script's name)."})
    if not 1 <= days <= settings.API_TOKEN_MAX_DAYS:
        raise ValidationError(
            {"days": f"A token lasts from 1 to {settings.API_TOKEN_MAX_DAYS} days."}
        )
    User.objects.select_for_update().filter(pk=user.pk).first()  # one count per member at a time
    if ApiToken.objects.filter(user=user, expiry__gt=timezone.now()).count() >= (
        API_TOKENS_PER_MEMBER
    ):
        raise ValidationError(
            {"name": f"You have {API_TOKENS_PER_MEMBER} tokens; revoke one you no longer use."}
        )
    with pghistory.context(user=user.pk):
        return ApiToken.objects.create(user=user, name=name[:100], expiry=timedelta(days=days))


def api_token_revoke(*, user: User, token_key: str) -> int:
    """The member ends one of their own tokens (a script stops working at once); returns how
    many rows went (0 if it was not theirs, had expired or was revoked already)."""
    with pghistory.context(user=user.pk):
        deleted, _ = ApiToken.objects.filter(user=user, token_key=token_key).delete()
    return deleted


def _ended_sessions(user: User) -> int:
    """End every session of the member (allauth usersessions lists them; ASVS 7.4.2)."""
    from allauth.usersessions.models import UserSession

    sessions = list(UserSession.objects.filter(user=user))
    for session in sessions:
        session.end()
    return len(sessions)


@transaction.atomic
def member_deactivate(*, member: User, by: User, reason: str = "") -> User:
    """A consortium admin deactivates a member: they can no longer sign in, and their
    sessions and API tokens end now. The change is in the member's history (pghistory,
    with who and why); the account and its records stay, so it can be reactivated."""
    if not by.is_consortium_admin:
        raise PermissionDenied("Only consortium admins deactivate members.")
    if member.pk == by.pk:
        raise ValidationError({"member": "You cannot deactivate yourself."})
    current = User.objects.select_for_update().get(pk=member.pk)
    if not current.is_active:
        raise ValidationError({"member": f"{current.email} is already deactivated."})
    current.is_active = False
    with pghistory.context(user=by.pk, reason=reason.strip() or "Deactivated by an admin"):
        current.save(update_fields=["is_active"])  # post_save ends the API tokens
        ApiToken.objects.filter(user=current).delete()
    _ended_sessions(current)
    security_log.info("member %s deactivated by %s", current.pk, by.pk)
    return current


@transaction.atomic
def member_reactivate(*, member: User, by: User, reason: str = "") -> User:
    """The member may sign in again (password and two-factor code as before); their ended
    sessions and tokens stay ended."""
    if not by.is_consortium_admin:
        raise PermissionDenied("Only consortium admins reactivate members.")
    current = User.objects.select_for_update().get(pk=member.pk)
    if current.is_active:
        raise ValidationError({"member": f"{current.email} is active."})
    current.is_active = True
    with pghistory.context(user=by.pk, reason=reason.strip() or "Reactivated by an admin"):
        current.save(update_fields=["is_active"])
    security_log.info("member %s reactivated by %s", current.pk, by.pk)
    return current


def api_tokens_end_for_inactive(*, user: User) -> None:
    """A deactivated member's tokens end with their sessions (knox also refuses them)."""
    if not user.is_active:
        ApiToken.objects.filter(user=user).delete()


# --- Passwords re-entered for a signature ------------------------------------------


def password_confirm(*, user: User, password: str, request=None) -> None:
    """The member re-enters their password to sign. It counts exactly as a sign-in attempt:
    allauth's reauthentication, under ACCOUNT_RATE_LIMITS["login_failed"] (10 a minute per
    client, 5 per 5 minutes per account, shared with sign-in), so a signature form is no
    way round the sign-in lockout. Raises PasswordRefused.

    `request` defaults to the current HTTP request (allauth's middleware holds it); without
    one (a management command: no client to limit) the password is checked alone."""
    request = request or allauth_context.request
    if request is None:
        if not user.check_password(password or ""):
            raise PasswordRefused(locked=False)
        return
    with allauth_context.request_context(request):
        try:
            confirmed = get_account_adapter(request).reauthenticate(user, password or "")
        except forms.ValidationError:  # allauth: "Too many failed login attempts"
            raise PasswordRefused(locked=True) from None
    if not confirmed:
        raise PasswordRefused(locked=False)


def failed_password_check_record(
    *, user: User, purpose: str, locked: bool, request=None
) -> FailedPasswordCheck:
    """Kept outside the refused write's transaction, so the record survives its rollback."""
    request = request or allauth_context.request
    return FailedPasswordCheck.objects.create(
        user=user,
        purpose=purpose[:200],
        locked=locked,
        ip=client_ip(request) if request is not None else None,
    )


# --- Access log --------------------------------------------------------------------


ACCESS_LOG_TABLE = AccessLog._meta.db_table
ACCESS_LOG_INSERT = (
    f"INSERT INTO {ACCESS_LOG_TABLE} (at, user_id, patient_id, page, path, method, ip) "
    "SELECT %s, %s, unnest(%s::bigint[]), %s, %s, %s, %s"
)


def patient_access_log(request, *, patient_ids, page: str) -> None:
    """Record that request.user was shown these patients on this page.

    Every page and API response that shows a patient calls this (Normen Faktaark 15: every
    access to health data is logged, docs/registry-rules.md §5): one row per
    patient shown, written even for lists. Callers mark the response never-cache.
    One INSERT ... SELECT unnest(): a list page logs its rows without building a model
    instance per row (it runs on every page view, within the register's latency budget)."""
    ids = list(dict.fromkeys(patient_ids))
    if not ids:
        return
    params = [
        timezone.now(),
        request.user.pk,
        ids,
        page[:100],
        request.path[:300],
        request.method[:10],
        client_ip(request),
    ]
    with connection.cursor() as cursor:
        # A server-side prepared statement (consortium.prepared): planned once per connection,
        # since every register page and API answer writes it.
        cursor.execute(
            prepared.statement(
                connection, "nbtc_access_log", ACCESS_LOG_INSERT, params, label=ACCESS_LOG_TABLE
            ),
            params,
        )


# --- The inbox ---------------------------------------------------------------------


def inbox_deliver(
    *, recipients, kind: str, text: str, url: str, key: str, patient_id: int | None = None
) -> int:
    """Put one item into each recipient's inbox, in the caller's transaction: the item
    stands or falls with the event it tells of (the apps call this where the event is
    written). `key` names the event ("screening.alert:12"): delivering it again (a retried
    task) adds nothing. Register numbers only in `text`. Returns the items written."""
    ids = list(dict.fromkeys(getattr(r, "pk", r) for r in recipients))
    if not ids:
        return 0
    created = InboxItem.objects.bulk_create(
        [
            InboxItem(
                recipient_id=pk,
                kind=kind,
                text=text[:2000],
                url=url[:500],
                key=key[:200],
                patient_id=patient_id,
            )
            for pk in ids
        ],
        ignore_conflicts=True,
    )
    return len(created)


def inbox_mark_read(*, user: User, item_ids: list[int] | None = None) -> int:
    """Mark the member's own items read: these (others' ids are ignored) or all."""
    unread = InboxItem.objects.filter(recipient=user, read_at__isnull=True)
    if item_ids is not None:
        unread = unread.filter(pk__in=item_ids)
    return unread.update(read_at=timezone.now())


# --- The Nordic network directory --------------------------------------------------


@dataclass
class DirectoryImportResult:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0

    def __str__(self) -> str:
        return (
            f"{self.added} added, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.removed} removed"
        )


def _group_values(parsed: ParsedGroup, category: DirectoryCategory) -> dict:
    """The fields an edition sets; a difference in any of them is an update."""
    return {
        "name": parsed.name,
        "acronym": " / ".join(parsed.acronyms),
        "heading": parsed.heading,
        "category": category,
        "cancer_types": parsed.cancer_types,
        "scope": parsed.scope,
        "participants": parsed.participants,
        "countries": list(parsed.countries),
        "associate_countries": list(parsed.associate_countries),
        "focus": parsed.focus,
        "key_activities": parsed.key_activities,
        "website_url": parsed.website_url,
        "website_label": parsed.website_label,
        "website_note": parsed.website_note,
        "other_facts": [list(fact) for fact in parsed.other_facts],
        "removed_at": None,
    }


def _website_key(url: str) -> str:
    return (
        url.lower()
        .removeprefix("https://")
        .removeprefix("http://")
        .removeprefix("www.")
        .rstrip("/")
    )


def _find_existing(parsed: ParsedGroup, groups: list[NetworkGroup]) -> NetworkGroup | None:
    """A group keeps its identity across editions: same acronym, else same name, else
    same website. So a renamed group with its acronym or website is updated, not added."""
    acronyms = {a.lower() for a in parsed.acronyms}
    for matches in (
        lambda g: acronyms and acronyms & {a.lower() for a in g.acronyms},
        lambda g: g.name.lower() == parsed.name.lower(),
        lambda g: (
            parsed.website_url and _website_key(g.website_url) == _website_key(parsed.website_url)
        ),
    ):
        found = [g for g in groups if matches(g)]
        if len(found) == 1:
            return found[0]
    return None


def _unique_slug(base: str, taken: set[str]) -> str:
    slug, n = base[:190] or "group", 2
    while slug in taken:
        slug, n = f"{base[:185]}-{n}", n + 1
    taken.add(slug)
    return slug


def _sync_categories(parsed: ParsedDirectory) -> dict[tuple[str, str], DirectoryCategory]:
    """Categories by (category, subcategory) name; created as needed, kept otherwise."""
    by_key: dict[tuple[str, str], DirectoryCategory] = {}
    position = 0
    for name, subcategories in parsed.categories:
        position += 1
        top, _ = DirectoryCategory.objects.update_or_create(
            slug=slugify(name)[:200], defaults={"name": name, "parent": None, "position": position}
        )
        by_key[(name, "")] = top
        for sub in subcategories:
            position += 1
            child, _ = DirectoryCategory.objects.update_or_create(
                slug=slugify(f"{name} {sub}")[:200],
                defaults={"name": sub, "parent": top, "position": position},
            )
            by_key[(name, sub)] = child
    return by_key


# An edition that drops more than this share of the listed groups is refused unless the
# import is told it is meant: a shortened or truncated file would empty the public list.
LARGE_REMOVAL_SHARE = 0.25


def directory_import(
    *, text: str, source: str, allow_large_removal: bool = False
) -> DirectoryImportResult:
    """Import an edition of the Nordic overview. Parses everything first, so a block it
    cannot read (DirectoryParseError, with its line) changes nothing; then applies the
    edition in one transaction. Groups the edition no longer lists leave the public
    list; their rows and history stay. An edition that would take more than a quarter of
    the listed groups off the list is refused (LargeRemovalRefused, nothing changes)
    unless `allow_large_removal`."""
    parsed = parse_directory(text)
    result = DirectoryImportResult()
    with transaction.atomic(), pghistory.context(import_source=source):
        categories = _sync_categories(parsed)
        existing = list(NetworkGroup.objects.all())
        taken_slugs = {g.slug for g in existing}
        seen: set[int] = set()
        for position, item in enumerate(parsed.groups, start=1):
            values = _group_values(item, categories[(item.category, item.subcategory)])
            group = _find_existing(item, [g for g in existing if g.pk not in seen])
            if group is None:
                slug = _unique_slug(slugify(item.name), taken_slugs)
                group = NetworkGroup.objects.create(slug=slug, position=position, **values)
                result.added += 1
            elif any(getattr(group, field) != value for field, value in values.items()):
                for field, value in values.items():
                    setattr(group, field, value)
                group.position = position
                group.version += 1
                group.save()
                result.updated += 1
            else:
                result.unchanged += 1
                if group.position != position:  # moved by groups added or removed above it
                    NetworkGroup.objects.filter(pk=group.pk).update(position=position)
            seen.add(group.pk)
        listed = NetworkGroup.objects.filter(removed_at__isnull=True)
        leaving = listed.exclude(pk__in=seen)
        listed_count, leaving_count = listed.count(), leaving.count()
        if not allow_large_removal and leaving_count > LARGE_REMOVAL_SHARE * listed_count:
            raise LargeRemovalRefused(
                f"This edition would take {leaving_count} of the {listed_count} listed groups "
                f"off the public list (more than a quarter); nothing was imported. If that is "
                "meant, import again with --allow-large-removal."
            )
        result.removed = leaving.update(removed_at=timezone.now())
        DirectoryImport.objects.create(
            source=source[:300], title=parsed.title[:300], **vars(result)
        )
    return result


GROUP_EDITABLE_FIELDS = [
    "name",
    "acronym",
    "category",
    "cancer_types",
    "scope",
    "participants",
    "countries",
    "associate_countries",
    "focus",
    "key_activities",
    "website_url",
    "website_label",
]


@transaction.atomic
def group_update(
    *, group: NetworkGroup, by: User, expected_version: int, **changes
) -> NetworkGroup:
    """A coordinator's correction. An edit made against an older version is refused,
    never overwritten. History (who, when, what) is kept by pghistory."""
    if not by.can_edit_directory:
        raise PermissionDenied("Only coordinators and admins edit the directory.")
    unknown = set(changes) - set(GROUP_EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(f"Not editable: {', '.join(sorted(unknown))}.")
    current = NetworkGroup.objects.select_for_update().get(pk=group.pk)
    if current.version != expected_version:
        raise EditConflict(
            f"{current.name} was changed by someone else since you opened it "
            f"(version {expected_version}, now {current.version}). Reload and edit again."
        )
    for field, value in changes.items():
        setattr(current, field, value)
    current.version += 1
    current.full_clean()
    with pghistory.context(user=by.pk):
        current.save()
    return current


@transaction.atomic
def suggestion_create(*, group: NetworkGroup, by: User, message: str) -> DirectorySuggestion:
    message = message.strip()
    if not message:
        raise ValidationError({"message": "Say what should be corrected."})
    suggestion = DirectorySuggestion(group=group, suggested_by=by, message=message)
    suggestion.full_clean()
    suggestion.save()
    from .tasks import notify_directory_editors

    outbox_enqueue(notify_directory_editors, suggestion.pk)
    return suggestion


def suggestion_notify_editors(*, suggestion: DirectorySuggestion) -> int:
    """Tell the directory's editors of a new suggestion, once; returns how many were told.
    The row is locked while mailing, and marked only if the mail went out, so a retry
    after a failure sends it and a retry after success does not."""
    with transaction.atomic():
        locked = DirectorySuggestion.objects.select_for_update().get(pk=suggestion.pk)
        if locked.notified_at is not None:
            return 0
        editors = list(
            User.objects.filter(
                is_active=True, role__in=[Role.COORDINATOR, Role.ADMIN]
            ).values_list("email", flat=True)
        )
        inbox_deliver(
            recipients=User.objects.filter(
                is_active=True, role__in=[Role.COORDINATOR, Role.ADMIN]
            ).values_list("pk", flat=True),
            kind=InboxItem.Kind.DIRECTORY,
            text=f"{suggestion.suggested_by} suggests a correction to {suggestion.group.name}.",
            url=reverse("directory:suggestions"),
            key=f"directory.suggestion:{suggestion.pk}",
        )
        if editors:
            send_mail(
                f"Suggested correction: {suggestion.group.name}",
                f"{suggestion.suggested_by} suggests:\n\n{suggestion.message}\n\n"
                "Review it under Suggestions in the NBTC platform's directory.",
                None,
                editors,
            )
        locked.notified_at = timezone.now()
        locked.save(update_fields=["notified_at"])
    return len(editors)


@transaction.atomic
def suggestion_resolve(
    *, suggestion: DirectorySuggestion, by: User, status: str, note: str = ""
) -> DirectorySuggestion:
    if not by.can_edit_directory:
        raise PermissionDenied("Only coordinators and admins resolve suggestions.")
    if status not in (DirectorySuggestion.Status.APPLIED, DirectorySuggestion.Status.DISMISSED):
        raise ValidationError({"status": "Resolve as applied or dismissed."})
    suggestion.status = status
    suggestion.resolved_by = by
    suggestion.resolved_at = timezone.now()
    suggestion.resolution_note = note
    suggestion.save()
    return suggestion


# --- Follow-up work: the transactional outbox ---------------------------------------

outbox_log = logging.getLogger("nbtc.outbox")


def outbox_enqueue(task, *args) -> OutboxMessage:
    """Record follow-up work (a Celery task and its JSON arguments, ids) in the current
    transaction, in place of `task.delay(*args)` after commit: if the change commits, so does
    the work, even with the broker down. It is handed to Celery right after commit and, if
    the broker was unreachable then, by the relay once it is back (outbox_send)."""
    message = OutboxMessage.objects.create(
        task_name=task if isinstance(task, str) else task.name, args=list(args)
    )
    transaction.on_commit(lambda: outbox_send(ids=[message.pk]), robust=True)
    return message


def outbox_send(*, ids: list[int] | None = None, limit: int = 500) -> int:
    """Hand unsent messages to the broker, oldest first; returns how many were sent. A
    message is locked while it is sent (SKIP LOCKED), so the relay and an after-commit send
    never both publish it; at the first broker error the rest waits for the next relay.
    Delivery is at least once (a crash between publishing and marking it sent publishes it
    again), which the tasks allow: they are idempotent."""
    from celery import current_app

    sent = 0
    with transaction.atomic(), current_app.connection_for_write() as broker:
        pending = OutboxMessage.objects.select_for_update(skip_locked=True).filter(
            sent_at__isnull=True
        )
        if ids is not None:
            pending = pending.filter(pk__in=ids)
        producer = None
        for message in pending.order_by("id")[:limit]:
            try:
                # One try, no publish retries: a request must not wait for a broker that is
                # down (kombu's pooled producer keeps reconnecting for seconds).
                if producer is None:
                    broker.ensure_connection(max_retries=0)
                    producer = current_app.amqp.Producer(broker)
                current_app.send_task(
                    message.task_name,
                    args=message.args,
                    task_id=f"outbox-{message.pk}-{message.attempts + 1}",
                    ignore_result=True,
                    retry=False,
                    producer=producer,
                )
            except Exception as error:  # noqa: BLE001 - any broker failure leaves it queued here
                OutboxMessage.objects.filter(pk=message.pk).update(
                    attempts=F("attempts") + 1, last_error=str(error)[:1000]
                )
                outbox_log.warning(
                    "broker unreachable; %s stays in the outbox (%s)", message, error
                )
                break
            OutboxMessage.objects.filter(pk=message.pk).update(
                sent_at=timezone.now(), attempts=F("attempts") + 1, last_error=""
            )
            sent += 1
    return sent
