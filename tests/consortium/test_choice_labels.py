"""ChoiceLabels' get_FOO_display() answers what Django's own does, for every choice field of
the register's models, every choice, a blank and a value that is no choice."""

import pytest
from django.db import models

from consortium.choice_labels import ChoiceLabels
from registry.models import MolecularMarker, Patient, TumourEpisode
from registry.sections import SECTIONS

MODELS = [Patient, TumourEpisode, MolecularMarker, *(s.model for s in SECTIONS.values())]
WITH_CHOICES = [m for m in MODELS if any(f.choices for f in m._meta.concrete_fields)]


def test_the_patient_pages_models_read_labels_once_per_field():
    assert all(issubclass(model, ChoiceLabels) for model in MODELS)
    assert len(WITH_CHOICES) >= 6  # patient, episode, marker and most sections


@pytest.mark.parametrize("model", WITH_CHOICES, ids=lambda m: m.__name__)
def test_labels_are_djangos(model):
    for field in [f for f in model._meta.concrete_fields if f.choices]:
        for value in [*(v for v, _ in field.flatchoices), "", None, "not-a-choice"]:
            row = model()
            setattr(row, field.attname, value)
            ours = getattr(row, f"get_{field.name}_display")()
            theirs = models.Model._get_FIELD_display(row, field)
            assert ours == theirs, (field.name, value)
