"""Forms of the screening pages: types and formats only. The rules (consent, states,
who does what, times in order) run in services, so the pages and the API refuse the
same things with the same words. Times are typed in Norwegian time (the active time
zone, Europe/Oslo) and stored in UTC."""

from zoneinfo import available_timezones

from django import forms

from consortium.models import Institution
from consortium.widgets import DecimalInput
from registry.forms import DateInput, DateTimeInput

from .models import Drug, DrugPanel, Receipt, SampleType, ScreeningRequest, Shipment, State
from .selectors import layout_templates


class RequestForm(forms.Form):
    episode = forms.ModelChoiceField(queryset=None, label="Tumour episode")
    lab = forms.ModelChoiceField(
        queryset=Institution.objects.filter(kind=Institution.Kind.LAB), label="Screening lab"
    )
    indication = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    planned_surgery_date = forms.DateField(widget=DateInput)
    surgery_hospital = forms.ModelChoiceField(
        queryset=Institution.objects.filter(kind=Institution.Kind.HOSPITAL)
    )
    panel = forms.ModelChoiceField(
        queryset=DrugPanel.objects.select_related("lab").order_by("lab__code", "name"),
        required=False,
        help_text="A standard panel of the chosen lab, or pick drugs.",
    )
    drugs = forms.ModelMultipleChoiceField(
        queryset=Drug.objects.select_related("lab").order_by("lab__code", "name"),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text="Drugs from the chosen lab's library.",
    )
    priority = forms.ChoiceField(choices=ScreeningRequest.Priority.choices)
    consent_date = forms.DateField(widget=DateInput, required=False)
    consent_form_version = forms.CharField(max_length=40, required=False)
    consent_scope = forms.ChoiceField(
        choices=[("", "---------")] + ScreeningRequest.ConsentScope.choices, required=False
    )

    def __init__(self, *args, episodes, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["episode"].queryset = episodes
        # Option labels say whose library: "UIB-LAB: Temozolomide".
        self.fields["panel"].label_from_instance = lambda p: f"{p.lab.code}: {p.name}"
        self.fields["drugs"].label_from_instance = lambda d: f"{d.lab.code}: {d.name}"


class TransitionForm(forms.Form):
    state = forms.ChoiceField(choices=State.choices)
    note = forms.CharField(required=False, max_length=2000, label="Note or reason")
    expected_sample_date = forms.DateField(widget=DateInput, required=False)
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)


class SampleForm(forms.Form):
    sample_type = forms.ModelChoiceField(queryset=SampleType.objects.all())
    amount = forms.DecimalField(max_digits=8, decimal_places=2, widget=DecimalInput)
    amount_unit = forms.ChoiceField(
        choices=[("mg", "mg"), ("ml", "ml"), ("cells", "million cells")]
    )
    medium = forms.CharField(max_length=100, label="Transport medium")
    collected_at = forms.DateTimeField(widget=DateTimeInput, label="Collected at (Norwegian time)")
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)


class ShipmentForm(forms.Form):
    packaging = forms.ChoiceField(choices=Shipment.Packaging.choices)
    dry_ice_kg = forms.DecimalField(
        max_digits=5, decimal_places=2, required=False, label="Dry ice (kg)", widget=DecimalInput
    )
    courier = forms.CharField(max_length=100)
    tracking_reference = forms.CharField(max_length=100, required=False)
    dispatched_at = forms.DateTimeField(
        widget=DateTimeInput, label="Dispatched at (Norwegian time)"
    )
    expected_arrival = forms.DateTimeField(
        widget=DateTimeInput, label="Expected arrival (Norwegian time)"
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)


class HandOverForm(forms.Form):
    giver = forms.CharField(max_length=150, label="Handed over by")
    receiver = forms.CharField(max_length=150, required=False, label="Received by")
    place = forms.CharField(max_length=150)
    at = forms.DateTimeField(widget=DateTimeInput, label="At (Norwegian time)")


class ReadingForm(forms.Form):
    at = forms.DateTimeField(widget=DateTimeInput, label="At (Norwegian time)")
    celsius = forms.DecimalField(
        max_digits=5, decimal_places=2, label="Temperature (°C)", widget=DecimalInput
    )


class UploadForm(forms.Form):
    file = forms.FileField(label="Logger CSV")
    time_zone = forms.ChoiceField(
        choices=[("", "Given in the file / timestamps carry offsets")]
        + [(z, z) for z in sorted(available_timezones()) if z.startswith(("Europe/", "UTC"))],
        required=False,
        initial="Europe/Oslo",
        help_text="The logger's time zone, for timestamps without an offset.",
    )


class ReceiptForm(forms.Form):
    arrived_at = forms.DateTimeField(widget=DateTimeInput, label="Arrived at (Norwegian time)")
    condition = forms.ChoiceField(
        choices=Receipt.Condition.choices, label="Condition of the package"
    )
    arrival_celsius = forms.DecimalField(
        max_digits=5, decimal_places=1, label="Temperature on arrival (°C)", widget=DecimalInput
    )
    viable_cell_count = forms.IntegerField(min_value=0, required=False, label="Viable cells")
    viability_percent = forms.DecimalField(
        max_digits=4, decimal_places=1, required=False, label="Viability (%)", widget=DecimalInput
    )
    decision = forms.ChoiceField(
        choices=[("accept", "Accept the sample"), ("reject", "Reject the sample")]
    )
    rejection_reason = forms.CharField(required=False, max_length=2000)
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)


# --- Plate results --------------------------------------------------------------------------------


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several readout files in one upload (Django's documented pattern)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, (list, tuple)):
            return [single(d, initial) for d in data]
        return [single(data, initial)]


class PlateUploadForm(forms.Form):
    layout = forms.FileField(
        label="Layout CSV",
        required=False,
        help_text="plate, well, drug, concentration (with unit), role.",
    )
    layout_template = forms.ModelChoiceField(
        queryset=None, required=False, label="Or a saved layout"
    )
    plate_format = forms.TypedChoiceField(
        choices=[(384, "384 wells"), (96, "96 wells")], coerce=int, initial=384
    )
    readouts = MultipleFileField(
        label="Readout files",
        help_text="Long form (plate, well, signal) or the reader's grid export.",
    )
    save_template_as = forms.CharField(
        max_length=100,
        required=False,
        label="Save the layout as",
        help_text="A name to reuse this layout.",
    )

    def __init__(self, *args, lab_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["layout_template"].queryset = layout_templates(lab_id)


class OverrideForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), label="Why score this failed plate?"
    )


class ReportForm(forms.Form):
    interpretation = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}), label="The lab's interpretation", required=False
    )
    top_drugs = forms.IntegerField(
        min_value=1, max_value=50, initial=10, label="Top-ranked drugs shown"
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)


class SignForm(forms.Form):
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        label="Your password (to sign)",
    )
    version = forms.IntegerField(widget=forms.HiddenInput)
