"""The unfiltered patient list's count: cached per role and institutions, counted again
after a registration (on commit), and right when the cache lost its version."""

import pytest
from django.core.cache import cache

from registry import selectors
from registry.models import PatientInstitution
from tests.registry.factories import clinician, institutions, make_patient, member

pytestmark = pytest.mark.django_db(transaction=True)  # the forget runs on commit


def test_the_count_is_kept_and_counted_again_after_a_registration():
    oslo, bergen = clinician("OUS"), clinician("HUS")
    admin = member("admin")
    make_patient(oslo)
    make_patient(oslo, full_name="Ola Nordmann")
    make_patient(bergen, institution_codes=("HUS",))
    assert selectors.visible_patient_count(oslo) == 2
    assert selectors.visible_patient_count(bergen) == 1
    assert selectors.visible_patient_count(admin) == 3

    # A patient added behind the register's back is not counted until the count is dropped...
    sneaked = make_patient(bergen, institution_codes=("HUS",), full_name="Per Hansen")
    PatientInstitution.objects.create(patient=sneaked, institution=institutions("OUS")[0])
    selectors.forget_patient_counts()
    assert selectors.visible_patient_count(oslo) == 3
    # ... and a registration drops it (services.patient_register, on commit).
    make_patient(oslo, full_name="Siri Nordmann")
    assert selectors.visible_patient_count(oslo) == 4
    assert selectors.visible_patient_count(bergen) == 2
    assert selectors.visible_patient_count(admin) == 5


def test_a_count_kept_under_an_older_version_is_not_read():
    oslo = clinician("OUS")
    make_patient(oslo)
    assert selectors.visible_patient_count(oslo) == 1
    cache.delete(selectors.COUNT_VERSION_KEY)  # evicted: a new version starts at 1...
    PatientInstitution.objects.create(
        patient=make_patient(clinician("HUS"), institution_codes=("HUS",)),
        institution=institutions("OUS")[0],
    )
    selectors.forget_patient_counts()  # ... and moves on, past the count kept under 1
    assert selectors.visible_patient_count(oslo) == 2
