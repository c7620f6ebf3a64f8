import re

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError

from .exceptions import EditConflict
from .models import DirectorySuggestion, Institution, NetworkGroup, Role
from .services import GROUP_EDITABLE_FIELDS

ALPHA2 = re.compile(r"^[A-Z]{2}$")


def _country_codes(values: list[str], field: str) -> list[str]:
    codes = [v.strip().upper() for v in values if v.strip()]
    bad = [c for c in codes if not ALPHA2.match(c)]
    if bad:
        raise forms.ValidationError(
            f"{field}: {', '.join(bad)} is not an ISO 3166 alpha-2 code (two letters, e.g. NO)."
        )
    return sorted(set(codes))


class GroupEditForm(forms.ModelForm):
    version = forms.IntegerField(widget=forms.HiddenInput)
    countries = forms.CharField(
        required=False, help_text="Comma-separated ISO codes, e.g. DK, FI, IS, NO, SE."
    )
    associate_countries = forms.CharField(required=False, help_text="Comma-separated ISO codes.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in ("countries", "associate_countries"):
            self.initial[field] = ", ".join(getattr(self.instance, field) or [])

    class Meta:
        model = NetworkGroup
        fields = GROUP_EDITABLE_FIELDS
        widgets = {
            "cancer_types": forms.Textarea(attrs={"rows": 2}),
            "scope": forms.Textarea(attrs={"rows": 2}),
            "participants": forms.Textarea(attrs={"rows": 2}),
            "focus": forms.Textarea(attrs={"rows": 3}),
            "key_activities": forms.Textarea(attrs={"rows": 4}),
        }

    def clean_countries(self):
        return _country_codes(self.cleaned_data["countries"].split(","), "Countries")

    def clean_associate_countries(self):
        return _country_codes(
            self.cleaned_data["associate_countries"].split(","), "Associate countries"
        )


class SuggestionForm(forms.ModelForm):
    class Meta:
        model = DirectorySuggestion
        fields = ["message"]
        labels = {"message": "What should be corrected?"}
        widgets = {"message": forms.Textarea(attrs={"rows": 4})}


class SuggestionResolveForm(forms.Form):
    status = forms.ChoiceField(
        choices=[
            (DirectorySuggestion.Status.APPLIED, "Applied"),
            (DirectorySuggestion.Status.DISMISSED, "Dismissed"),
        ]
    )
    note = forms.CharField(required=False, max_length=1000)


class InviteForm(forms.Form):
    email = forms.EmailField()
    full_name = forms.CharField(max_length=200, required=False)
    role = forms.ChoiceField(choices=Role.choices)
    institutions = forms.ModelMultipleChoiceField(
        queryset=Institution.objects.all(), widget=forms.CheckboxSelectMultiple
    )
    # Shown once the role is unusual at the chosen institutions (the service asks).
    confirm_unusual = forms.BooleanField(
        required=False,
        widget=forms.HiddenInput,
        label="Yes, this role at these institutions is right",
    )

    def ask_confirmation(self) -> None:
        self.fields["confirm_unusual"].widget = forms.CheckboxInput()


class MemberStatusForm(forms.Form):
    reason = forms.CharField(max_length=500, required=False, label="Why (kept in the history)")


class DirectoryFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search")
    country = forms.CharField(required=False, max_length=2)
    category = forms.SlugField(required=False)
    cancer_type = forms.CharField(required=False, max_length=200, label="Cancer type")


# --- Service writes from forms (every app's views) -----------------------------------------


def add_service_errors(form, error: ValidationError) -> None:
    """A service's ValidationError on the form: on the named field when the form has it,
    else as a form error that still names the field (the rule and the field, always)."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for name, texts in error.message_dict.items():
        if name in form.fields:
            form.add_error(name, texts)
        else:
            form.add_error(None, [f"{name.replace('_', ' ').capitalize()}: {t}" for t in texts])


def write_with_form(request, form, write, success: str, *, on_error=add_service_errors):
    """Run a service write for a bound form. A conflict (someone saved first) or a refused
    rule goes onto the form, nothing is saved; on success a message. Returns the write's
    result (True when it returns nothing), or None when refused."""
    try:
        result = write()
    except EditConflict as conflict:
        form.add_error(None, str(conflict))
    except ValidationError as error:
        on_error(form, error)
    else:
        messages.success(request, success)
        return True if result is None else result
    return None


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        max_length=100, label="What is it for?", help_text="E.g. the script that uses it."
    )

    def __init__(self, *args, default_days: int, max_days: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["days"] = forms.IntegerField(
            label="Valid for (days)",
            min_value=1,
            max_value=max_days,
            initial=default_days,
            help_text=f"At most {max_days} days.",
        )
