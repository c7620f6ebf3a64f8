"""Prepared queries (consortium/prepared.py) answer what their querysets answer, each in
one statement, with the values of each call, and keep working across new connections."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.models import Prefetch
from django.test.utils import CaptureQueriesContext

from consortium.models import Institution, Membership, Role, User
from consortium.prepared import PreparedQuery, statement
from tests.conftest import make_member

pytestmark = pytest.mark.django_db


def memberships_of(member, codes):
    return (
        Membership.objects.filter(user=member, institution__code__any_of=codes)
        .select_related("institution", "user")
        .order_by("institution__code")
    )


MEMBERSHIPS = PreparedQuery(memberships_of, member=-1, codes=["\0code"])


def test_each_call_answers_as_its_queryset_does_with_its_own_values():
    oslo = make_member(Role.CLINICIAN, institutions=("OUS", "HUS"), email="a@ous.no")
    bergen = make_member(Role.CLINICIAN, institutions=("HUS",), email="b@hus.no")
    for member, codes in [(oslo, ["OUS", "HUS"]), (oslo, ["HUS"]), (bergen, ["OUS"]), (oslo, [])]:
        with CaptureQueriesContext(connection) as queries:
            found = MEMBERSHIPS(member=member.pk, codes=codes)
            # select_related rows read without another query
            rows = [(m.user.email, m.institution.code) for m in found]
        assert len(queries) == 1
        assert rows == [(m.user.email, m.institution.code) for m in memberships_of(member, codes)]
    assert [code for _, code in rows] == []  # the last call: no institutions asked for


def test_values_lists_and_prefetches_work_as_on_the_queryset():
    make_member(Role.CLINICIAN, institutions=("OUS", "HUS"), email="a@ous.no")
    codes = PreparedQuery(
        lambda kind: (
            Institution.objects.filter(kind=kind).order_by("code").values_list("code", flat=True)
        ),
        kind="\0kind",
    )
    assert codes(kind="hospital") == list(
        Institution.objects.filter(kind="hospital").order_by("code").values_list("code", flat=True)
    )
    with_members = PreparedQuery(
        lambda code: Institution.objects.filter(code=code).prefetch_related(
            Prefetch("members", queryset=User.objects.order_by("email"))
        ),
        code="\0code",
    )
    with CaptureQueriesContext(connection) as queries:
        [ous] = with_members(code="OUS")
        assert [m.email for m in ous.members.all()] == ["a@ous.no"]
    assert len(queries) == 2  # the institution, then its members (prefetch_related)


def test_a_marker_must_appear_once_among_the_parameters():
    contains = PreparedQuery(
        lambda name: Institution.objects.filter(name__contains=name), name="\0name"
    )
    with pytest.raises(ImproperlyConfigured, match="appears 0 times"):
        contains(name="Oslo")  # contains wraps the value in %...%: it cannot be prepared
    twice = PreparedQuery(
        lambda code: Institution.objects.filter(code=code) | Institution.objects.filter(name=code),
        code="\0code",
    )
    with pytest.raises(ImproperlyConfigured, match="appears 2 times"):
        twice(code="OUS")
    with pytest.raises(TypeError, match="give exactly"):
        MEMBERSHIPS(member=1)


def test_the_server_prepares_a_statement_once_per_connection():
    member = make_member(Role.CLINICIAN, institutions=("OUS",), email="a@ous.no")
    MEMBERSHIPS(member=member.pk, codes=["OUS"])
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'nbtc_%%'")
        prepared = cursor.fetchone()[0]
    MEMBERSHIPS(member=member.pk, codes=["OUS"])
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'nbtc_%%'")
        assert cursor.fetchone()[0] == prepared >= 1
    # The statement names its table for whoever reads the SQL (logs, query-count tests).
    sql = statement(connection, "nbtc_test_one", "SELECT %s::int + 1", [1], label="none")
    assert sql == "EXECUTE nbtc_test_one(%s) /* none */"
    with connection.cursor() as cursor:
        cursor.execute(sql, [41])
        assert cursor.fetchone() == (42,)


@pytest.mark.django_db(transaction=True)
def test_a_new_connection_prepares_again():
    member = make_member(Role.CLINICIAN, institutions=("OUS",), email="a@ous.no")
    assert len(MEMBERSHIPS(member=member.pk, codes=["OUS"])) == 1
    connection.close()  # as CONN_MAX_AGE or a dropped connection would
    assert len(MEMBERSHIPS(member=member.pk, codes=["OUS"])) == 1
