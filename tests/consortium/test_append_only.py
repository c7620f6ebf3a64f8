"""History (every pghistory event table) and the access log are append-only in the
database: UPDATE, DELETE and TRUNCATE from the application's own connection are refused,
TRUNCATE included (a row trigger never sees it). Every such table is found from the
models, so a newly tracked model is covered the day it is added."""

import pytest
from django.db import DatabaseError, connection, transaction
from pghistory.models import Event

from consortium.append_only import append_only_models
from consortium.models import AccessLog
from registry.models import CareRelationshipDeclaration, ExtractDownload, ExtractFile
from tests.registry.factories import fast_password_hashing  # noqa: F401 (autouse fixture)
from tests.screening.factories import analysed, make_world

pytestmark = pytest.mark.django_db


def event_models() -> list:
    from django.apps import apps

    return [m for m in apps.get_models() if issubclass(m, Event) and not m._meta.abstract]


def _refused(sql: str) -> str:
    with pytest.raises(DatabaseError) as error, transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql)
    return str(error.value)


def test_every_event_table_and_the_access_log_carry_the_guards():
    tables = {m._meta.db_table for m in event_models()} | {
        AccessLog._meta.db_table,
        CareRelationshipDeclaration._meta.db_table,
        ExtractFile._meta.db_table,  # the research delivery log
        ExtractDownload._meta.db_table,
    }
    assert len(tables) > 30
    assert {m._meta.db_table for m in append_only_models()} == tables
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname,
                   bool_or(t.tgtype & 1 = 1 AND t.tgtype & 24 = 24) AS row_update_delete,
                   bool_or(t.tgtype & 1 = 0 AND t.tgtype & 2 = 2 AND t.tgtype & 32 = 32)
                       AS before_truncate
            FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
            WHERE NOT t.tgisinternal AND c.relname = ANY(%s)
            GROUP BY c.relname
            """,
            [sorted(tables)],
        )
        guarded = {name: (rows, truncate) for name, rows, truncate in cursor.fetchall()}
    assert guarded == {table: (True, True) for table in tables}


def test_truncate_is_refused_on_every_event_table_and_the_access_log():
    for model in append_only_models():
        table = connection.ops.quote_name(model._meta.db_table)
        message = _refused(f"TRUNCATE {table}")
        assert "Cannot truncate" in message and "append-only" in message, model


def test_update_and_delete_are_refused_on_every_event_table_with_rows(client):
    world = make_world(with_totp=True)
    request, upload, run = analysed(world)
    AccessLog.objects.create(user=world.clinician, patient_id=world.patient.pk, page="t", path="/")
    checked = []
    for model in append_only_models():
        if not model.objects.exists():
            continue
        table = connection.ops.quote_name(model._meta.db_table)
        pk = connection.ops.quote_name(model._meta.pk.column)
        refused = "Cannot update or delete rows"
        assert refused in _refused(f"UPDATE {table} SET {pk} = {pk}"), model  # noqa: S608
        assert refused in _refused(f"DELETE FROM {table}"), model  # noqa: S608
        checked.append(model._meta.label)
    assert "consortium.AccessLog" in checked and "registry.PatientEvent" in checked
    assert "screening.AnalysisRunEvent" in checked and "screening.DrugResultEvent" in checked
    assert len(checked) >= 15, checked
    assert AccessLog.objects.filter(page="t").exists()  # still there


@pytest.mark.django_db(transaction=True)
def test_a_transactional_test_still_starts_empty_after_one_wrote_history():
    """The flush between transactional tests truncates every table: it runs with the
    guard lifted (tests/conftest.py), and the guard is back for everything else."""
    from registry.models import Patient

    assert not Patient.pgh_event_model.objects.exists()
    make_world()
    assert Patient.pgh_event_model.objects.exists()
    assert "Cannot truncate" in _refused(
        f"TRUNCATE {connection.ops.quote_name(Patient.pgh_event_model._meta.db_table)}"
    )


@pytest.mark.django_db(transaction=True)
def test_and_the_next_one_too():
    from registry.models import Patient

    assert not Patient.pgh_event_model.objects.exists()
    make_world()
