"""The access log: one function every patient page calls; rows can never change."""

import pytest
from django.db import IntegrityError, InternalError, ProgrammingError, transaction
from django.test import RequestFactory

from consortium.models import AccessLog, Role
from consortium.services import patient_access_log
from tests.conftest import make_member

pytestmark = pytest.mark.django_db


@pytest.fixture
def request_from_clinician():
    request = RequestFactory().get("/registry/patients/17/", REMOTE_ADDR="10.1.2.3")
    request.user = make_member(Role.CLINICIAN)
    return request


def test_it_records_who_saw_which_patients_where_and_when(request_from_clinician):
    patient_access_log(request_from_clinician, patient_ids=[17, 42, 17], page="registry:patient")
    rows = list(AccessLog.objects.order_by("patient_id"))
    assert [r.patient_id for r in rows] == [17, 42]  # each patient once per view
    assert {r.user for r in rows} == {request_from_clinician.user}
    assert rows[0].page == "registry:patient"
    assert rows[0].path == "/registry/patients/17/" and rows[0].ip == "10.1.2.3"
    assert rows[0].at is not None


@pytest.mark.parametrize("change", ["update", "delete"])
def test_rows_cannot_be_changed_or_deleted(request_from_clinician, change):
    patient_access_log(request_from_clinician, patient_ids=[17], page="registry:patient")
    with pytest.raises((ProgrammingError, InternalError, IntegrityError)), transaction.atomic():
        rows = AccessLog.objects.all()
        rows.update(page="tampered") if change == "update" else rows.delete()
    assert AccessLog.objects.get().page == "registry:patient"
