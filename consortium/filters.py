"""List filters and sorting, with django-filter (https://django-filter.readthedocs.io/):
every list's filters are a FilterSet, so a bad value is refused the same way everywhere:
a 400 in the API's one error shape naming the parameter (DjangoFilterBackend raises it),
and the form's message on the page.

`sort` is one more filter: a column's name, with "-" before it for the other direction.
Each sortable column maps to the fields of its order, which end in a unique field (the
keyset pages' tie-breaker) and match an index."""

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from rest_framework import exceptions

from .models import InboxItem, Institution, Role, User
from .widgets import PlainSelect


class TrueOrFalseField(forms.NullBooleanField):
    """Exactly "true" or "false" (what the schema's boolean says), or left out. Django's
    NullBooleanField reads any other text, "0.5" or "maybe", as "any" and lists everything:
    a filter the member thinks they set would silently not apply."""

    widget = forms.Select(choices=[("", "Any"), ("true", "Yes"), ("false", "No")])

    def to_python(self, value):
        if value in (None, ""):
            return None
        if isinstance(value, bool):  # an initial value
            return value
        if value in ("true", "false"):
            return value == "true"
        raise ValidationError('Give "true" or "false".', code="invalid")


class TrueOrFalseFilter(django_filters.BooleanFilter):
    field_class = TrueOrFalseField


class SortedFilterSet(django_filters.FilterSet):
    # column -> (label, the order's fields ascending, ending in a unique field)
    SORTS: dict[str, tuple[str, tuple[str, ...]]] = {}
    DEFAULT_SORT = ""
    # Find a page's ids before its rows (consortium.pagination._rows): for a list whose
    # order's indexes INCLUDE the column it is searched by.
    PAGE_IDS_FIRST = False

    sort = django_filters.ChoiceFilter(
        label="Sort by", method="_sort_later", empty_label="(default order)"
    )

    def __init__(self, data=None, *args, **kwargs):
        super().__init__(data, *args, **kwargs)
        # An empty parameter is refused rather than read as "any": the schema lists each
        # filter's values, and "" is not one. Pages drop their forms' empty fields first
        # (without_blanks).
        self._blank = [n for n in self.filters if data is not None and data.get(n) == ""]
        self.filters["sort"].extra["choices"] = [
            (f"{sign}{column}", f"{label} ({'descending' if sign else 'ascending'})")
            for column, (label, _) in self.sorts().items()
            for sign in ("", "-")
        ]

    def get_form_class(self):
        blank = self._blank

        class Form(super().get_form_class()):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                # The filters' selects written out in Python (consortium.widgets).
                for field in self.fields.values():
                    if type(field.widget) is forms.Select:
                        field.widget = PlainSelect(
                            attrs=field.widget.attrs, choices=field.widget.choices
                        )

            def clean(self):
                cleaned = super().clean()
                for name in blank:
                    self.add_error(name, "Leave the parameter out instead of leaving it empty.")
                return cleaned

        return Form

    def sorts(self) -> dict:
        """The columns this member may sort by (a subclass may leave some out)."""
        return self.SORTS

    @staticmethod
    def _sort_later(queryset, name, value: str):  # the type hint types the schema's enum
        return queryset  # filter_queryset orders once every filter has run

    @property
    def sort_value(self) -> str:
        chosen = self.form.cleaned_data.get("sort") if self.is_bound else ""
        return chosen or self.DEFAULT_SORT

    def order(self) -> tuple:
        """The chosen sort's order: field names ("-" for descending) or, for a list paged by
        number, order expressions (F("x").asc(nulls_first=True)), reversed for "-column"."""
        value = self.sort_value
        column = value.lstrip("-")
        fields = self.sorts()[column][1]
        if not value.startswith("-"):
            return fields
        return tuple(
            (f[1:] if f.startswith("-") else f"-{f}")
            if isinstance(f, str)
            else f.copy().reverse_ordering()
            for f in fields
        )

    def filter_queryset(self, queryset):
        return super().filter_queryset(queryset).order_by(*self.order())


