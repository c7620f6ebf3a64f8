"""The demo loader (make run) and the benchmark command, end to end on small numbers."""

from io import StringIO

import pytest
from django.core.management import call_command

from trials.models import Match, Trial

pytestmark = pytest.mark.django_db


def test_demo_trials_match_the_demo_patients(settings):
    settings.DEBUG = True
    call_command("load_demo", stdout=StringIO())
    call_command("create_demo_data", "--patients", "120", "--seed", "1", stdout=StringIO())
    out = StringIO()
    call_command("load_demo_trials", stdout=out)
    assert "Demo trials: Added 16, updated 0, refused 2." in out.getvalue()
    assert Trial.objects.filter(criteria_encoded_at__isnull=False).count() == 4
    assert Trial.objects.get(acronym="NOR-REGBM").has_norwegian_site
    assert Match.objects.exists()
    again = StringIO()
    call_command("load_demo_trials", stdout=again)  # twice: nothing new
    assert "Demo matching: 0 new matches, 0 updated." in again.getvalue()


def test_benchmark_prints_the_figures():
    out = StringIO()
    call_command(
        "benchmark_matching", "--patients", "150", "--trials", "8", "--samples", "5", stdout=out
    )
    text = out.getvalue()
    for figure in (
        "Full re-match from empty:",
        "PostgreSQL, the same prefilter queries alone:",
        "Ratio full / bare:",
        "One patient's re-match: p95",
    ):
        assert figure in text, text
