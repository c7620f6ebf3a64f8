"""Re-imports that touch what a coordinator encoded, and records the database cannot
hold: the encoded criteria are kept but a changed age or sex on ClinicalTrials.gov is
reported; a record with a value too long for its column is refused by file and NCT id
while the rest of the file imports."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.conftest import CTGOV
from trials.models import Trial

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("import_trials", *args, stdout=out)
    return out.getvalue()


def test_a_changed_age_limit_of_an_encoded_trial_is_reported_and_the_criteria_kept(tmp_path):
    record = json.loads((CTGOV / "NCT06119581.json").read_text())
    run(str(CTGOV / "NCT06119581.json"))
    encoded = {
        "version": 1,
        "criteria": {"all": [{"type": "age", "min_years": 18, "max_years": None}]},
        "check_by_hand": [],
    }
    Trial.objects.update(criteria=encoded, criteria_encoded_at=timezone.now())
    record["protocolSection"]["eligibilityModule"]["minimumAge"] = "16 Years"
    (tmp_path / "changed.json").write_text(json.dumps(record))
    output = run(str(tmp_path / "changed.json"))
    assert "minimum age changed on ClinicalTrials.gov from '18 Years' to '16 Years'" in output
    trial = Trial.objects.get()
    assert trial.minimum_age == "16 Years" and trial.criteria == encoded


def test_a_value_too_long_for_the_database_refuses_that_record_only(tmp_path):
    good = json.loads((CTGOV / "NCT06119581.json").read_text())
    bad = json.loads((CTGOV / "NCT06720727.json").read_text())
    arms = (
        bad["protocolSection"]
        .setdefault("armsInterventionsModule", {})
        .setdefault("armGroups", [{}])
    )
    arms[0]["label"], arms[0]["type"] = (
        "Arm A",
        "EXPERIMENTAL" * 10,
    )  # 120 characters; the column holds 40
    (tmp_path / "page.json").write_text(json.dumps({"studies": [bad, good]}))
    output = run(str(tmp_path))
    assert "Refused page.json (NCT06720727):" in output
    assert list(Trial.objects.values_list("nct_id", flat=True)) == ["NCT06119581"]
