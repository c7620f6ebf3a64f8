"""get_FOO_display() without rebuilding the field's choices on every call.

Django's Model._get_FIELD_display builds a dict of the field's flattened choices each time
it is called (django/db/models/base.py). The patient page calls it some forty times and a
list once per row and column, and the diagnosis field alone has 50 choices. Models that
inherit ChoiceLabels read the label from a dict built once per field; the label, and a
value that is no choice shown as itself, are Django's (tests/consortium/test_choice_labels.py).
Choices here are fixed lists (TextChoices and the register's vocabularies), never callables
whose answer changes while the process runs.
"""

import functools

from django.db import models
from django.utils.encoding import force_str
from django.utils.hashable import make_hashable


@functools.cache
def _labels(field) -> dict:
    return dict(make_hashable(field.flatchoices))


class ChoiceLabels(models.Model):
    class Meta:
        abstract = True

    def _get_FIELD_display(self, field):
        value = getattr(self, field.attname)
        return force_str(_labels(field).get(make_hashable(value), value), strings_only=True)
