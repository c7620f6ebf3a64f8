"""`manage.py import_plates` for lab automation: the sample files go in whole; a bad
file is refused naming the line, and nothing is stored."""

import pytest
from django.core.management import CommandError, call_command

from screening.models import DrugResult, PlateUpload
from tests.screening.factories import RESULTS_DATA, bring_to, make_world

pytestmark = pytest.mark.django_db


def test_import_plates_with_wait_analyses_the_upload(capsys, tmp_path):
    world = make_world()
    request = bring_to(world, "in_culture")
    call_command(
        "import_plates",
        "--request",
        str(request.pk),
        "--by",
        world.lab.email,
        "--wait",
        str(RESULTS_DATA / "layout_two_plates.csv"),
        str(RESULTS_DATA / "readout_two_plates_grid.csv"),
    )
    out = capsys.readouterr().out
    assert "plates P1, P2" in out and "30 drugs fitted and scored" in out
    assert DrugResult.objects.count() == 30
    bad = tmp_path / "bad.csv"
    bad.write_text(
        (RESULTS_DATA / "readout_two_plates_long.csv").read_text().replace("P1,A5,", "P1,A5,?")
    )
    with pytest.raises(
        CommandError, match=r"Refused, nothing stored: readout: bad.csv: Line \d+: '\?"
    ):
        call_command(
            "import_plates",
            "--request",
            str(request.pk),
            "--by",
            world.lab.email,
            str(RESULTS_DATA / "layout_two_plates.csv"),
            str(bad),
        )
    assert PlateUpload.objects.count() == 1