def without_blanks(query):
    """A page's query without the empty fields its filter form sent ("any")."""
    query = query.copy()
    for name in [n for n, v in query.items() if v == ""]:
        query.pop(name)
    return query


def filtered(filterset: django_filters.FilterSet):
    """The filterset's rows, or the API's 400 naming each bad parameter (for views that
    call a FilterSet themselves, as DjangoFilterBackend does for generic views)."""
    if not filterset.is_valid():
        raise exceptions.ValidationError(
            {name: [str(m) for m in messages] for name, messages in filterset.errors.items()}
        )
    return filterset.qs


def errors_in_words(filterset: django_filters.FilterSet) -> list[str]:
    """The form's errors as sentences for a page: 'Sort by: Select a valid choice…'."""
    return [
        f"{filterset.form.fields[name].label or name}: {' '.join(messages)}"
        if name in filterset.form.fields
        else " ".join(messages)
        for name, messages in filterset.errors.items()
    ]


def keyset_page_for(request, filterset: SortedFilterSet, *, size: int):
    """For a page (not the API): the filtered, sorted keyset page and no errors; or, when a
    filter, the sort or a cursor is bad, the unfiltered first page and the errors in words
    (the page answers 400 and shows them)."""
    from .pagination import keyset_page

    errors = errors_in_words(filterset)
    unfiltered = filterset.queryset.order_by(*filterset.order())
    try:
        if errors:
            return keyset_page(unfiltered, size=size), errors
        return keyset_page(
            filterset.qs,
            after=request.GET.get("after", ""),
            before=request.GET.get("before", ""),
            size=size,
            ids_first=filterset.PAGE_IDS_FIRST,
        ), []
    except ValidationError as error:
        return keyset_page(unfiltered, size=size), [*errors, *error.messages]


def list_page_context(request, filterset: SortedFilterSet, page, errors) -> dict:
    """What every sorted, filtered, keyset-paged list page's template reads: the filters, the
    errors in words, the page, the sort and the query its links keep."""
    return {
        "filters": filterset,
        "errors": errors,
        "page": page,
        "sort": filterset.sort_value,
        "keep": without_blanks(request.GET),
    }


class MemberFilter(SortedFilterSet):
    """The members list (admins): by role, institution, active or not, and name or e-mail
    contains; sorted by e-mail, name, role or the day they joined (each an index)."""

    SORTS = {
        "email": ("E-mail", ("email",)),
        "name": ("Name", ("sort_name", "id")),
        "role": ("Role", ("role", "id")),
        "joined": ("Joined", ("date_joined", "id")),
    }
    DEFAULT_SORT = "email"

    search = django_filters.CharFilter(
        label="Name or e-mail contains", method="_search", max_length=100
    )
    role = django_filters.ChoiceFilter(label="Role", choices=Role.choices)
    institution = django_filters.ModelChoiceFilter(
        label="Institution",
        field_name="institutions",
        to_field_name="code",
        queryset=Institution.objects.order_by("name"),
    )
    active = TrueOrFalseFilter(label="Active", field_name="is_active")

    class Meta:
        model = User
        fields = ["search", "role", "institution", "active"]

    @staticmethod
    def _search(queryset, name, text):
        return queryset.filter(Q(full_name__icontains=text) | Q(email__icontains=text))


class InboxFilter(SortedFilterSet):
    """A member's inbox: unread only or all, by kind; newest first (or oldest)."""

    SORTS = {"received": ("Received", ("created_at", "id"))}
    DEFAULT_SORT = "-received"

    unread = TrueOrFalseFilter(label="Unread only", field_name="read_at", lookup_expr="isnull")
    kind = django_filters.ChoiceFilter(label="Kind", choices=InboxItem.Kind.choices)

    class Meta:
        model = InboxItem
        fields = ["unread", "kind"]
