"""Forms of research access: the application, the decision and the extract request."""

from django import forms

from consortium.models import Institution, Role, User

from . import research_dictionary as dictionary
from .indicators import DIAGNOSIS_GROUPS
from .research_models import LegalBasis


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


def variable_choices(names: list[str] | None = None) -> list[tuple[str, list]]:
    """The data dictionary's variables by table, for grouped checkboxes."""
    groups = []
    for table in dictionary.tables():
        options = [
            (
                dictionary.qualified(v),
                f"{v.label} ({v.name}{', restricted' if v.restricted else ''})",
            )
            for v in table.variables
            if v.deliverable and (names is None or dictionary.qualified(v) in names)
        ]
        if options:
            groups.append((table.label, options))
    return groups


def diagnosis_choices() -> list[tuple[str, list]]:
    from .research_aggregates import _diagnosis_label

    return [
        (label, [(code, _diagnosis_label(code)) for code in codes if code])
        for _, (label, codes) in DIAGNOSIS_GROUPS.items()
        if any(codes)
    ]


class ProjectApplicationForm(forms.Form):
    title = forms.CharField(max_length=300)
    purpose = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), max_length=5000)
    institution = forms.ModelChoiceField(queryset=Institution.objects.none())
    researchers = forms.ModelMultipleChoiceField(
        queryset=User.objects.none(),
        required=False,
        help_text="Other researchers who may download the deliveries.",
        widget=forms.CheckboxSelectMultiple,
    )
    rek_number = forms.CharField(label="REK approval number", max_length=40)
    rek_date = forms.DateField(label="REK approval date", widget=DateInput())
    legal_basis = forms.ChoiceField(choices=LegalBasis.choices)
    end_date = forms.DateField(label="Project end date", widget=DateInput())
    variables = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple,
        help_text="Restricted variables (exact dates) are delivered only when approved by name.",
    )
    cohort_diagnoses = forms.MultipleChoiceField(
        label="Diagnoses", required=False, help_text="None chosen: every diagnosis."
    )
    cohort_year_from = forms.IntegerField(
        label="Diagnosed from (year)", required=False, min_value=1950, max_value=2100
    )
    cohort_year_to = forms.IntegerField(
        label="Diagnosed until (year)", required=False, min_value=1950, max_value=2100
    )
    cohort_regions = forms.MultipleChoiceField(
        label="Health regions",
        required=False,
        choices=Institution.HealthRegion.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="None chosen: all of Norway.",
    )

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["institution"].queryset = user.institutions.order_by("code")
        self.fields["researchers"].queryset = (
            User.objects.filter(role=Role.RESEARCHER, is_active=True)
            .exclude(pk=user.pk)
            .order_by("sort_name", "email")
        )
        self.fields["variables"].choices = variable_choices()
        self.fields["cohort_diagnoses"].choices = diagnosis_choices()
        if not self.is_bound:
            self.initial.setdefault("variables", dictionary.default_variables())


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[("approve", "Approve"), ("decline", "Decline")], widget=forms.RadioSelect
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)
    version = forms.IntegerField(widget=forms.HiddenInput)


class ExtractRequestForm(forms.Form):
    variables = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        # The approved variables; anything else is refused naming it (the form's choice
        # check, and the service's for the API).
        self.fields["variables"].choices = variable_choices(list(project.variables))
        if not self.is_bound:
            self.initial["variables"] = list(project.variables)
