"""Screening tests: faster password hashing, and the sample types and lab libraries
(seeded by migration) put back after a transactional test's flush."""

import pytest

from tests.registry.factories import fast_password_hashing  # noqa: F401 (autouse fixture)
from tests.screening.factories import reseed_library


@pytest.fixture(autouse=True)
def _screening_library(request, _seeded_institutions):
    marker = request.node.get_closest_marker("django_db")
    if marker and (marker.kwargs.get("transaction") or (marker.args and marker.args[0])):
        reseed_library()
