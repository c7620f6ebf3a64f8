"""What every page's navigation shows."""

from functools import cache

from . import selectors


def inbox(request):
    """The unread count of the member's inbox, read when the menu renders it (one COUNT
    over a partial index, at most once per page; nothing for a page without the menu)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"inbox_unread": cache(lambda: selectors.inbox_unread_count(user))}
