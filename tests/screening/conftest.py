"""Screening tests: faster password hashing. (The sample types and lab libraries seeded by
migration come back after a transactional test's flush: tests/conftest.py.)"""

from tests.registry.factories import fast_password_hashing  # noqa: F401 (autouse fixture)
