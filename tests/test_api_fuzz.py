"""The API does what its OpenAPI schema says, fuzzed with Schemathesis
(https://schemathesis.readthedocs.io/): every operation of /api/schema/ as a clinician
is served it (their role's), called as the clinician with a token through the real Django
app (its WSGI handler, every middleware) on the real PostgreSQL, fails on any 5xx, any
undocumented status code, a content type or a body that is not the documented one, and on
an invalid request that is accepted.

Bounded and repeatable: a few examples per operation, derandomized with a fixed seed.
Run it alone with `make test PYTEST_ARGS="-m fuzz"`."""

from collections import Counter, defaultdict

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from consortium import services
from screening.models import HandOver, State
from tests.registry.factories import complete_episode, make_patient
from tests.screening.factories import bring_to, make_world

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
SEED = 20261201
EXAMPLES_PER_OPERATION = 12


def api_credentials(user) -> dict[str, str]:
    """The request header a script sends: a new API token of the member's (knox)."""
    _, token = services.api_token_create(user=user, name="schema fuzz run", days=1)
    return {"Authorization": f"Token {token}"}


@pytest.fixture
def fuzz_world():
    """A clinician at OUS with two-factor set up, and patients of theirs with records to
    read: a complete report (surgery, performance status, markers) and a screening
    request with its sample in transit, hand-over and readings."""
    world = make_world(with_totp=True)
    other = make_patient(world.clinician, full_name="Ola Nordmann")
    complete = complete_episode(other, world.clinician)
    screening = bring_to(world, State.IN_TRANSIT)
    sample = screening.samples.get()
    shipment = sample.shipment
    HandOver.objects.create(
        shipment=shipment,
        giver="Hospital porter",
        receiver="Bring courier",
        place="OUS loading bay",
        at=shipment.dispatched_at,
        entered_by=world.clinician,
    )
    known = {
        "register_number": [world.patient.register_number, other.register_number],
        "episode_id": [complete.pk, world.episode.pk],
        # A section entry's id (drf-spectacular names <pk> "id"), by section.
        "/surgeries/{id}/": [complete.surgeries.get().pk],
        "/performance/{id}/": [complete.performance.get().pk],
        "request_id": [screening.pk],
        "sample_id": [sample.pk],
        "shipment_id": [shipment.pk],
    }
    return world, known


@pytest.fixture
def api_schema(fuzz_world, settings):
    world, known = fuzz_world
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]  # Schemathesis' WSGI host
    # As Django's test client does: the request signals must not close the test's
    # connection (its transaction holds the fixture's records).
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    config = SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "generation": {
                "max-examples": EXAMPLES_PER_OPERATION,
                "deterministic": True,
                "database": "none",
                "with-security-parameters": False,
                # Unknown query parameters are ignored, as HTTP APIs do, not refused.
                "allow-extra-parameters": False,
            },
        }
    )
    # The schema as the clinician is served it: the operations their role can use.
    schema = schemathesis.openapi.from_wsgi(
        "/api/schema/?format=json",
        get_wsgi_application(),
        config=config,
        headers=api_credentials(world.clinician),
    )

    @schema.hook
    def flatmap_path_parameters(context, path_parameters):
        # Mostly the fixture's real records (so the reads return bodies to check), sometimes
        # the generated value (a record that does not exist or is not visible).
        if not path_parameters:
            return st.just(path_parameters)

        def real(name):
            by_path = [v for key, v in known.items() if key.startswith("/") and key in path]
            return by_path[0] if name == "id" and by_path else known.get(name, [])

        path = context.operation.path
        return st.fixed_dictionaries(
            {
                name: st.sampled_from([*real(name), *real(name), value])  # 2:1 for the real
                for name, value in path_parameters.items()
            }
        )

    yield schema
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


# Reads that must succeed on the fixture's records at least once (else the run only
# fuzzed 401s and 404s, which the schema documents too).
MUST_SUCCEED = {
    "GET /api/v1/me/",
    "GET /api/v1/directory/groups/",
    "GET /api/v1/registry/patients/",
    "GET /api/v1/registry/patients/{register_number}/",
    "GET /api/v1/registry/patients/{register_number}/episodes/",
    "GET /api/v1/registry/episodes/{episode_id}/",
    "GET /api/v1/registry/episodes/{episode_id}/markers/",
    "GET /api/v1/registry/episodes/{episode_id}/surgeries/",
    "GET /api/v1/registry/episodes/{episode_id}/surgeries/{id}/",
    "GET /api/v1/registry/worklist/",
    "GET /api/v1/screening/requests/",
    "GET /api/v1/screening/requests/{request_id}/",
    "GET /api/v1/screening/requests/{request_id}/samples/",
    "GET /api/v1/screening/requests/{request_id}/results/",
    "GET /api/v1/screening/shipments/{shipment_id}/",
    "GET /api/v1/screening/shipments/{shipment_id}/handovers/",
    "GET /api/v1/screening/shipments/{shipment_id}/readings/",
    "GET /api/v1/trials/",
}


def test_the_api_matches_its_schema(api_schema, fuzz_world):
    """Each operation in turn, so one failing operation does not hide another: the test
    fails listing every operation with a failure (Schemathesis' report, with the request
    to reproduce it). Valid requests (positive) and invalid ones (negative) alike."""
    credentials = api_credentials(fuzz_world[0].clinician)
    failures, statuses, modes = [], defaultdict(Counter), Counter()
    for result in api_schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"

        call = _fuzz(operation, credentials, statuses[label], modes)
        try:
            call()
        except (Exception, FailureGroup) as failure:  # every operation's failures, together
            failures.append(f"{label}:\n{failure}")
    assert not failures, "\n\n".join(failures)
    assert len(statuses) > 50
    assert not [label for label, codes in statuses.items() if codes[401]], "the token failed"
    succeeded = {label for label, codes in statuses.items() if any(200 <= c < 300 for c in codes)}
    assert modes["positive"] > 500 and modes["negative"] > 100, modes
    assert MUST_SUCCEED <= succeeded, sorted(MUST_SUCCEED - succeeded)


def _fuzz(operation, credentials: dict, statuses: Counter, modes: Counter):
    """The operation's Hypothesis test: each case called and checked, its status counted."""

    @hypothesis_settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: bounded time
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_cases(operation))
    def call(case):
        response = case.call_and_validate(headers=credentials, checks=CHECKS)
        statuses[response.status_code] += 1
        modes[case.meta.generation.mode.value] += 1  # positive, negative

    return call


def _cases(operation):
    positive = operation.as_strategy(GenerationMode.POSITIVE)
    try:
        return st.one_of(positive, operation.as_strategy(GenerationMode.NEGATIVE))
    except Exception:  # noqa: BLE001 - an operation with nothing to make invalid
        return positive
