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
    # The folder's 14 whole and 2 trimmed records: 8 are brain-tumour trials, 8 are other
    # cancers' (breast, lung, solid tumours, brain metastases), and the 2 legacy formats
    # are refused.
    assert (
        "Demo trials: Added 8, updated 0, refused 2, skipped 8 not about a brain tumour."
        in out.getvalue()
    )
    assert not Trial.objects.filter(nct_id__in=["NCT02513394", "NCT06119581", "NCT05144867"])
    assert Trial.objects.filter(criteria_encoded_at__isnull=False).count() == 4
    assert Trial.objects.get(acronym="NOR-REGBM").has_norwegian_site
    assert Match.objects.exists()
    # Nobody is eligible for CHROME before its items are checked by hand.
    chrome = Match.objects.filter(trial__nct_id="NCT06016452")
    assert not chrome.filter(eligibility="eligible").exists()
    assert not chrome.filter(reachable=True).exists()  # its only site is in Mumbai
    # A patient with a recorded progression is not eligible for CHROME on any count.
    assert not chrome.filter(active=True, episode__follow_ups__progression=True).exists()
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
        "peak memory",
        "Match queue page /trials/matches/ (Consortium admin",
        "Match queue /api/v1/trials/matches/ (Trial coordinator",
        "the worker's warm-up",
        "the first after the warm-up",
        "this process's CPU p95",
        "its SQL alone p95",
        "its count: kept",
        "PostgreSQL, one page of 50 by the queue index alone",
        "load ",
    ):
        assert figure in text, text
