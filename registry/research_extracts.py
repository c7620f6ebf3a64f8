"""Building a research extract: the approved variables of the cohort's episodes, one row
per episode plus a long table per repeated section, as CSV (with the data dictionary) and
Parquet, each file's row count and SHA-256 in the delivery log.

- Pseudonyms: a keyed hash (HMAC-SHA256) of the patient's and the episode's row ids, with a
  key derived for the project (HKDF from the platform's key, the project's id and a random
  salt of its own): stable within a project, unrelated between projects, so two deliveries
  cannot be linked, and nobody without the key can go back (the Norwegian Directorate of
  eHealth on pseudonymisation, https://www.ehelse.no/normen; ENISA, Pseudonymisation
  techniques and best practices, 2019, §3.2 "keyed hash functions",
  https://www.enisa.europa.eu/publications/pseudonymisation-techniques-and-best-practices).
- Never the name, national ID or register number (not variables at all); dates as days
  from the date of diagnosis, the birth date as age at diagnosis, unless the approval
  names the exact date (registry.research_dictionary).
- Streamed: the rows come from a server-side cursor in a repeatable-read transaction (one
  consistent snapshot for every table) and go straight to the files, so the worker's
  memory stays flat whatever the size of the register (REDCap's users name exports that
  run out of memory or time out as their first complaint). Progress is written through a
  second connection, so the page sees it while the reading transaction is open."""

from __future__ import annotations

import hashlib
import hmac
import shutil
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import connection, connections, transaction
from django.utils import timezone

from consortium.csv_safe import safe_writer

from . import research_dictionary as dictionary
from . import research_services
from .research_models import ExtractFile, ResearchExtract

CHUNK = 5000  # rows per fetch from the server-side cursor and per Parquet row group
PROGRESS_EVERY = 5000


def project_key(project) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=project.pseudonym_salt.encode(),
        info=f"nbtc research project {project.pk}".encode(),
    ).derive(settings.RESEARCH_PSEUDONYM_KEY.encode())


class Pseudonyms:
    def __init__(self, project):
        self._key = project_key(project)

    def _code(self, kind: str, pk: int) -> str:
        # 80 bits of HMAC-SHA256, as 20 hex digits.
        return hmac.digest(self._key, f"{kind}:{pk}".encode(), "sha256")[:10].hex().upper()

    def patient(self, pk: int) -> str:
        return "P" + self._code("patient", pk)

    def episode(self, pk: int) -> str:
        return "E" + self._code("episode", pk)


# --- SQL for each variable -------------------------------------------------------------


def _expression(v: dictionary.Variable, alias: str) -> str:  # noqa: C901, PLR0911
    """The SQL that reads a variable; `alias` is the table's row (e: episode, s: section).
    Column names are the models' own and the markers the vocabulary's (never input)."""
    c = v.column
    if v.transform == "patient":
        return f"p.{c}"
    if v.transform == "patient_days":
        return f"(p.{c} - e.diagnosis_date)"
    if v.transform == "age":
        return "date_part('year', age(e.diagnosis_date, p.birth_date))::int"
    if v.transform == "year":
        return "EXTRACT(year FROM e.diagnosis_date)::int"
    if v.transform == "hospital":
        return f"(SELECT code FROM consortium_institution WHERE id = {alias}.{c})"  # noqa: S608
    if v.transform == "days":
        return f"({alias}.{c} - e.diagnosis_date)"
    if v.transform == "days_datetime":
        return f"(({alias}.{c} AT TIME ZONE 'Europe/Oslo')::date - e.diagnosis_date)"
    if v.transform == "count":
        return f"cardinality(e.{c})"
    if v.transform == "first_days":
        return f"((SELECT min(d) FROM unnest(e.{c}) AS d) - e.diagnosis_date)"  # noqa: S608
    if v.transform == "date_list":
        return f"array_to_string(ARRAY(SELECT d::text FROM unnest(e.{c}) AS d ORDER BY d), ';')"  # noqa: S608, E501
    if v.transform == "marker_result":
        return f"(mk.m -> '{c}' ->> 0)"
    if v.transform == "marker_method":
        return f"NULLIF(mk.m -> '{c}' ->> 1, '')"
    if v.type == "yesno":
        return f"{alias}.{c}::int"
    return f"{alias}.{c}"


def _cohort(extract: ResearchExtract) -> tuple[str, list]:
    where, params = ["TRUE"], []
    if extract.cohort_diagnoses:
        where.append("e.diagnosis = ANY(%s)")
        params.append(list(extract.cohort_diagnoses))
    if extract.cohort_regions:
        where.append("p.health_region = ANY(%s)")
        params.append(list(extract.cohort_regions))
    if extract.cohort_year_from:
        where.append("EXTRACT(year FROM e.diagnosis_date) >= %s")
        params.append(extract.cohort_year_from)
    if extract.cohort_year_to:
        where.append("EXTRACT(year FROM e.diagnosis_date) <= %s")
        params.append(extract.cohort_year_to)
    return " AND ".join(where), params


