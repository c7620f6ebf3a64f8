"""The register's list filters and sort orders (consortium.filters.SortedFilterSet)."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import django_filters
from django.core.validators import RegexValidator
from django.db.models import Exists, OuterRef

from consortium.filters import SortedFilterSet
from consortium.models import AccessLog, Institution, Membership, User

from . import access_review, history, selectors
from .models import Patient, PatientHistoryEntry, PatientInstitution, TumourEpisode
from .selectors import UNDATED_FIRST


class PatientFilter(SortedFilterSet):
    """The patient list: by institution, diagnosis and vital status; sorted by surname
    (Norwegian order), register number or birth date, each served by an index of that
    order (Patient.Meta.indexes; the register number's unique index)."""

    SORTS = {
        "name": ("Name", ("sort_name", "id")),
        "register_number": ("Register number", ("register_number",)),
        "born": ("Born", ("birth_date", "id")),
    }
    PAGE_IDS_FIRST = True  # the name and birth-date indexes INCLUDE the searched name

    institution = django_filters.ModelChoiceFilter(
        label="Institution",
        to_field_name="code",
        queryset=Institution.objects.filter(kind=Institution.Kind.HOSPITAL),
        method="_at_institution",
    )
    diagnosis = django_filters.ChoiceFilter(
        label="Diagnosis",
        choices=TumourEpisode._meta.get_field("diagnosis").choices,
        method="_with_diagnosis",
    )
    vital_status = django_filters.ChoiceFilter(
        label="Vital status", choices=Patient.VitalStatus.choices
    )

    class Meta:
        model = Patient
        fields = ["institution", "diagnosis", "vital_status"]

    def __init__(self, data=None, *args, request=None, **kwargs):
        super().__init__(data, *args, request=request, **kwargs)
        user = getattr(request, "user", None)
        self._own_institutions = None
        if user is not None and not user.is_consortium_admin:
            self.filters["institution"].queryset = Institution.objects.filter(
                pk__in=selectors.user_institution_ids(user)
            )
            self._own_institutions = user

    @property
    def form(self):
        """The institution select lists the member's institutions as the request has already
        read them (selectors.user_institution_choices), not by a query of its own on every
        view of the list; a chosen code is still checked against the queryset."""
        if not hasattr(self, "_form"):
            form = super().form
            if self._own_institutions is not None:
                field = form.fields["institution"]
                field.widget.choices = [
                    ("", field.empty_label),
                    *selectors.user_institution_choices(self._own_institutions),
                ]
        return self._form

    def sorts(self) -> dict:
        """Trial coordinators see no names: the name order would hint at them."""
        user = getattr(self.request, "user", None)
        if user is not None and not selectors.shows_names(user):
            return {k: v for k, v in self.SORTS.items() if k != "name"}
        return self.SORTS

    @property
    def sort_value(self) -> str:
        chosen = self.form.cleaned_data.get("sort") if self.is_bound else ""
        return chosen or ("name" if "name" in self.sorts() else "register_number")

    @property
    def narrowed(self) -> bool:
        """Whether any filter is set (the unfiltered list's count is cached)."""
        return any(
            self.form.cleaned_data.get(name)
            for name in ("institution", "diagnosis", "vital_status")
        )

    @staticmethod
    def _at_institution(queryset, name, value: str):  # typed for the schema: a code
        return queryset.filter(
            Exists(PatientInstitution.objects.filter(patient=OuterRef("pk"), institution=value))
        )

    @staticmethod
    def _with_diagnosis(queryset, name, diagnosis):
        return queryset.filter(
            Exists(TumourEpisode.objects.filter(patient=OuterRef("pk"), diagnosis=diagnosis))
        )


def _local_midnight(day):
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(access_review.LOCAL_TIME_ZONE))


def _since_day(queryset, name, day):
    """From the start of the day, Oslo time (the `since` of the dated lists)."""
    return queryset.filter(at__gte=_local_midnight(day))


def _until_day(queryset, name, day):
    """To the end of the day, Oslo time (`until` includes the day)."""
    return queryset.filter(at__lt=_local_midnight(day + timedelta(days=1)))


