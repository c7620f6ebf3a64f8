"""The screening lists' filters and sort orders (consortium.filters.SortedFilterSet)."""

import django_filters

from consortium.filters import SortedFilterSet
from consortium.models import Institution

from .models import ScreeningRequest, State


class RequestFilter(SortedFilterSet):
    """Screening requests by state, priority and lab; newest first, or by planned
    surgery date (each order an index of ScreeningRequest)."""

    SORTS = {
        "requested": ("Requested", ("created_at", "id")),
        "surgery": ("Planned surgery", ("planned_surgery_date", "id")),
    }
    DEFAULT_SORT = "-requested"

    state = django_filters.ChoiceFilter(label="State", choices=State.choices)
    priority = django_filters.ChoiceFilter(
        label="Priority", choices=ScreeningRequest.Priority.choices
    )
    lab = django_filters.ModelChoiceFilter(
        label="Lab",
        to_field_name="code",
        queryset=Institution.objects.filter(kind=Institution.Kind.LAB).order_by("code"),
    )

    class Meta:
        model = ScreeningRequest
        fields = ["state", "priority", "lab"]
