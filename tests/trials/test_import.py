"""import_trials on every real record in trials/demo_data/ctgov/ (partial/ and legacy/ too),
re-import keeping coordinators' additions, and --from-api paging through a local HTTP
server replaying recorded pages (nothing reaches the internet)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from urllib.parse import parse_qs, urlparse

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.conftest import CTGOV
from trials.models import Trial, TrialArm

pytestmark = pytest.mark.django_db

V2_FILES = sorted(CTGOV.glob("*.json"))


def run(*args) -> str:
    out = StringIO()
    call_command("import_trials", *args, stdout=out)
    return out.getvalue()


def test_every_file_in_the_folder():
    output = run(str(CTGOV))
    assert len(V2_FILES) == 14
    # 14 whole records + 2 partial imported; 2 legacy files refused with a reason.
    assert output.splitlines()[0] == "Added 16, updated 0, refused 2."
    assert Trial.objects.count() == 16
    assert (
        "Refused NCT02028676.classic_api.json: the classic ClinicalTrials.gov API format" in output
    )
    assert "fetch NCT02028676 from API v2 instead" in output
    assert "Refused NCT02513394.xml: ClinicalTrials.gov XML is the retired format" in output


def test_what_a_record_keeps():
    run(str(CTGOV / "NCT06119581.json"))
    trial = Trial.objects.get(nct_id="NCT06119581")
    assert trial.overall_status == "RECRUITING" and trial.phases == ["PHASE3"]
    assert trial.has_norwegian_site
    norwegian = trial.sites.filter(is_norwegian=True)
    assert norwegian.count() == 7 and {s.country for s in norwegian} == {"Norway"}
    assert trial.sites.count() == 426
    assert trial.minimum_age == "18 Years" and trial.eligibility_text.startswith(
        "Inclusion Criteria"
    )
    assert trial.sponsor and trial.last_update and trial.arms.exists() and trial.interventions
    # Age and sex come from the record into the (not yet encoded) criteria.
    assert trial.criteria["criteria"]["all"] == [
        {"type": "age", "min_years": 18.0, "max_years": None}
    ]
    assert trial.criteria_encoded_at is None


def test_paediatric_age_limits_and_no_norwegian_site():
    run(str(CTGOV / "NCT04250064.json"))
    trial = Trial.objects.get()
    assert trial.criteria["criteria"]["all"][0] == {
        "type": "age",
        "min_years": 3.0,
        "max_years": 18.0,
    }
    assert not trial.has_norwegian_site


def test_partial_records_import_with_what_is_missing_reported():
    output = run(str(CTGOV / "partial"))
    assert output.splitlines()[0] == "Added 2, updated 0, refused 0."
    assert "Incomplete NCT05580562.partial.json (NCT05580562): no status module" in output
    trial = Trial.objects.get(nct_id="NCT05580562")
    assert trial.overall_status == "UNKNOWN"
    assert any("no status module" in w for w in trial.import_warnings)


def test_reimport_updates_by_nct_id_and_keeps_coordinators_additions():
    path = CTGOV / "NCT06720727.json"
    run(str(path))
    trial = Trial.objects.get()
    arm = trial.arms.first()
    encoded = {
        "version": 1,
        "criteria": {"all": [{"type": "diagnosis", "codes": ["diffuse_midline_glioma_h3k27"]}]},
        "check_by_hand": ["Lansky >= 70"],
    }
    Trial.objects.filter(pk=trial.pk).update(
        criteria=encoded,
        criteria_encoded_at=timezone.now(),
        coordinator_notes="PI: Dr. Hansen",
        brief_title="stale title",
    )
    TrialArm.objects.filter(pk=arm.pk).update(criteria=encoded)
    output = run(str(path))
    assert output.splitlines()[0] == "Added 0, updated 1, refused 0."
    trial.refresh_from_db()
    arm.refresh_from_db()
    assert Trial.objects.count() == 1
    assert trial.brief_title != "stale title"  # the record's fields are refreshed
    assert trial.criteria == encoded and trial.coordinator_notes == "PI: Dr. Hansen"
    assert arm.criteria == encoded


def test_an_unreadable_record_is_reported_and_the_rest_import(tmp_path):
    good = json.loads((CTGOV / "NCT04474964.json").read_text())
    bad = {"protocolSection": {"identificationModule": {"nctId": "NCT0000BAD"}}}
    (tmp_path / "page.json").write_text(json.dumps({"studies": [bad, good], "nextPageToken": None}))
    (tmp_path / "broken.json").write_text("{not json")
    output = run(str(tmp_path))
    assert "Refused page.json (NCT0000BAD): no valid NCT id (NCT0000BAD)" in output
    assert "Refused broken.json: not JSON" in output
    assert list(Trial.objects.values_list("nct_id", flat=True)) == ["NCT04474964"]


class _Replay(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        query = parse_qs(urlparse(self.path).query)
        self.server.requests.append(query)
        page = self.server.pages[query.get("pageToken", ["first"])[0]]
        body = json.dumps(page).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def ctgov_server(settings):
    records = [json.loads(p.read_text()) for p in V2_FILES[:3]]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Replay)
    server.pages = {
        "first": {"studies": records[:2], "nextPageToken": "p2"},
        "p2": {"studies": records[2:]},
    }
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.CTGOV_API_URL = f"http://127.0.0.1:{server.server_port}/api/v2"
    yield server
    server.shutdown()


def test_from_api_pages_through_the_local_replay(ctgov_server):
    output = run("--from-api", "glioma")
    assert output.splitlines()[0] == "Added 3, updated 0, refused 0."
    assert [q.get("pageToken") for q in ctgov_server.requests] == [None, ["p2"]]
    assert ctgov_server.requests[0]["query.term"] == ["glioma"]
    assert Trial.objects.count() == 3


def test_unreachable_api_is_reported(settings):
    settings.CTGOV_API_URL = "http://127.0.0.1:9/api/v2"  # the discard port: nothing listens
    output = run("--from-api", "glioma")
    assert output.splitlines()[0] == "Added 0, updated 0, refused 1."
    assert "API page 1 (http://127.0.0.1:9/api/v2)" in output
