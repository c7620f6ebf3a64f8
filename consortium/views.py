"""HTML pages of the shared core: home, account, members, the Nordic directory."""

from functools import wraps

from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from . import selectors, services
from .exceptions import EditConflict
from .filters import MemberFilter, keyset_page_for, list_page_context, without_blanks
from .forms import (
    ApiTokenForm,
    DirectoryFilterForm,
    GroupEditForm,
    InviteForm,
    MemberStatusForm,
    SuggestionForm,
    SuggestionResolveForm,
)
from .middleware import passed_mfa_step
from .models import DirectorySuggestion, NetworkGroup, User
from .redirects import safe_next


def role_required(predicate, *, message: str):
    """Signed in, and `predicate(user)` holds; otherwise 403 with a message."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapper(request, *args, **kwargs):
            if not predicate(request.user):
                raise PermissionDenied(message)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


directory_editor_required = role_required(
    lambda u: u.can_edit_directory, message="Only coordinators and admins edit the directory."
)
admin_required = role_required(
    lambda u: u.is_consortium_admin, message="Only consortium admins manage members."
)


def home(request):
    return render(request, "home.html")


# --- Account -----------------------------------------------------------------------


def _api_token_form(data=None) -> ApiTokenForm:
    return ApiTokenForm(
        data,
        default_days=settings.API_TOKEN_DEFAULT_DAYS,
        max_days=settings.API_TOKEN_MAX_DAYS,
    )


def _account_page(request, form, *, new_token: str | None = None, status: int = 200):
    return render(
        request,
        "consortium/account.html",
        {
            "tokens": selectors.api_tokens_of(request.user),
            "token_form": form,
            "new_token": new_token,
        },
        status=status,
    )


@never_cache
@login_required
def account(request):
    return _account_page(request, _api_token_form())


@never_cache
@require_POST
@login_required
def api_token_create(request):
    """A new token for scripts, shown once in this response (never stored, not even in a
    message or the session). Only a session that passed MFA creates one: the MFA middleware
    already ends sessions that skipped the step; this holds for members who chose MFA too."""
    user = request.user
    if (user.requires_mfa or is_mfa_enabled(user)) and not passed_mfa_step(request, user):
        raise PermissionDenied("Sign in with your two-factor code before creating an API token.")
    form = _api_token_form(request.POST)
    if form.is_valid():
        try:
            token, secret = services.api_token_create(user=user, **form.cleaned_data)
        except ValidationError as e:
            for field, errors in e.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            return _account_page(request, _api_token_form(), new_token=secret, status=201)
    return _account_page(request, form, status=400)


@require_POST
@login_required
def api_token_revoke(request, token_key: str):
    if not services.api_token_revoke(user=request.user, token_key=token_key):
        raise Http404("No such token of yours.")
    messages.success(request, f"API token {token_key}… is revoked; scripts using it stop now.")
    return redirect("account")


# --- Members -----------------------------------------------------------------------


@admin_required
def member_list(request):
    filters = MemberFilter(
        without_blanks(request.GET), queryset=selectors.member_list(), request=request
    )
    page, errors = keyset_page_for(request, filters, size=50)
    return render(
        request,
        "consortium/member_list.html",
        {
            **list_page_context(request, filters, page, errors),
        },
        status=400 if errors else 200,
    )


@admin_required
def member_invite(request):
    """The one-time link goes to the invitee by e-mail only: whoever sees it could set the
    member's password, so the admin's page never shows it. After an invitation the form
    starts empty again (redirect after POST)."""
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user, _link = services.member_invite(
                **form.cleaned_data,
                invited_by=request.user,
                base_url=request.build_absolute_uri("/"),
            )
        except ValidationError as e:
            if "confirm_unusual" in e.message_dict:
                form.ask_confirmation()
            for field, errors in e.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(
                request,
                f"{user.email} is invited as {user.get_role_display()}: the one-time link to "
                "set a password has been e-mailed to them (valid 3 days).",
            )
            return redirect("member_invite")
    return render(request, "consortium/member_invite.html", {"form": form})


@require_POST
@admin_required
def member_status(request, member_id: int, action: str):
    """Deactivate or reactivate a member (from the members list)."""
    member = get_object_or_404(User, pk=member_id)
    form = MemberStatusForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    change = services.member_deactivate if action == "deactivate" else services.member_reactivate
    try:
        change(member=member, by=request.user, reason=reason)
    except ValidationError as e:
        messages.error(request, " ".join(e.messages))
    else:
        messages.success(
            request,
            f"{member.email} is deactivated: signed out everywhere, API tokens ended, "
            "no sign-in until reactivated."
            if action == "deactivate"
            else f"{member.email} is active again and can sign in.",
        )
    return redirect(safe_next(request, request.POST.get("next"), reverse("member_list")))


# --- Nordic network directory (public) --------------------------------------------


def directory(request):
    form = DirectoryFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    groups = list(
        selectors.group_list(
            search=filters.get("q", ""),
            country=filters.get("country", ""),
            category=filters.get("category", ""),
            cancer_type=filters.get("cancer_type", ""),
        )
    )
    context = {
        "form": form,
        "groups": groups,
        # Search results are ranked, so they are shown as one list, not by category.
        "by_category": None if filters.get("q") else selectors.groups_by_category(groups),
        "filtered": any(filters.values()),
    }
    if request.headers.get("HX-Request"):  # live search: only the results are replaced
        return render(request, "consortium/directory.html#results", context)
    all_groups = list(selectors.group_list()) if context["filtered"] else groups
    context.update(
        categories=selectors.category_tree(),
        participation=selectors.country_participation(all_groups),
        cancer_types=selectors.cancer_type_choices(all_groups),
    )
    return render(request, "consortium/directory.html", context)


def _listed_group(slug: str) -> NetworkGroup:
    return selectors.group_get(slug=slug)


def group_detail(request, slug: str):
    group = _listed_group(slug)
    context = {"group": group, "country_names": selectors.COUNTRY_NAMES}
    if request.user.is_authenticated and request.user.can_edit_directory:
        context["history"] = selectors.group_history(group=group)
        context["suggestions"] = group.suggestions.filter(
            status=DirectorySuggestion.Status.OPEN
        ).select_related("suggested_by")
    return render(request, "consortium/group_detail.html", context)


@directory_editor_required
def group_edit(request, slug: str):
    group = _listed_group(slug)
    form = GroupEditForm(request.POST or None, instance=group, initial={"version": group.version})
    if request.method == "POST" and form.is_valid():
        changes = {f: form.cleaned_data[f] for f in form.Meta.fields}
        try:
            services.group_update(
                group=group,
                by=request.user,
                expected_version=form.cleaned_data["version"],
                **changes,
            )
        except EditConflict as conflict:
            form.add_error(None, str(conflict))
        except ValidationError as e:
            form.add_error(None, e)
        else:
            messages.success(request, f"{group.name} saved.")
            return redirect(group)
    return render(request, "consortium/group_edit.html", {"group": group, "form": form})


@login_required
def group_suggest(request, slug: str):
    group = _listed_group(slug)
    form = SuggestionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.suggestion_create(
            group=group, by=request.user, message=form.cleaned_data["message"]
        )
        messages.success(request, "Thank you: a coordinator will review your correction.")
        return redirect(group)
    return render(request, "consortium/group_suggest.html", {"group": group, "form": form})


@directory_editor_required
def suggestion_list(request):
    return render(
        request, "consortium/suggestion_list.html", {"suggestions": selectors.open_suggestions()}
    )


@require_POST
@directory_editor_required
def suggestion_resolve(request, pk: int):
    suggestion = get_object_or_404(
        DirectorySuggestion, pk=pk, status=DirectorySuggestion.Status.OPEN
    )
    form = SuggestionResolveForm(request.POST)
    if form.is_valid():
        services.suggestion_resolve(
            suggestion=suggestion,
            by=request.user,
            status=form.cleaned_data["status"],
            note=form.cleaned_data["note"],
        )
        messages.success(request, "Suggestion resolved.")
    else:
        messages.error(request, "Choose applied or dismissed.")
    return redirect("directory:suggestions")
