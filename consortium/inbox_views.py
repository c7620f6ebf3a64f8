"""The member's inbox (pages): what happened that is theirs to see, newest first, with
its page one click away; read one or all. Every member sees only their own items."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from . import selectors, services
from .filters import InboxFilter, keyset_page_for, list_page_context, without_blanks
from .redirects import safe_next

PAGE_SIZE = 50


@never_cache
@login_required
def inbox(request):
    filters = InboxFilter(without_blanks(request.GET), queryset=selectors.inbox_of(request.user))
    page, errors = keyset_page_for(request, filters, size=PAGE_SIZE)
    # The items name patients by register number: the page that lists them is logged.
    services.patient_access_log(
        request,
        patient_ids=[item.patient_id for item in page if item.patient_id],
        page="consortium:inbox",
    )
    return render(
        request,
        "consortium/inbox.html",
        {
            **list_page_context(request, filters, page, errors),
        },
        status=400 if errors else 200,
    )


@login_required
def inbox_open(request, pk: int):
    """Follow an item to its page, marking it read (the page checks again who sees it)."""
    item = selectors.inbox_item_get(user=request.user, pk=pk)
    services.inbox_mark_read(user=request.user, item_ids=[item.pk])
    return redirect(safe_next(request, item.url, "/inbox/"))


@require_POST
@login_required
def inbox_read(request, pk: int):
    item = selectors.inbox_item_get(user=request.user, pk=pk)
    services.inbox_mark_read(user=request.user, item_ids=[item.pk])
    return redirect(safe_next(request, request.POST.get("next"), "/inbox/"))


@require_POST
@login_required
def inbox_read_all(request):
    marked = services.inbox_mark_read(user=request.user)
    messages.success(request, f"{marked} item{'s' if marked != 1 else ''} marked read.")
    return redirect(safe_next(request, request.POST.get("next"), "/inbox/"))
