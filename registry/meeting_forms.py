"""Forms of the tumour-board (MDT) pages. They collect and parse; meeting_services
decides (rules, permissions) and its errors are put back on the fields."""

from datetime import datetime

from django import forms
from django.db.models import Q
from django.utils import timezone

from consortium.models import Institution, Role, User

from . import selectors
from .models import MdtDiscipline, MdtMeeting, MdtPlan, TumourEpisode


class DateInput(forms.DateInput):
    input_type = "date"


class TimeInput(forms.TimeInput):
    input_type = "time"


def _member_label(member: User) -> str:
    codes = ", ".join(i.code for i in member.institutions.all())
    return f"{member.full_name or member.email} ({codes})"


class MeetingForm(forms.Form):
    """Date, time, hospital, kind and the members by discipline (one list per discipline)."""

    institution = forms.ModelChoiceField(queryset=Institution.objects.none(), label="Hospital")
    kind = forms.ChoiceField(choices=MdtMeeting.Kind.choices)
    day = forms.DateField(widget=DateInput, label="Date")
    starts = forms.TimeField(widget=TimeInput, label="Starts")
    ends = forms.TimeField(widget=TimeInput, label="Ends")
    title = forms.CharField(max_length=200, required=False)
    location = forms.CharField(max_length=200, required=False, help_text="Room or video link.")
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, user: User, meeting: MdtMeeting | None = None, **kwargs):
        if meeting is not None and not kwargs.get("data"):
            start, end = timezone.localtime(meeting.starts_at), timezone.localtime(meeting.ends_at)
            kwargs["initial"] = {
                "institution": meeting.institution_id,
                "kind": meeting.kind,
                "day": start.date(),
                "starts": start.time(),
                "ends": end.time(),
                "title": meeting.title,
                "location": meeting.location,
                "version": meeting.version,
                **{
                    d: [p.member_id for p in meeting.participants.all() if p.discipline == d]
                    for d in MdtDiscipline.values
                },
            }
        super().__init__(*args, **kwargs)
        self.fields["institution"].queryset = Institution.objects.filter(
            kind=Institution.Kind.HOSPITAL, pk__in=selectors.user_institution_ids(user)
        )
        members = (
            User.objects.filter(is_active=True, role__in=[Role.CLINICIAN, Role.COORDINATOR])
            .prefetch_related("institutions")
            .order_by("sort_name", "email")
        )
        choices = [(m.pk, _member_label(m)) for m in members]
        self._members = {m.pk: m for m in members}
        for discipline, label in MdtDiscipline.choices:
            self.fields[discipline] = forms.TypedMultipleChoiceField(
                choices=choices,
                coerce=int,
                required=False,
                label=label,
                widget=forms.SelectMultiple(attrs={"size": 4}),
            )
        if meeting is not None:
            self.fields["institution"].disabled = True

    disciplines = MdtDiscipline.values

    def discipline_fields(self):
        return [self[d] for d in MdtDiscipline.values]

    def times(self) -> tuple[datetime, datetime]:
        data = self.cleaned_data
        zone = timezone.get_current_timezone()
        starts = timezone.make_aware(datetime.combine(data["day"], data["starts"]), zone)
        ends = timezone.make_aware(datetime.combine(data["day"], data["ends"]), zone)
        return starts, ends

    def participants(self) -> list[tuple[User, str]]:
        return [
            (self._members[pk], discipline)
            for discipline in MdtDiscipline.values
            for pk in self.cleaned_data.get(discipline) or []
        ]


class AgendaItemForm(forms.Form):
    register_number = forms.CharField(
        max_length=16, help_text="The patient's register number (NB-…)."
    )
    episode = forms.IntegerField(
        required=False, widget=forms.HiddenInput, help_text="When the patient has several."
    )
    question = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)

    def episode_for(self, user: User) -> int | None:
        """The tumour episode meant: the one given, else the patient's only (or newest)
        episode; None when the member does not see such a patient (the service refuses)."""
        number = self.cleaned_data["register_number"].strip().upper()
        episodes = TumourEpisode.objects.filter(
            patient__register_number=number, patient__in=selectors.patients_visible_to(user)
        ).order_by("-diagnosis_date", "-id")
        if self.cleaned_data.get("episode"):
            episodes = episodes.filter(pk=self.cleaned_data["episode"])
        return episodes.values_list("pk", flat=True).first()


class DecisionForm(forms.Form):
    recommendation = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), max_length=5000)
    plan = forms.MultipleChoiceField(
        choices=MdtPlan.choices, widget=forms.CheckboxSelectMultiple, label="Treatment plan"
    )
    plan_other = forms.CharField(max_length=200, required=False, label="Other plan")
    responsible = forms.ModelChoiceField(
        queryset=User.objects.none(), label="Responsible clinician"
    )
    follow_up_actions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=5000
    )
    reason = forms.CharField(
        max_length=500,
        required=False,
        label="Reason for the change",
        help_text="Required when the decision is changed after the meeting.",
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, meeting: MdtMeeting, item, **kwargs):
        super().__init__(*args, **kwargs)
        hospitals = {
            meeting.institution_id,
            *item.patient.institutions.values_list("pk", flat=True),
        }
        participants = [p.member_id for p in meeting.participants.all()]
        self.fields["responsible"].queryset = (
            User.objects.filter(is_active=True, role=Role.CLINICIAN)
            .filter(Q(institutions__in=hospitals) | Q(pk__in=participants))
            .distinct()
            .order_by("sort_name", "email")
        )
        self.fields["responsible"].label_from_instance = lambda u: u.full_name or u.email
