"""The repeating sections of a tumour episode, defined once.

Each Section names its model, its key (the episode's related name: `episode.follow_ups`),
its public URL segment (`.../follow-ups/`), its entry rule (registry/rules.py), its form (or
the fields to make one of), its API serializers and, for a treatment, the date it starts on
(the pathway lead time is measured to the first treatment). Its label is the model's
verbose_name. The pages, the API, the services, the selectors and the demo data all read
SECTIONS; adding a section is one entry here plus its model (and migration), its rule, its
block on the patient page and its tests (docs/architecture.md)."""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import models
from django.forms import modelform_factory
from django.utils.text import capfirst

from . import forms, rules
from .models import FollowUp, PerformanceStatus, RadiotherapyCourse, Surgery, SystemicTherapy
from .serializers import section_serializers


@dataclass(frozen=True)
class Section:
    model: type[models.Model]
    # The URL segment of the pages and the API (public: bookmarks and API clients use it).
    path: str
    # The entry rule: (row, episode, patient) -> warnings; raises ValidationError on errors.
    check: Callable[..., list[rules.EntryWarning]]
    # The page's form: a forms.SectionForm subclass when it needs more than the model's
    # fields (choices, widgets), else made from `fields`.
    form: type[forms.SectionForm] | None = None
    fields: tuple[str, ...] = ()
    # A treatment's kind (as rules.lead_time_warnings names it) and its start date field.
    treatment: str = ""
    starts_on: str = ""
    output: type = field(init=False, repr=False)
    input: type = field(init=False, repr=False)

    def __post_init__(self):
        if self.form is None:
            made = modelform_factory(self.model, form=forms.SectionForm, fields=self.fields)
            object.__setattr__(self, "form", made)
        output, input_ = section_serializers(self.model)
        object.__setattr__(self, "output", output)
        object.__setattr__(self, "input", input_)

    @property
    def key(self) -> str:
        """The one name of the section in code: the episode's related name."""
        return self.model._meta.get_field("episode").remote_field.related_name

    @property
    def label(self) -> str:
        return capfirst(self.model._meta.verbose_name)


SECTIONS: dict[str, Section] = {
    section.key: section
    for section in (
        Section(
            Surgery,
            "surgeries",
            rules.check_surgery,
            form=forms.SurgeryForm,
            treatment="surgery",
            starts_on="surgery_date",
        ),
        Section(
            RadiotherapyCourse,
            "radiotherapy",
            rules.check_radiotherapy_course,
            form=forms.RadiotherapyForm,
            treatment="radiotherapy",
            starts_on="start_date",
        ),
        Section(
            SystemicTherapy,
            "systemic",
            rules.check_systemic,
            form=forms.SystemicTherapyForm,
            treatment="systemic",
            starts_on="start_date",
        ),
        Section(
            PerformanceStatus,
            "performance",
            rules.check_performance,
            form=forms.PerformanceStatusForm,
        ),
        Section(FollowUp, "follow-ups", rules.check_follow_up, form=forms.FollowUpForm),
    )
}
BY_PATH: dict[str, Section] = {section.path: section for section in SECTIONS.values()}


def first_treatment(episode, *, replacing=None, candidate=None):
    """(kind, date, row) of the episode's first treatment (its sections as loaded or
    prefetched), with `candidate` in place of the stored row `replacing`."""
    treatments = [
        (section.treatment, getattr(row, section.starts_on), row)
        for section in SECTIONS.values()
        if section.treatment
        for row in getattr(episode, section.key).all()
    ]
    return rules.first_of(treatments, replacing=replacing, candidate=candidate)


def section_warnings(section: Section, row, episode, patient) -> list[rules.EntryWarning]:
    """Run the section's rule on `row` (raises on errors), and return its warnings,
    including the pathway lead time when `row` is the episode's first treatment."""
    warnings = section.check(row, episode, patient)
    if section.treatment:
        candidate = (section.treatment, getattr(row, section.starts_on), row)
        first = first_treatment(episode, replacing=row if row.pk else None, candidate=candidate)
        if first and first[2] is row:
            warnings += rules.lead_time_warnings(episode, first[1], first[0])
    return warnings
