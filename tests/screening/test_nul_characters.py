"""A NUL character (\\x00) anywhere a member can send text is a clear 400 naming the field
(or the file's line), never a 500 with a traceback: searches, register numbers in URLs,
JSON and form bodies, plate layouts and readouts, logger CSVs and the directory file."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from screening.models import PlateUpload, State, TemperatureReading
from tests.conftest import SEED, sign_in
from tests.screening.factories import bring_to, make_world, results_file
from tests.screening.test_transport import GOOD

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return make_world(with_totp=True)


def _api_refusal(response, field):
    assert response.status_code == 400, response.content[:300]
    body = response.json()
    assert list(body["extra"]["fields"]) == [field]
    assert field in body["message"] and "NUL" in body["message"]


def test_a_nul_in_a_search_is_400_naming_the_field(client, world):
    sign_in(client, world.clinician)
    _api_refusal(client.get("/api/v1/registry/patients/?search=Kari%00"), "search")
    _api_refusal(
        client.post(
            "/api/v1/registry/patients/search/",
            {"query": "Kari\x00"},
            content_type="application/json",
        ),
        "query",
    )
    page = client.get("/registry/?q=Kari%00")
    assert page.status_code == 400
    assert "q: contains a NUL character" in page.content.decode()
    assert "Traceback" not in page.content.decode()


def test_a_nul_in_a_register_number_in_the_url_is_400_naming_it(client, world):
    sign_in(client, world.clinician)
    _api_refusal(client.get("/api/v1/registry/patients/NB-%00/"), "register_number")
    page = client.get("/registry/patients/NB-%00AB/")
    assert page.status_code == 400
    assert "register_number: contains a NUL character" in page.content.decode()


def test_a_nul_in_a_form_or_json_body_is_400(client, world):
    sign_in(client, world.clinician)
    url = f"/api/v1/registry/patients/{world.patient.register_number}/"
    response = client.patch(
        url, {"full_name": "Kari\x00", "version": 1}, content_type="application/json"
    )
    _api_refusal(response, "full_name")
    page = client.post(
        f"{world.patient.get_absolute_url()}edit/", {"full_name": "Kari\x00", "version": 1}
    )
    assert page.status_code == 400 and "full_name" in page.content.decode()
    world.patient.refresh_from_db()
    assert world.patient.full_name == "Kari Nordmann"


def test_a_nul_in_a_plate_layout_or_readout_names_the_file_and_line(client, world):
    request = bring_to(world, State.IN_CULTURE)
    sign_in(client, world.lab)
    layout = results_file("layout_two_plates.csv").decode()
    lines = layout.splitlines()
    lines[2] = lines[2] + "\x00"
    response = client.post(
        f"/api/v1/screening/requests/{request.pk}/plates/",
        {
            "layout": SimpleUploadedFile("layout.csv", "\n".join(lines).encode()),
            "readouts": [
                SimpleUploadedFile("readout.csv", results_file("readout_two_plates_grid.csv"))
            ],
            "plate_format": 384,
        },
    )
    assert response.status_code == 400, response.content
    assert response.json()["extra"]["fields"]["layout"] == [
        "Line 3: the line contains a NUL character (\\x00), which is not allowed."
    ]
    readout = results_file("readout_two_plates_grid.csv").replace(b"\n", b"\n\x00", 1)
    response = client.post(
        f"/api/v1/screening/requests/{request.pk}/plates/",
        {
            "layout": SimpleUploadedFile("layout.csv", layout.encode()),
            "readouts": [SimpleUploadedFile("readout.csv", readout)],
            "plate_format": 384,
        },
    )
    assert response.status_code == 400, response.content
    assert response.json()["extra"]["fields"]["readout"][0].startswith("readout.csv: Line 2:")
    assert not PlateUpload.objects.exists()


def test_a_nul_in_a_logger_csv_names_the_line(client, world):
    request = bring_to(world, State.IN_TRANSIT)
    shipment = request.samples.get().shipment
    sign_in(client, world.clinician)
    bad = GOOD.replace("2026-03-01 08:05:00,4.3", "2026-03-01 08:05:00,4.\x003")
    response = client.post(
        f"/api/v1/screening/shipments/{shipment.pk}/readings/upload/",
        {"file": SimpleUploadedFile("log.csv", bad.encode()), "time_zone": "Europe/Oslo"},
    )
    assert response.status_code == 400, response.content
    assert response.json()["extra"]["fields"]["file"] == [
        "Line 7: the line contains a NUL character (\\x00), which is not allowed."
    ]
    assert not TemperatureReading.objects.filter(shipment=shipment).exists()


def test_a_nul_in_the_directory_file_is_a_command_error_naming_the_line(tmp_path: Path):
    text = SEED.read_text(encoding="utf-8").splitlines()
    text[9] = text[9] + "\x00"
    path = tmp_path / "overview.txt"
    path.write_text("\n".join(text), encoding="utf-8")
    with pytest.raises(CommandError) as error:
        call_command("import_nordic_directory", str(path))
    assert "line 10: the line contains a NUL character" in str(error.value)
    assert "Nothing was imported" in str(error.value)
