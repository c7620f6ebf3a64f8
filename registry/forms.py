"""Forms of the register: one per section of the report. Forms check types and
formats; the entry rules (dates in order, grades, markers, doses) live in rules.py and
run in services, so the browser and the API give the same errors."""

from datetime import date

from django import forms

from consortium.models import Institution
from consortium.widgets import DecimalInput

from . import vocabulary
from .models import (
    FollowUp,
    MarkerMethod,
    MarkerResult,
    Patient,
    PerformanceStatus,
    RadiotherapyCourse,
    Surgery,
    SystemicTherapy,
    TumourEpisode,
)
from .rules import CARE_DECLARATION_REQUIRED, EPISODE_FIELDS, PATIENT_FIELDS


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%dT%H:%M")


class AcknowledgeField(forms.MultipleChoiceField):
    """Checkboxes for the warnings a save raised. Any code is accepted here: the
    service compares them with the warnings the values raise now."""

    def __init__(self):
        super().__init__(
            label="I have read these warnings and save anyway",
            required=False,
            widget=forms.CheckboxSelectMultiple,
            choices=[],
        )

    def valid_value(self, value) -> bool:
        return True


VERSION_REQUIRED = (
    "The version you loaded is missing; reload the page, so a newer edit is not overwritten."
)


class SectionForm(forms.ModelForm):
    """Fields every section form carries: the version it was loaded at (a later save by
    someone else is then refused), the reason for a change, and the acknowledgement of
    the warnings shown."""

    version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    reason = forms.CharField(
        label="Reason for change (optional; kept in the history)", required=False, max_length=500
    )
    acknowledge_warnings = AcknowledgeField()

    def __init__(self, *args, warnings=(), **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and "version" not in self.initial:
            self.initial["version"] = self.instance.version
        if self.instance.pk and "version" in self.fields:
            # A change to a stored row names the version it was loaded at, or a newer
            # edit would be overwritten without anyone knowing.
            self.fields["version"].required = True
            self.fields["version"].error_messages["required"] = VERSION_REQUIRED
        self.fields["acknowledge_warnings"].choices = [(w.code, w.message) for w in warnings]
        for field in self.fields.values():
            if isinstance(field, forms.DateField):
                field.widget = DateInput()
            elif isinstance(field, forms.DateTimeField):
                field.widget = DateTimeInput()
            elif isinstance(field, (forms.DecimalField, forms.FloatField)):
                field.widget = DecimalInput()  # "59,4" Gy as typed in Norway

    def changes(self) -> dict:
        return {name: self.cleaned_data[name] for name in self._meta.fields}


def hospitals():
    return Institution.objects.filter(kind=Institution.Kind.HOSPITAL).order_by("code")


class PatientCreateForm(SectionForm):
    national_id = forms.CharField(
        label="National ID (fødselsnummer or D-number)",
        max_length=13,
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
    )
    institutions = forms.ModelMultipleChoiceField(
        queryset=Institution.objects.none(),
        label="Treating institutions",
        widget=forms.CheckboxSelectMultiple,
        help_text="Every institution that diagnoses or treats the patient; "
        "their clinicians see the record.",
    )

    treats_patient = forms.BooleanField(
        label="I treat this patient (a care relationship: diagnosis, treatment or follow-up)",
        error_messages={"required": CARE_DECLARATION_REQUIRED},
    )
    care_reason = forms.CharField(
        label="Why you treat the patient",
        max_length=500,
        help_text="For example: referred to our hospital for surgery. If the patient is "
        "already in the register, your institution is linked to the record and its other "
        "institutions see this declaration.",
        error_messages={"required": CARE_DECLARATION_REQUIRED},
    )

    class Meta:
        model = Patient
        fields = PATIENT_FIELDS
        help_texts = {
            "birth_date": "Leave empty to take it from the national ID.",
            "sex": "Leave empty to take it from the national ID.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["institutions"].queryset = hospitals()
        self.fields["birth_date"].required = False
        self.fields["sex"].required = False
        self.fields["sex"].choices = [("", "From the national ID")] + list(Patient.Sex.choices)
        del self.fields["acknowledge_warnings"]
        del self.fields["version"]


class HNumberReplaceForm(forms.Form):
    """The person's national ID for a record registered with a temporary H-number."""

    national_id = forms.CharField(
        label="National ID (fødselsnummer or D-number)",
        max_length=13,
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
    )
    care_reason = forms.CharField(
        label="Why you treat the patient",
        max_length=500,
        help_text="Your declared care relationship. If the national ID is already in the "
        "register, your institution is linked to that record and its other institutions see "
        "this declaration.",
        error_messages={"required": CARE_DECLARATION_REQUIRED},
    )
    reason = forms.CharField(
        label="Where the national ID comes from",
        max_length=500,
        required=False,
        help_text="Kept in the record's history, e.g. confirmed in the Folkeregister.",
    )
    version = forms.IntegerField(widget=forms.HiddenInput)


class PatientEditForm(SectionForm):
    institutions = forms.ModelMultipleChoiceField(
        queryset=Institution.objects.none(),
        label="Treating institutions",
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = Patient
        fields = PATIENT_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["institutions"].queryset = hospitals()
        if self.instance.pk and "institutions" not in self.initial:
            self.initial["institutions"] = list(self.instance.institutions.all())
        del self.fields["acknowledge_warnings"]


class MdtDatesField(forms.CharField):
    """MDT meeting dates as one text field: dates separated by commas or spaces,
    written 2026-03-14 or 14.03.2026."""

    def prepare_value(self, value):
        if isinstance(value, list):
            return ", ".join(
                d.strftime("%d.%m.%Y") if isinstance(d, date) else str(d) for d in value
            )
        return value

    def to_python(self, value):
        days = []
        for part in (value or "").replace(";", ",").replace(" ", ",").split(","):
            part = part.strip()
            if not part:
                continue
            for parse in (
                date.fromisoformat,
                lambda p: date(*reversed([int(x) for x in p.split(".")])),
            ):
                try:
                    days.append(parse(part))
                    break
                except (ValueError, TypeError):
                    continue
            else:
                raise forms.ValidationError(
                    f"'{part}' is not a date; write 14.03.2026 or 2026-03-14."
                )
        return days


class EpisodeForm(SectionForm):
    diagnosis = forms.ChoiceField(
        label="WHO CNS5 integrated diagnosis",
        required=False,
        choices=[("", "---------")] + vocabulary.tumour_type_choices(),
    )
    who_grade = forms.TypedChoiceField(
        label="CNS WHO grade",
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "---------")] + [(g, str(g)) for g in range(1, 5)],
    )
    mdt_dates = MdtDatesField(
        label="MDT meeting dates",
        required=False,
        help_text="Separate dates with commas, e.g. 14.03.2026, 02.05.2026.",
    )

    class Meta:
        model = TumourEpisode
        fields = EPISODE_FIELDS


class MarkersForm(forms.Form):
    """Result and method for each marker of the reference's variable set."""

    version = forms.IntegerField(
        widget=forms.HiddenInput, error_messages={"required": VERSION_REQUIRED}
    )
    reason = SectionForm.base_fields["reason"]
    acknowledge_warnings = AcknowledgeField()

    def __init__(self, *args, episode: TumourEpisode, warnings=(), **kwargs):
        super().__init__(*args, **kwargs)
        stored = {m.marker: m for m in episode.markers.all()}
        self.initial.setdefault("version", episode.markers_version)
        self.fields["acknowledge_warnings"].choices = [(w.code, w.message) for w in warnings]
        for marker, label in vocabulary.MARKERS.items():
            self.fields[f"{marker}_result"] = forms.ChoiceField(
                label=label,
                required=False,
                choices=[("", "Not recorded")] + list(MarkerResult.choices),
            )
            self.fields[f"{marker}_method"] = forms.ChoiceField(
                label=f"{label}: method",
                required=False,
                choices=[("", "---------")] + list(MarkerMethod.choices),
            )
            if marker in stored:
                self.initial.setdefault(f"{marker}_result", stored[marker].result)
                self.initial.setdefault(f"{marker}_method", stored[marker].method)

    def rows(self):
        return [
            (label, self[f"{m}_result"], self[f"{m}_method"])
            for m, label in vocabulary.MARKERS.items()
        ]

    def results(self) -> dict:
        return {
            m: (self.cleaned_data[f"{m}_result"], self.cleaned_data[f"{m}_method"])
            for m in vocabulary.MARKERS
        }


class SurgeryForm(SectionForm):
    class Meta:
        model = Surgery
        fields = [
            "surgery_date",
            "surgery_end_time",
            "operating_institution",
            "procedure",
            "extent_of_resection",
            "postoperative_mri_at",
            "complications_within_30_days",
            "complications",
            "reoperation",
        ]
        widgets = {
            "surgery_end_time": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "complications": forms.Textarea(attrs={"rows": 2}),
        }


class RadiotherapyForm(SectionForm):
    class Meta:
        model = RadiotherapyCourse
        fields = ["start_date", "end_date", "total_dose_gy", "fractions", "completed_as_planned"]


class SystemicTherapyForm(SectionForm):
    class Meta:
        model = SystemicTherapy
        fields = ["regimen", "regimen_other", "cycles", "start_date", "stop_date", "stop_reason"]


class PerformanceStatusForm(SectionForm):
    ecog = forms.TypedChoiceField(
        label="ECOG",
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "---------")] + [(i, str(i)) for i in range(6)],
    )
    karnofsky = forms.TypedChoiceField(
        label="Karnofsky",
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "---------")] + [(i, str(i)) for i in range(0, 101, 10)],
    )

    class Meta:
        model = PerformanceStatus
        fields = ["assessed_on", "ecog", "karnofsky"]


class FollowUpForm(SectionForm):
    class Meta:
        model = FollowUp
        fields = ["assessed_on", "rano_response", "progression", "progression_date", "notes"]
        widgets = {"notes": forms.Textarea(attrs={"rows": 2})}


class SearchForm(forms.Form):
    q = forms.CharField(
        label="Register number, national ID or name", required=False, max_length=100
    )


class ReopenForm(forms.Form):
    reason = forms.CharField(
        label="Why is the report reopened?",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=1000,
    )
