"""Reads of the shared core."""

import re
from collections import Counter

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from .directory_synonyms import plain, synonyms
from .models import (
    ApiToken,
    DirectoryCategory,
    DirectorySuggestion,
    InboxItem,
    NetworkGroup,
    User,
)
from .prepared import PreparedQuery

COUNTRY_NAMES = {
    "DK": "Denmark",
    "FI": "Finland",
    "IS": "Iceland",
    "NO": "Norway",
    "SE": "Sweden",
    "EE": "Estonia",
    "LV": "Latvia",
    "LT": "Lithuania",
    "PL": "Poland",
    "NL": "Netherlands",
    "DE": "Germany",
    "GL": "Greenland",
    "FO": "Faroe Islands",
    "AX": "Åland Islands",
}


def search_query(text: str) -> SearchQuery | None:
    """Words typed by a person, as a prefix query: 'lymph nord' finds 'Nordic Lymphoma
    Group'. Each word also finds its synonyms, Norwegian or English (directory_synonyms:
    "hjernesvulst" and "glioma" find the brain tumour groups), unaccented. Only word
    characters reach the raw tsquery, so nothing can break its syntax."""
    words = [plain(w) for w in re.findall(r"\w+", text.lower())]
    words = [w for w in words if re.fullmatch(r"\w+", w)]
    if not words:
        return None
    prefixes = " & ".join(
        "(" + " | ".join(f"{term}:*" for term in sorted(synonyms(w))) + ")" for w in words
    )
    # English stems ("tumours" ~ "tumour"); simple keeps acronyms and names as written.
    return SearchQuery(prefixes, search_type="raw", config="english") | SearchQuery(
        prefixes, search_type="raw", config="simple"
    )


def group_list(
    *, search: str = "", country: str = "", category: str = "", cancer_type: str = ""
) -> QuerySet[NetworkGroup]:
    """Groups on the public list, filtered. One query whatever the number of groups."""
    groups = NetworkGroup.objects.filter(removed_at__isnull=True).select_related(
        "category", "category__parent"
    )
    if country:
        code = country.strip().upper()
        groups = groups.filter(
            Q(countries__contains=[code]) | Q(associate_countries__contains=[code])
        )
    if category:
        groups = groups.filter(Q(category__slug=category) | Q(category__parent__slug=category))
    if cancer_type:
        groups = groups.filter(
            Q(cancer_types__icontains=cancer_type) | Q(scope__icontains=cancer_type)
        )
    query = search_query(search) if search else None
    if query is not None:
        # The match operator (@@) on the stored search document (NetworkGroup's, indexed):
        # every typed word or a synonym of it is in the text; the rank then orders them
        # (ts_rank alone is above 0 for a part match).
        groups = (
            groups.filter(search_document=query)
            .annotate(rank=SearchRank(F("search_document"), query))
            .order_by("-rank", "position")
        )
    elif search:
        groups = groups.none()
    return groups


def groups_by_category(groups) -> dict:
    """Groups under their (sub)category, in list order, for the browse view."""
    by_category: dict = {}
    for group in groups:
        by_category.setdefault(group.category, []).append(group)
    return by_category


def group_get(*, slug: str) -> NetworkGroup:
    """A listed group, else 404."""
    return get_object_or_404(
        NetworkGroup.objects.select_related("category", "category__parent"),
        slug=slug,
        removed_at__isnull=True,
    )


def category_tree() -> list[DirectoryCategory]:
    """Top categories with their subcategories, in document order (two queries)."""
    return list(
        DirectoryCategory.objects.filter(parent__isnull=True).prefetch_related("subcategories")
    )


def country_participation(groups) -> list[dict]:
    """How many listed groups each country takes part in (as member or associate),
    for the directory's chart; largest first."""
    members: Counter = Counter()
    associates: Counter = Counter()
    for group in groups:
        members.update(group.countries)
        associates.update(set(group.associate_countries) - set(group.countries))
    top = max([members[c] + associates[c] for c in members | associates] or [1])
    return sorted(
        (
            {
                "code": code,
                "name": COUNTRY_NAMES.get(code, code),
                "members": members[code],
                "associates": associates[code],
                "total": members[code] + associates[code],
                "percent": round(100 * (members[code] + associates[code]) / top),
                "members_percent": round(100 * members[code] / top),
            }
            for code in members | associates
        ),
        key=lambda row: (-row["total"], row["name"]),
    )


def cancer_type_label(text: str) -> str:
    """A group's cancer type as the filter shows it: as written in the directory, tidied
    (one space, a capital first letter, "a/b" as "a / b", no possessive "leukaemia's")."""
    label = " ".join(text.split())
    label = re.sub(r"\s*/\s*", " / ", label)
    label = re.sub(r"(\w)'s\b", r"\1s", label)
    return label[:1].upper() + label[1:]


def cancer_type_choices(groups) -> list[tuple[str, str]]:
    """(value, label) for the cancer-type filter: the value as stored (the filter matches
    it), the label tidied; in label order."""
    values = {g.cancer_types for g in groups if g.cancer_types}
    return sorted(((v, cancer_type_label(v)) for v in values), key=lambda c: c[1].lower())


def group_history(*, group: NetworkGroup, limit: int = 200) -> list[dict]:
    """The group's changes, newest first, in words: who (or which import), what changed from
    what to what (pghistory's snapshots, consortium/history.py)."""
    from pghistory.models import Events

    from .history import events_in_words

    events = Events.objects.tracks(group).order_by("-pgh_created_at", "-pgh_id")[:limit]
    return events_in_words(events)


def open_suggestions() -> QuerySet[DirectorySuggestion]:
    return DirectorySuggestion.objects.filter(
        status=DirectorySuggestion.Status.OPEN
    ).select_related("group", "suggested_by")


def api_tokens_of(user: User) -> QuerySet[ApiToken]:
    """The member's tokens that still work, newest first (knox deletes expired ones when they
    are next presented)."""
    return ApiToken.objects.filter(user=user, expiry__gt=timezone.now()).order_by("-created")


def member_list() -> QuerySet[User]:
    """Every member with their institutions (one prefetch for the page) and whether they
    have two-factor sign-in (an allauth TOTP authenticator; one subquery per row)."""
    from allauth.mfa.models import Authenticator

    return User.objects.prefetch_related("institutions").annotate(
        mfa_enabled=Exists(
            Authenticator.objects.filter(user=OuterRef("pk"), type=Authenticator.Type.TOTP)
        )
    )


# --- The inbox ---------------------------------------------------------------------

UNREAD_SHOWN_UP_TO = 99


def inbox_of(user: User) -> QuerySet[InboxItem]:
    """The member's own items, newest first (a member sees no one else's)."""
    if not user.is_authenticated:
        return InboxItem.objects.none()
    return InboxItem.objects.filter(recipient=user).order_by("-created_at", "-id")


def inbox_item_get(*, user: User, pk: int) -> InboxItem:
    return get_object_or_404(inbox_of(user), pk=pk)


def inbox_unread_count(user: User) -> int:
    """The navigation's figure, on every page: one COUNT over the partial index of unread
    items, stopped past UNREAD_SHOWN_UP_TO (the menu shows "99+"), so a member with
    thousands unread costs what one with three does."""
    if not user.is_authenticated:
        return 0
    return len(_UNREAD_OF(member=user.pk))


_UNREAD_OF = PreparedQuery(
    lambda member: InboxItem.objects.filter(recipient=member, read_at__isnull=True).values_list(
        "pk", flat=True
    )[: UNREAD_SHOWN_UP_TO + 1],
    member=-1,
)