MARKERS_JOIN = (
    "LEFT JOIN LATERAL (SELECT jsonb_object_agg(marker, jsonb_build_array(result, method)) AS m "
    "FROM registry_molecularmarker WHERE episode_id = e.id) mk ON TRUE"
)


@dataclass
class Plan:
    table: dictionary.Table
    variables: list  # the table's approved variables, in dictionary order
    sql: str
    count_sql: str
    params: list

    @property
    def key_columns(self) -> list[str]:
        keys = ["pseudonym", "episode"]
        return keys if self.table.name == dictionary.EPISODE_TABLE else keys + ["instance"]


def plans(extract: ResearchExtract) -> list[Plan]:
    wanted = set(extract.variables)
    where, params = _cohort(extract)
    out = []
    for table in dictionary.tables():
        chosen = [v for v in table.variables if dictionary.qualified(v) in wanted]
        if not chosen and table.name != dictionary.EPISODE_TABLE:
            continue
        base = "FROM registry_tumourepisode e JOIN registry_patient p ON p.id = e.patient_id "
        if table.name == dictionary.EPISODE_TABLE:
            columns = ", ".join(["e.patient_id", "e.id"] + [_expression(v, "e") for v in chosen])
            sql = f"SELECT {columns} {base} {MARKERS_JOIN} WHERE {where} ORDER BY e.id"  # noqa: S608
            count_sql = f"SELECT count(*) {base} WHERE {where}"  # noqa: S608
        else:
            db_table = table.model._meta.db_table
            order = ", ".join(f"s.{f.lstrip('-')}" for f in table.model._meta.ordering) or "s.id"
            columns = ", ".join(
                [
                    "e.patient_id",
                    "e.id",
                    f"row_number() OVER (PARTITION BY s.episode_id ORDER BY {order}, s.id)",
                ]
                + [_expression(v, "s") for v in chosen]
            )
            join = f"JOIN {db_table} s ON s.episode_id = e.id"
            sql = f"SELECT {columns} {base} {join} WHERE {where} ORDER BY e.id, 3"  # noqa: S608
            count_sql = f"SELECT count(*) {base} {join} WHERE {where}"  # noqa: S608
        out.append(Plan(table, chosen, sql, count_sql, params))
    return out


# --- Writing ------------------------------------------------------------------------------

