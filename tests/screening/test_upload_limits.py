"""Uploads have limits (consortium/uploads.py, stated in the README): a file over its
limit is refused naming the field before it is parsed, a request body over the total is
refused from its Content-Length before it is read, and the parsers read line by line,
so a large file with a bad line 3 fails there without the rest being read."""

import tracemalloc

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from consortium import uploads
from screening import logger_csv, plates
from screening.models import PlateUpload, State, TemperatureReading
from tests.conftest import sign_in
from tests.screening.factories import bring_to, make_world, results_file
from tests.screening.test_transport import GOOD


@pytest.fixture
def world(db):
    return make_world(with_totp=True)


def _plates_post(client, request, layout: bytes, readout: bytes):
    return client.post(
        f"/api/v1/screening/requests/{request.pk}/plates/",
        {
            "layout": SimpleUploadedFile("layout.csv", layout),
            "readouts": [SimpleUploadedFile("big-readout.csv", readout)],
            "plate_format": 384,
        },
    )


def test_a_readout_over_its_limit_is_refused_unparsed_naming_the_field(client, world):
    request = bring_to(world, State.IN_CULTURE)
    sign_in(client, world.lab)
    # Bad on line 3, and 6 MB long: the size is what is reported, so it was not parsed.
    big = b"plate,well,signal\nP1,A1,1\nP1,A2,not-a-number\n" + b"P1,A3,1\n" * 800_000
    assert len(big) > uploads.READOUT_MAX_BYTES
    response = _plates_post(client, request, results_file("layout_two_plates.csv"), big)
    assert response.status_code == 400, response.content
    assert response.json()["extra"]["fields"]["readout"] == [
        f"The readout big-readout.csv is {len(big):,} bytes; at most 5,242,880 bytes (5.0 MB) "
        "are accepted."
    ]
    assert not PlateUpload.objects.exists()


def test_a_layout_over_its_limit_is_refused(client, world):
    request = bring_to(world, State.IN_CULTURE)
    sign_in(client, world.lab)
    big = results_file("layout_two_plates.csv") + b"\n" * (uploads.LAYOUT_MAX_BYTES + 1)
    response = _plates_post(client, request, big, results_file("readout_two_plates_grid.csv"))
    assert response.status_code == 400
    assert "at most 2,097,152 bytes (2.0 MB)" in response.json()["extra"]["fields"]["layout"][0]


def test_a_logger_csv_over_its_limit_is_refused(client, world):
    request = bring_to(world, State.IN_TRANSIT)
    shipment = request.samples.get().shipment
    sign_in(client, world.clinician)
    big = GOOD + "\n" * (uploads.LOGGER_CSV_MAX_BYTES + 1 - len(GOOD))
    response = client.post(
        f"/api/v1/screening/shipments/{shipment.pk}/readings/upload/",
        {"file": SimpleUploadedFile("log.csv", big.encode()), "time_zone": "Europe/Oslo"},
    )
    assert response.status_code == 400
    assert response.json()["extra"]["fields"]["file"] == [
        f"The logger file is {len(big.encode()):,} bytes; at most 2,097,152 bytes (2.0 MB) "
        "are accepted."
    ]
    assert not TemperatureReading.objects.exists()


def test_a_request_body_over_the_total_is_413_before_it_is_read(client, world):
    request = bring_to(world, State.IN_CULTURE)
    sign_in(client, world.lab)
    # Content-Length claims more than the limit; the body sent is tiny, so reading it
    # (rather than refusing from the header) would fail differently.
    response = client.post(
        f"/api/v1/screening/requests/{request.pk}/plates/",
        data=b"x",
        content_type="multipart/form-data; boundary=B",
        CONTENT_LENGTH=str(uploads.MAX_REQUEST_BYTES + 1),
    )
    assert response.status_code == 413
    assert "at most" in response.json()["message"]
    page = client.post(
        f"/screening/requests/{request.pk}/",
        data=b"x",
        content_type="application/x-www-form-urlencoded",
        CONTENT_LENGTH=str(uploads.MAX_REQUEST_BYTES + 1),
    )
    assert page.status_code == 413 and "at most" in page.content.decode()


# --- The parsers stop at the first bad line --------------------------------------------

TAIL = 400_000  # lines after the bad one (about 4 MB of text)


def _peak_bytes(parse, text: str) -> tuple[int, ValidationError]:
    """Peak memory the parse allocates (the text itself exists before): reading every
    line into lists first costs many times the text; a line-by-line parse costs a line."""
    tracemalloc.start()
    try:
        with pytest.raises(ValidationError) as error:
            parse(text)
        return tracemalloc.get_traced_memory()[1], error.value
    finally:
        tracemalloc.stop()


def test_a_readout_fails_at_line_3_without_reading_the_rest():
    text = "plate,well,signal\nP1,A1,1\nP1,A2,warm\n" + "P1,A3,1\n" * TAIL
    peak, error = _peak_bytes(plates.parse_readout, text)
    assert error.message_dict["readout"] == ["Line 3: 'warm' is not a numeric signal."]
    assert peak < len(text) // 50


def test_a_grid_readout_fails_at_line_3_without_reading_the_rest():
    header = "Plate: P1\n," + ",".join(str(c) for c in range(1, 25)) + "\n"
    text = header + "B," + ",".join(["1"] * 24) + "\n" + ("A," + "1," * 23 + "1\n") * TAIL
    peak, error = _peak_bytes(plates.parse_readout, text)
    assert error.message_dict["readout"][0].startswith("Line 3: expected row A")
    assert peak < len(text) // 50


def test_a_layout_fails_at_line_3_without_reading_the_rest():
    text = (
        "plate,well,drug,concentration,unit,role\nP1,A1,DMSO,,,negative control\n"
        "P1,Z99,DMSO,,,negative control\n" + "P1,A2,DMSO,,,negative control\n" * TAIL
    )
    peak, error = _peak_bytes(plates.parse_layout, text)
    assert error.message_dict["layout"][0].startswith("Line 3: 'Z99' is not a well")
    assert peak < len(text) // 50


def test_a_logger_csv_fails_at_its_bad_line_without_reading_the_rest():
    lines = GOOD.splitlines()
    text = "\n".join(lines[:6] + ["2026-03-01 08:05:00,warm"]) + "\n"
    text += "2026-03-01 09:00:00,4.0\n" * TAIL
    peak, error = _peak_bytes(lambda t: logger_csv.parse(t, time_zone="Europe/Oslo"), text)
    assert error.message_dict["file"] == ["Line 7: 'warm' is not a temperature."]
    assert peak < len(text) // 50
