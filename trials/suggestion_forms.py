"""Forms of the suggested-criteria panel: accept or reject (the trial's version, so a
decision made on a page that is out of date is refused), and the edit form, whose fields
follow the criteria schema of the suggestion's kind (trials/criteria_kinds.py), so a
coordinator edits a value without writing JSON."""

from django import forms

from registry import vocabulary

from .criteria_kinds import EXTENTS, KINDS, REGIMENS
from .models import Suggestion

_CHOICE_LABELS = {
    "codes": {code: t.label for code, t in vocabulary.TUMOUR_TYPES.items()},
    "marker": vocabulary.MARKERS,
    "result": {"altered": "Altered (mutant, methylated, codeleted...)", "wildtype": "Wildtype"},
    "scale": {"ecog": "ECOG", "karnofsky": "Karnofsky"},
    "setting": {"newly_diagnosed": "Newly diagnosed", "recurrent": "Recurrent"},
    "regimen": REGIMENS,
    "extents": EXTENTS,
}
_FIELD_LABELS = {
    "codes": "Diagnoses",
    "grades": "CNS WHO grades",
    "min": "Lowest score",
    "max": "Highest score",
    "min_progressions": "At least this many progressions",
    "max_progressions": "At most this many progressions",
    "min_weeks": "Weeks since the end of radiotherapy, at least",
    "min_years": "Age from (years)",
    "max_years": "Age up to (years)",
}


class DecisionForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)


def _choices(name: str, values: list) -> list:
    labels = _CHOICE_LABELS.get(name, {})
    return [(v, labels.get(v, str(v))) for v in values]


class SuggestionEditForm(forms.Form):
    """The suggestion's value field by field (its kind's schema), its sense and its arm."""

    version = forms.IntegerField(widget=forms.HiddenInput)
    polarity = forms.ChoiceField(choices=Suggestion.Polarity.choices, label="The patient")

    def __init__(self, *args, suggestion: Suggestion, arms: list, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = suggestion.kind
        kind = KINDS[self.kind]
        required = set(kind.required)
        self.value_fields = []
        for name, schema in kind.schema.items():
            label = _FIELD_LABELS.get(name, name.replace("_", " ").capitalize())
            kinds = schema.get("type")
            kinds = set(kinds) if isinstance(kinds, list) else {kinds}
            if "enum" in schema:
                field = forms.ChoiceField(choices=_choices(name, schema["enum"]), label=label)
            elif schema.get("type") == "array":
                field = forms.TypedMultipleChoiceField(
                    choices=_choices(name, schema["items"]["enum"]),
                    coerce=int if isinstance(schema["items"]["enum"][0], int) else str,
                    widget=forms.CheckboxSelectMultiple,
                    label=label,
                )
            elif "integer" in kinds:
                field = forms.IntegerField(
                    required=name in required,
                    min_value=schema.get("minimum"),
                    max_value=schema.get("maximum"),
                    label=label,
                )
            else:
                field = forms.FloatField(
                    required=name in required,
                    min_value=schema.get("minimum"),
                    max_value=schema.get("maximum"),
                    label=label,
                )
            self.fields[f"value_{name}"] = field
            self.value_fields.append(name)
        self.fields["arm"] = forms.TypedChoiceField(
            choices=[("", "Whole trial"), *((str(a.pk), a.label) for a in arms)],
            coerce=int,
            empty_value=None,
            required=False,
            label="Applies to",
        )
        if not self.is_bound:
            for name in self.value_fields:
                self.initial[f"value_{name}"] = suggestion.value.get(name)
            self.initial["polarity"] = suggestion.polarity
            self.initial["arm"] = str(suggestion.arm_id) if suggestion.arm_id else ""

    def value(self) -> dict:
        data = self.cleaned_data
        return {
            name: data[f"value_{name}"]
            for name in self.value_fields
            if data.get(f"value_{name}") not in (None, "", [])
        }

    def value_bound_fields(self):
        return [self[f"value_{name}"] for name in self.value_fields]
