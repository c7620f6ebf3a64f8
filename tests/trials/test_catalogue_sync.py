"""The weekly ClinicalTrials.gov sync against a local server replaying recorded API v2
pages (real records from trials/demo_data/ctgov; nothing reaches the internet): new
brain-tumour trials are imported, changed and closed ones updated with the importer,
other cancers' records left out, and coordinators told in the app and by e-mail."""

import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from django.conf import settings as django_settings
from django.core import mail

from consortium.models import Role
from tests.conftest import CTGOV, make_member, sign_in
from tests.trials.factories import tree
from trials import services, tasks
from trials.models import CatalogueSync, Trial

pytestmark = pytest.mark.django_db


def _record(nct: str) -> dict:
    return json.loads((CTGOV / f"{nct}.json").read_text())


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
def ctgov(settings):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Replay)
    server.requests = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.CTGOV_API_URL = f"http://127.0.0.1:{server.server_port}/api/v2"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    yield server
    server.shutdown()


def test_the_weekly_sync_imports_new_updates_changed_and_tells_coordinators(ctgov, client):
    coordinator = make_member(Role.COORDINATOR, with_totp=True, email="coord@ous.no")
    make_member(Role.CLINICIAN, email="doc@ous.no")  # not told: not a coordinator
    chrome, charm, libra = _record("NCT06016452"), _record("NCT06720727"), _record("NCT06442748")
    lung = _record("NCT06119581")  # Norwegian sites, but lung cancer: left out
    # Week 1: two recorded pages.
    ctgov.pages = {
        "first": {"studies": [chrome, lung], "nextPageToken": "p2"},
        "p2": {"studies": [charm, libra]},
    }
    first = tasks.sync_catalogue()
    assert first == {"added": 3, "changed": 0, "closed": 0, "problems": 0}
    assert sorted(Trial.objects.values_list("nct_id", flat=True)) == [
        "NCT06016452",
        "NCT06442748",
        "NCT06720727",
    ]
    asked = ctgov.requests[0]
    assert "glioblastoma" in asked["query.cond"][0] and "meningioma" in asked["query.cond"][0]
    assert asked["query.locn"] == ["Norway OR Sweden OR Denmark OR Finland OR Iceland"]
    assert [q.get("pageToken") for q in ctgov.requests] == [None, ["p2"]]
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["coord@ous.no"]
    # Each arrives with its suggested criteria (4 + 5 + 2, read from the three texts:
    # tests/trials/test_suggestions.py and the labelled set list them), and the message
    # says how many wait.
    assert mail.outbox[0].subject == (
        "Trial catalogue: 3 new, 0 closed, 0 changed; 11 suggested criteria to confirm"
    )
    assert "New: NCT06016452" in mail.outbox[0].body
    assert "Suggested criteria: 11 wait for confirmation in 3 new or changed trials" in (
        mail.outbox[0].body
    )

    # The coordinator encodes CHROME; week 2: CHROME's record changed, CHARM completed,
    # a new trial (FOR-WNT2) registered, LIBRA unchanged.
    t = Trial.objects.get(nct_id="NCT06016452")
    services.trial_criteria_save(
        trial=t,
        by=coordinator,
        tree=tree({"type": "age", "min_years": 18, "max_years": 70}),
        expected_version=t.version,
    )
    chrome2 = copy.deepcopy(chrome)
    chrome2["protocolSection"]["eligibilityModule"]["eligibilityCriteria"] += "\n* Amended"
    charm2 = copy.deepcopy(charm)
    charm2["protocolSection"]["statusModule"]["overallStatus"] = "COMPLETED"
    ctgov.pages = {"first": {"studies": [chrome2, charm2, libra, _record("NCT04474964")]}}
    mail.outbox.clear()
    second = tasks.sync_catalogue()
    assert second == {"added": 1, "changed": 1, "closed": 1, "problems": 0}
    sync = CatalogueSync.objects.first()
    assert sync.added == ["NCT04474964"] and sync.closed == ["NCT06720727"]
    # Only encoded trials' changes are reported (CHARM changed too, but is not encoded).
    assert sync.changed == [["NCT06016452", ["eligibility_text"]]]
    body = mail.outbox[0].body
    assert "Closed: NCT06720727" in body and "Changed (encoded): NCT06016452" in body
    assert "eligibility text" in body
    # CHROME's changed text read again (its 4 again), CHARM's 5 still waiting, FOR-WNT2's 3.
    assert "Suggested criteria: 12 wait for confirmation in 3 new or changed trials" in body
    assert Trial.objects.get(nct_id="NCT06720727").overall_status == "COMPLETED"
    # In the app: the trial list shows coordinators the latest sync.
    sign_in(client, coordinator)
    page = client.get("/trials/").content.decode()
    assert "New: NCT04474964" in page and "Closed: NCT06720727" in page

    # Nothing changed since: nothing to tell, no e-mail.
    mail.outbox.clear()
    assert tasks.sync_catalogue() == {"added": 0, "changed": 0, "closed": 0, "problems": 0}
    assert mail.outbox == []


def test_an_unreachable_api_is_reported_not_raised(settings):
    settings.CTGOV_API_URL = "http://127.0.0.1:9/api/v2"  # the discard port
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    make_member(Role.COORDINATOR, email="coord@ous.no")
    assert tasks.sync_catalogue()["problems"] == 1
    assert "API page 1" in CatalogueSync.objects.get().problems[0]
    assert len(mail.outbox) == 1


def test_the_sync_is_on_the_weekly_beat():
    entry = django_settings.CELERY_BEAT_SCHEDULE["trials-weekly-catalogue-sync"]
    assert entry["task"] == "trials.tasks.sync_catalogue"
    assert entry["schedule"].day_of_week == {1} and entry["schedule"].hour == {4}