_ARROW = {
    "integer": pa.int64(),
    "number": pa.float64(),
    "yesno": pa.int8(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us", tz="UTC"),
    "time": pa.time64("us"),
}


def _schema(plan: Plan) -> pa.Schema:
    fields = [pa.field(name, pa.string()) for name in plan.key_columns]
    if len(plan.key_columns) == 3:
        fields[2] = pa.field("instance", pa.int64())
    fields += [pa.field(v.name, _ARROW.get(v.type, pa.string())) for v in plan.variables]
    return pa.schema(fields)


def _csv_converter(v: dictionary.Variable):
    """Column by column (this is the extract's inner loop): a variable's values as CSV cells."""
    if v.type in ("date", "datetime", "time"):
        return lambda x: "" if x is None else x.isoformat()
    if v.type == "number":
        return lambda x: "" if x is None else float(x)
    return lambda x: "" if x is None else x


def _arrow_converter(v: dictionary.Variable):
    """A variable's values as its Parquet column's type wants them."""
    if v.type not in _ARROW:  # categorical and text columns are strings (a grade too)
        return lambda x: None if x is None or x == "" else str(x)
    if v.type == "number":
        return lambda x: None if x is None else float(x)
    if v.type == "time":
        return lambda x: x if x is None or x.tzinfo is None else x.replace(tzinfo=None)
    return None  # as read


def extract_folder(extract: ResearchExtract) -> Path:
    return Path(settings.NBTC_EXTRACT_ROOT) / f"extract-{extract.pk}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Progress:
    """Writes the extract's progress on a connection of its own (autocommit), so it is
    seen while the reading transaction is still open."""

    def __init__(self, extract_id: int, total: int):
        self.extract_id, self.total, self.done = extract_id, max(total, 1), 0
        self._connection = connections.create_connection("default")

    def add(self, rows: int, text: str) -> None:
        self.done += rows
        percent = min(99, int(100 * self.done / self.total))
        with self._connection.cursor() as cursor:
            cursor.execute(
                "UPDATE registry_researchextract SET progress = %s, progress_text = %s "
                "WHERE id = %s",
                [percent, text[:200], self.extract_id],
            )

    def close(self) -> None:
        self._connection.close()


def _write_table(plan: Plan, folder: Path, prefix: str, pseudonyms: Pseudonyms, progress) -> list:
    csv_path = folder / f"{prefix}-{plan.table.name}.csv"
    parquet_path = folder / f"{prefix}-{plan.table.name}.parquet"
    schema = _schema(plan)
    header = plan.key_columns + [v.name for v in plan.variables]
    rows = 0
    with (
        csv_path.open("w", encoding="utf-8", newline="") as csv_file,
        pq.ParquetWriter(parquet_path, schema, compression="zstd") as parquet,
        connection.chunked_cursor() as cursor,
    ):
        writer = safe_writer(csv_file)
        writer.writerow(header)
        to_csv = [_csv_converter(v) for v in plan.variables]
        to_arrow = [_arrow_converter(v) for v in plan.variables]
        cursor.execute(plan.sql, plan.params)
        while True:
            batch = cursor.fetchmany(CHUNK)
            if not batch:
                break
            raw = list(zip(*batch, strict=True))
            keys = [
                [pseudonyms.patient(pk) for pk in raw[0]],
                [pseudonyms.episode(pk) for pk in raw[1]],
            ]
            values = raw[2:]
            if len(plan.key_columns) == 3:
                keys.append(list(values[0]))
                values = values[1:]
            writer.writerows(
                zip(
                    *keys,
                    *(list(map(c, col)) for c, col in zip(to_csv, values, strict=True)),
                    strict=True,
                )
            )
            columns = keys + [
                list(col) if c is None else list(map(c, col))
                for c, col in zip(to_arrow, values, strict=True)
            ]
            parquet.write_table(pa.Table.from_arrays(columns, schema=schema))
            rows += len(batch)
            progress.add(len(batch), f"{plan.table.label}: {rows} rows")
    return [(csv_path, "csv", rows), (parquet_path, "parquet", rows)]


def _write_dictionary(extract: ResearchExtract, folder: Path, prefix: str):
    path = folder / f"{prefix}-data-dictionary.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        safe_writer(f).writerows(dictionary.redcap_rows(list(extract.variables)))
    return path, "csv", len(dictionary.redcap_rows(list(extract.variables))) - 1


def extract_build(extract_id: int) -> ResearchExtract:
    """Build one extract's files (the Celery task's body). Idempotent: a finished extract
    is left alone; one whose worker died is built again from the start."""
    extract = ResearchExtract.objects.select_related("project").get(pk=extract_id)
    if extract.status in (ResearchExtract.Status.DONE, ResearchExtract.Status.EXPIRED):
        return extract
    folder = extract_folder(extract)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    ResearchExtract.objects.filter(pk=extract.pk).update(
        status=ResearchExtract.Status.RUNNING, progress=0, progress_text="Counting rows", error=""
    )
    prefix = f"nbtc-project{extract.project_id}-extract{extract.pk}"
    written = []
    try:
        research_services.project_usable(extract.project)
        pseudonyms = Pseudonyms(extract.project)
        own_transaction = not connection.in_atomic_block  # not inside a test's transaction
        with transaction.atomic():
            if own_transaction:
                with connection.cursor() as cursor:  # one snapshot for every table
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            todo = plans(extract)
            with connection.cursor() as cursor:
                total = 0
                for plan in todo:
                    cursor.execute(plan.count_sql, plan.params)
                    total += cursor.fetchone()[0]
            progress = Progress(extract.pk, total)
            try:
                for plan in todo:
                    written += _write_table(plan, folder, prefix, pseudonyms, progress)
            finally:
                progress.close()
        written.append(_write_dictionary(extract, folder, prefix))
    except Exception as error:  # noqa: BLE001  recorded on the extract, shown on its page
        shutil.rmtree(folder, ignore_errors=True)
        ResearchExtract.objects.filter(pk=extract.pk).update(
            status=ResearchExtract.Status.FAILED, error=str(error)[:2000]
        )
        raise
    finished = timezone.now()
    with transaction.atomic():
        for path, fmt, rows in written:
            table = path.stem.removeprefix(prefix + "-")
            ExtractFile.objects.create(
                extract=extract,
                name=path.name,
                table=table,
                format=fmt,
                rows=rows,
                size=path.stat().st_size,
                sha256=_sha256(path),
            )
        episodes = next(r for p, f, r in written if f == "csv" and p.stem.endswith("-episodes"))
        ResearchExtract.objects.filter(pk=extract.pk).update(
            status=ResearchExtract.Status.DONE,
            progress=100,
            progress_text="Delivered",
            rows=episodes,
            finished_at=finished,
            expires_at=research_services.extract_expiry(finished),
        )
    extract.refresh_from_db()
    return extract


def file_path(file: ExtractFile) -> Path:
    return extract_folder(file.extract) / file.name


def expire_extracts(now=None) -> int:
    """Deliveries past their download period: files removed, the log kept."""
    now = now or timezone.now()
    expired = 0
    for extract in ResearchExtract.objects.filter(
        status=ResearchExtract.Status.DONE, expires_at__lte=now
    ):
        shutil.rmtree(extract_folder(extract), ignore_errors=True)
        ResearchExtract.objects.filter(pk=extract.pk).update(status=ResearchExtract.Status.EXPIRED)
        expired += 1
    return expired
