"""What every page's navigation shows."""

from . import selectors


def inbox_unread(request) -> int:
    """The member's unread inbox count, read once per request (the menu and a page cache's
    key share it): one COUNT over a partial index."""
    if not hasattr(request, "_inbox_unread"):
        request._inbox_unread = selectors.inbox_unread_count(request.user)
    return request._inbox_unread


def inbox(request):
    """The unread count of the member's inbox, read when the menu renders it (nothing for
    a page without the menu)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"inbox_unread": lambda: inbox_unread(request)}
