"""Querysets built and compiled to SQL once per process, run with new values on each call.

Django builds a queryset (filter, select_related, annotate: each a clone) and compiles it to
SQL on every evaluation. On the register's patient page that was a third of its time, several
times the SQL itself (README: Benchmarks). A page's hot queries have the same shape on every
request, only their values change, so they are built once from marker values:

    PATIENT = PreparedQuery(
        lambda number: Patient.objects.filter(register_number=number), number="\\0number"
    )
    PATIENT(number="NB-...")  # -> [Patient]

The first call builds the queryset from the markers, compiles it, and finds each marker's
place among the SQL's parameters (it must appear exactly once, as given: `exact`, `any_of`
and the like, not `contains`, which wraps it in %...%). Each call then runs that SQL with the
call's values through Django's own model iterable, so select_related, annotations, field
converters, values_list() and prefetch_related() behave as on the queryset itself, and runs it
on the server as a prepared statement too (statement(): PREPARE once per connection): the
ORM's work and the server's parsing and planning are each done once.
"""

import copy
import itertools
import re
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.db.models import Field, ForeignKey, Lookup, QuerySet


class AnyOf(Lookup):
    """`field__any_of=[1, 2]` -> `field = ANY(%s)` with the list as one array parameter,
    where `__in` writes one placeholder per item (so a prepared query cannot take another
    number of items). PostgreSQL: https://www.postgresql.org/docs/current/functions-comparisons.html"""

    lookup_name = "any_of"
    prepare_rhs = False

    def get_db_prep_lookup(self, value, connection):
        return "%s", [list(value)]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY({rhs})", (*lhs_params, *rhs_params)


class Like(Lookup):
    """`field__like="%hansen%"` -> `field LIKE %s` with the pattern as it is given (escape its
    % and _ first), where `contains` builds the pattern from the value, so a prepared query
    cannot take it as a marker."""

    lookup_name = "like"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} LIKE {rhs}", (*lhs_params, *rhs_params)


Field.register_lookup(AnyOf)
ForeignKey.register_lookup(AnyOf)  # a foreign key keeps its own lookups (ids, not rows)
Field.register_lookup(Like)


def _numbered(sql: str) -> str:
    """Django's SQL with PostgreSQL's numbered parameters ($1, $2...) for PREPARE."""
    number = 0

    def replace(match):
        nonlocal number
        if match[0] == "%%":
            return "%"
        number += 1
        return f"${number}"

    return re.sub(r"%%|%s", replace, sql)


def statement(connection, name: str, sql: str, params: list, *, label: str) -> str:
    """The EXECUTE of `sql` as the server's prepared statement `name` (PostgreSQL PREPARE:
    parsed, analysed and rewritten once per database connection, not on every request;
    about a third of these statements' time in the server, README: Benchmarks), prepared
    on its first use on each connection. Run it with `params` as usual. The PREPARE goes
    over the driver's own cursor: it is the connection's, not one of a page's queries.
    `label` (the table, say) is kept in a comment, so logs and tests still read what the
    statement reads."""
    connection.ensure_connection()
    raw = connection.connection
    state = getattr(connection, "_nbtc_prepared", None)
    if state is None or state[0] is not raw:  # a new connection since: none prepared on it
        state = connection._nbtc_prepared = (raw, set())
    if name not in state[1]:
        # Django's error wrapper: a dropped connection raises Django's OperationalError, and
        # the connection is marked for closing, as on any query.
        with connection.wrap_database_errors, raw.cursor() as cursor:
            cursor.execute(f"PREPARE {name} AS {_numbered(sql)}")
        state[1].add(name)
    arguments = f"({', '.join(['%s'] * len(params))})" if params else ""
    return f"EXECUTE {name}{arguments} /* {label} */"


class PreparedQuery:
    _count = itertools.count(1)

    def __init__(self, build: Callable[..., QuerySet], **markers: Any):
        self._build = build
        self._markers = markers
        self._compiled = None
        self._name = f"nbtc_prepared_{next(self._count)}"

    def _compile(self):
        queryset = self._build(**self._markers)
        compiler = queryset.query.get_compiler(queryset.db)
        sql, params = compiler.as_sql()  # also sets compiler.select, klass_info, ...
        places = {}
        for name, marker in self._markers.items():
            found = [i for i, p in enumerate(params) if type(p) is type(marker) and p == marker]
            if len(found) != 1:
                raise ImproperlyConfigured(
                    f"the marker for {name!r} appears {len(found)} times among the parameters "
                    f"of {sql!r}, not once"
                )
            places[name] = found[0]
        # The field converters of its columns (dates, decimals, JSON...), also found once.
        fields = [column[0] for column in compiler.select[0 : compiler.col_count]]
        converters = compiler.get_converters(fields)
        return queryset, compiler, sql, tuple(params), places, converters

    def _queryset(self, **values: Any) -> QuerySet:
        """The prepared queryset with these values, to be run as it is: a filter(), get()
        or count() on it would run the prepared SQL, not theirs (so only __call__ runs it)."""
        if self._compiled is None:
            self._compiled = self._compile()
        queryset, compiler, sql, params, places, converters = self._compiled
        if values.keys() != places.keys():
            raise TypeError(f"give exactly {sorted(places)}, not {sorted(values)}")
        params = list(params)
        for name, value in values.items():
            params[places[name]] = value
        run = copy.copy(compiler)  # with the compiled select, klass_info, col_count...
        run.connection = connections[queryset.db]  # this thread's connection
        table = queryset.model._meta.db_table
        run.as_sql = lambda *args, **kwargs: (
            statement(run.connection, self._name, sql, params, label=table),
            params,
        )
        run.get_converters = lambda expressions: converters
        prepared = queryset._chain()
        # The model iterable asks the query for its compiler: this one has compiled already.
        prepared.query.get_compiler = lambda *args, **kwargs: run
        return prepared

    def __call__(self, **values: Any) -> list:
        return list(self._queryset(**values))