class AccessLogFilter(SortedFilterSet):
    """The access-log review: by member, patient (register number), the members'
    institution, period (local dates, both included), page and flag; newest first."""

    SORTS = {"at": ("Time", ("at", "id"))}
    DEFAULT_SORT = "-at"

    member = django_filters.ModelChoiceFilter(
        label="Member", field_name="user", queryset=User.objects.order_by("sort_name", "email")
    )
    patient = django_filters.CharFilter(
        label="Patient (register number)",
        method="_of_patient",
        validators=[
            RegexValidator(
                r"^NB-[0-9A-Z]{4}-[0-9A-Z]{4}$", "A register number looks like NB-7K3Q-2M9D."
            )
        ],
    )
    institution = django_filters.ModelChoiceFilter(
        label="Member's institution",
        to_field_name="code",
        queryset=Institution.objects.order_by("name"),
        method="_at_institution",
    )
    since = django_filters.DateFilter(label="From (date)", method=_since_day)
    until = django_filters.DateFilter(label="To (date, included)", method=_until_day)
    page = django_filters.ChoiceFilter(label="Page", choices=access_review.page_choices)
    flag = django_filters.ChoiceFilter(
        label="Flag", choices=list(access_review.FLAGS.items()), method="_flagged"
    )

    class Meta:
        model = AccessLog
        fields = ["member", "patient", "institution", "since", "until", "page", "flag"]

    @staticmethod
    def _of_patient(queryset, name, register_number):
        return queryset.filter(
            patient_id__in=Patient.objects.filter(register_number=register_number).values("pk")[:1]
        )

    @staticmethod
    def _at_institution(queryset, name, value: str):  # typed for the schema: a code
        return queryset.filter(
            Exists(Membership.objects.filter(user=OuterRef("user_id"), institution=value))
        )

    @staticmethod
    def _flagged(queryset, name, flag):
        if flag == "many_patients":
            return access_review.many_patients_only(queryset)
        return queryset.filter(**{flag: True})


class WorklistFilter(SortedFilterSet):
    """One institution's incomplete reports: by diagnosis; sorted by diagnosis date (undated
    first: they lack the most) or by when the report was registered. Paged by number: the
    list is an institution's open drafts, and the diagnosis date may be empty."""

    SORTS = {
        "diagnosed": ("Diagnosed", (UNDATED_FIRST, "id")),
        "registered": ("Registered", ("created_at", "id")),
    }
    DEFAULT_SORT = "diagnosed"

    diagnosis = django_filters.ChoiceFilter(
        label="Diagnosis", choices=TumourEpisode._meta.get_field("diagnosis").choices
    )

    class Meta:
        model = TumourEpisode
        fields = ["diagnosis"]


class HistoryFilter(SortedFilterSet):
    """A patient's history: by section, kind of change, member, period (local dates, both
    included) and reason; newest first, or by who (surname, Norwegian order) or what, each
    then by time. The patient's rows come through the contexts' patient index
    (registry/history.py), so each order sorts only that patient's changes."""

    SORTS = {
        "at": ("When", ("at", "id")),
        "who": ("Who", ("who_sort", "at", "id")),
        "what": ("What", ("section", "at", "id")),
    }
    DEFAULT_SORT = "-at"

    section = django_filters.ChoiceFilter(
        label="What", field_name="tracked_model", choices=history.section_choices
    )
    change = django_filters.ChoiceFilter(
        label="Change", field_name="action", choices=list(history.ACTIONS.items())
    )
    member = django_filters.ModelChoiceFilter(
        label="Who", field_name="user", queryset=User.objects.order_by("sort_name", "email")
    )
    since = django_filters.DateFilter(label="From (date)", method=_since_day)
    until = django_filters.DateFilter(label="To (date, included)", method=_until_day)
    reason = django_filters.CharFilter(
        label="Reason contains", field_name="reason", lookup_expr="icontains", max_length=100
    )

    class Meta:
        model = PatientHistoryEntry
        fields = ["section", "change", "member", "since", "until", "reason"]

    def __init__(self, data=None, *args, patient=None, **kwargs):
        super().__init__(data, *args, **kwargs)
        if patient is not None:  # the page's choice: the members who changed this record
            self.filters["member"].queryset = User.objects.filter(
                pk__in=PatientHistoryEntry.objects.filter(patient_id=patient.pk).values("user_id")
            ).order_by("sort_name", "email")
