"""Erasure on request: ``data-platform erase-customer ID`` removes one customer's personal data
everywhere the platform put it, and keeps it removed.

What is erased, and what is kept (the choice, written down):

- The customer's **personal fields** (the columns the customers contract classifies, but the
  id): name becomes ``erased``, e-mail, phone, street, city and postcode become null. In the
  warehouse: ``raw.customers`` and every version table of it (``raw.customers_versions``),
  the quarantine records of the customer (their ``original`` row, ``value``, ``failures`` and
  ``message``, with the rule and column kept: why the row was held back stays known), and
  the marts' generalised values (``dim_customers``: city, postcode area, e-mail domain; the
  history dimension's likewise). In the lake: every Parquet file of the raw and quarantine
  zones of those datasets, rewritten atomically.
- The customer's **events in the lake's history**: the text of their tweets becomes
  ``[erased]`` in the landing files (``landing/tweets/*.jsonl``, rewritten), in the raw and
  quarantine zones and in ``raw.tweets``.
- **Kept**: the shop's customer id, which links the orders (business records the shop must
  keep) and leads to nothing once the row is anonymised, and so the orders, their totals and
  every mart figure. The marts know the customer only by a keyed pseudonym anyway.
- **Kept erased**: the request is recorded in ``audit.erasures`` under the customer's
  pseudonym (HMAC of the id, never the id, the name or any value): who asked, when, and per
  place what was touched and how many rows or files. The customers ingest anonymises every
  row whose pseudonym is there before it screens or stores it, so the next runs, and a
  re-run of any old load, keep it erased while the shop database still holds the row.

The shop database itself is the shop's system, not the platform's: erasing there is the
shop application's job (its deletion then reaches the platform as a deleted row).
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from data_platform.core.lake_layout import LANDING, QUARANTINE, RAW
from data_platform.core.pseudonyms import pseudonym
from data_platform.resources.lake import LakeResource
from data_platform.resources.pseudonyms import PseudonymKeyResource
from data_platform.resources.warehouse import WarehouseResource
from data_platform.sources.landing.datasets import TWEETS
from data_platform.sources.shop_db.datasets import CUSTOMERS
from data_platform.sources.shop_db.erased import AUDIT_TABLE, ERASED_NAME, erased_values

ERASED_TEXT = "[erased]"
CUSTOMER_DATASETS = ("customers", "customers_versions")


@dataclass
class ErasureReport:
    """What one erasure touched: rows per warehouse table, files per lake zone."""

    subject: str  # the customer's pseudonym
    requested_by: str
    erased_at: dt.datetime
    touched: dict[str, int] = field(default_factory=dict)

    def add(self, place: str, count: int) -> None:
        if count:
            self.touched[place] = self.touched.get(place, 0) + count


def erase_customer(
    customer_id: str,
    requested_by: str,
    warehouse: WarehouseResource,
    lake: LakeResource,
    pseudonyms: PseudonymKeyResource,
    now: dt.datetime | None = None,
) -> ErasureReport:
    """Erase customer ``customer_id`` (see the module's docstring) and record it. Idempotent:
    erasing again touches nothing more and records the request again. Raises a fault of
    :mod:`data_platform.resources.faults` when the warehouse or the lake fails (what was
    rewritten before stays rewritten; running the command again completes it)."""
    subject = pseudonym(pseudonyms.secret(), customer_id)
    report = ErasureReport(
        subject, requested_by, now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    )
    known = _known_values(warehouse, customer_id)
    # The register first: from here on every load anonymises the customer.
    warehouse.execute([_audit_table_sql(), *_register_sql(report)])
    for dataset in CUSTOMER_DATASETS:
        if warehouse.table_exists(RAW, dataset):
            report.add(
                f"warehouse {RAW}.{dataset}", _erase_customer_rows(warehouse, dataset, customer_id)
            )
        for zone in (RAW, QUARANTINE):
            report.add(
                f"lake {zone}/{dataset}",
                _rewrite_parquet(lake, f"{zone}/{dataset}", customer_id, known),
            )
    report.add(
        f"warehouse {QUARANTINE}.customers",
        _erase_quarantine(warehouse, "customers", customer_id, "row_key", known),
    )
    report.add(f"warehouse {RAW}.tweets", _erase_tweets(warehouse, customer_id))
    report.add(
        f"warehouse {QUARANTINE}.tweets",
        _erase_quarantine(warehouse, "tweets", customer_id, "user_id", known),
    )
    report.add("lake landing/tweets", _rewrite_landing_tweets(lake, customer_id))
    for zone in (RAW, QUARANTINE):
        report.add(
            f"lake {zone}/tweets", _rewrite_parquet(lake, f"{zone}/tweets", customer_id, known)
        )
    report.add("warehouse marts", _erase_marts(warehouse, customer_id, subject))
    warehouse.execute(_register_sql(report, touched=True))
    return report


# ---- the warehouse


def _audit_table_sql() -> str:
    schema, table = AUDIT_TABLE
    return (
        f"create schema if not exists {schema}; create table if not exists {schema}.{table} "
        "(subject_key text, requested_by text, erased_at timestamp, completed boolean, "
        "touched text)"
    )


def _register_sql(report: ErasureReport, touched: bool = False) -> list[str]:
    schema, table = AUDIT_TABLE
    when = report.erased_at.isoformat(sep=" ")
    if touched:
        done = (
            f"update {schema}.{table} set completed = true, touched = "
            f"{_literal(json.dumps(report.touched, sort_keys=True))} "
            f"where subject_key = {_literal(report.subject)} and erased_at = '{when}'"
        )
        return [done]
    started = (
        f"insert into {schema}.{table} values ({_literal(report.subject)}, "
        f"{_literal(report.requested_by)}, '{when}', false, '{{}}')"
    )
    return [started]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _known_values(warehouse: WarehouseResource, customer_id: str) -> set[str]:
    """Every personal value the platform holds of the customer, to find in free text."""
    values: set[str] = set()
    columns = ", ".join(c for c in CUSTOMERS.personal_columns if c != "id")
    for dataset in CUSTOMER_DATASETS:
        if warehouse.table_exists(RAW, dataset):
            for row in warehouse.query(
                f"select {columns} from {RAW}.{dataset} where id = {_literal(customer_id)}"
            ):
                values.update(v for v in row.values() if v and v != ERASED_NAME)
    return values


def _erase_customer_rows(warehouse: WarehouseResource, dataset: str, customer_id: str) -> int:
    assignments = ", ".join(
        f"{name} = {_literal(value) if value else 'null'}"
        for name, value in erased_values().items()
    )
    condition = (
        f"id = {_literal(customer_id)} and (name is distinct from '{ERASED_NAME}' or "
        + (" or ".join(f"{n} is not null" for n, v in erased_values().items() if v is None))
        + ")"
    )
    (row,) = warehouse.query(f"select count(*) as n from {RAW}.{dataset} where {condition}")
    if row["n"]:
        warehouse.execute([f"update {RAW}.{dataset} set {assignments} where {condition}"])
    return int(row["n"])


def _erase_tweets(warehouse: WarehouseResource, customer_id: str) -> int:
    if not warehouse.table_exists(RAW, "tweets"):
        return 0
    condition = f"user_id = {_literal(customer_id)} and content is distinct from '{ERASED_TEXT}'"
    (row,) = warehouse.query(f"select count(*) as n from {RAW}.tweets where {condition}")
    if row["n"]:
        warehouse.execute([f"update {RAW}.tweets set content = '{ERASED_TEXT}' where {condition}"])
    return int(row["n"])


def _erase_quarantine(
    warehouse: WarehouseResource, dataset: str, customer_id: str, key: str, known: set[str]
) -> int:
    """The customer's quarantine records of ``dataset``: found by their key (``row_key``) or
    by the customer column of their original row."""
    if not warehouse.table_exists(QUARANTINE, dataset):
        return 0
    rows = warehouse.query(
        f"select row_key, source_row, rule, column_name, value, message, failures, original "
        f"from {QUARANTINE}.{dataset}"
    )
    statements = []
    for row in rows:
        original = json.loads(row["original"] or "{}")
        if (row["row_key"] if key == "row_key" else original.get(key)) != customer_id:
            continue
        scrubbed = _scrub_record(row, original, dataset, known)
        if scrubbed == row:
            continue
        statements.append(
            f"update {QUARANTINE}.{dataset} set value = {_sql_value(scrubbed['value'])}, "
            f"message = {_sql_value(scrubbed['message'])}, failures = "
            f"{_sql_value(scrubbed['failures'])}, original = {_sql_value(scrubbed['original'])} "
            f"where row_key is not distinct from {_sql_value(row['row_key'])} and source_row is "
            f"not distinct from {_sql_value(row['source_row'])} and rule = {_literal(row['rule'])} "
            f"and original is not distinct from {_sql_value(row['original'])}"
        )
    if statements:
        warehouse.execute(statements)
    return len(statements)


def _sql_value(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    return _literal(str(value))


def _personal(dataset: str) -> dict[str, str | None]:
    if dataset == "tweets":
        return {"content": ERASED_TEXT}
    return erased_values()


def _scrub_record(record: dict, original: dict, dataset: str, known: set[str]) -> dict:
    personal = _personal(dataset)
    for name, value in personal.items():
        if name in original:
            original[name] = value
    scrubbed = dict(record)
    scrubbed["original"] = json.dumps(original, sort_keys=True) if record["original"] else None
    if record["column_name"] in personal:
        scrubbed["value"] = None
    for name in ("message", "failures"):
        text = record[name]
        for value in sorted(known, key=len, reverse=True):
            if text and value in text:
                text = text.replace(value, ERASED_TEXT)
        scrubbed[name] = text
    return scrubbed


def _erase_marts(warehouse: WarehouseResource, customer_id: str, subject: str) -> int:
    """The generalised values of the customer marts: null where they describe the customer."""
    touched = 0
    targets = (
        ("dim_customers", "customer_key", subject, ("email_domain", "city", "postcode_area")),
        ("dim_customers_history", "customer_key", subject, ("city", "postcode_area")),
    )
    for table, key, value, columns in targets:
        if not warehouse.table_exists("marts", table):
            continue
        present = {
            r["column_name"]
            for r in warehouse.query(
                "select column_name from information_schema.columns where table_schema = "
                f"'marts' and table_name = '{table}'"
            )
        }
        columns = [c for c in columns if c in present]
        if key not in present or not columns:
            continue
        condition = (
            f"{key} = {_literal(value)} and ("
            + " or ".join(f"{c} is not null" for c in columns)
            + ")"
        )
        (row,) = warehouse.query(f"select count(*) as n from marts.{table} where {condition}")
        if row["n"]:
            assignments = ", ".join(f"{c} = null" for c in columns)
            warehouse.execute([f"update marts.{table} set {assignments} where {condition}"])
            touched += int(row["n"])
    return touched


# ---- the lake


def _rewrite_parquet(lake: LakeResource, prefix: str, customer_id: str, known: set[str]) -> int:
    """Rewrite every Parquet file below ``prefix`` that holds the customer; files rewritten."""
    dataset = prefix.split("/", 1)[1]
    rewritten = 0
    for file in lake.list_files(prefix):
        if not file.path.endswith(".parquet"):
            continue
        table = pq.read_table(io.BytesIO(lake.read_bytes(file.path)))
        changed = _erased_table(table, dataset, prefix.startswith(QUARANTINE), customer_id, known)
        if changed is not None:
            sink = io.BytesIO()
            pq.write_table(changed, sink)
            lake.write_bytes(file.path, sink.getvalue())
            rewritten += 1
    return rewritten


def _erased_table(
    table: pa.Table, dataset: str, quarantine: bool, customer_id: str, known: set[str]
) -> pa.Table | None:
    if quarantine:
        rows = table.to_pylist()
        key = "row_key" if dataset.startswith("customers") else "user_id"
        changed = False
        for index, row in enumerate(rows):
            original = json.loads(row.get("original") or "{}")
            if (row.get("row_key") if key == "row_key" else original.get(key)) != customer_id:
                continue
            scrubbed = _scrub_record(row, original, dataset.split("_versions")[0], known)
            if scrubbed != row:
                rows[index], changed = scrubbed, True
        return pa.Table.from_pylist(rows, schema=table.schema) if changed else None
    key = "user_id" if dataset == "tweets" else "id"
    if key not in table.column_names:
        return None
    mine = pc.fill_null(pc.equal(table[key], customer_id), False)
    personal = _personal(dataset.split("_versions")[0])
    changed = False
    for name, value in personal.items():
        if name not in table.column_names:
            continue
        column = table[name]
        differs = pc.and_(mine, pc.invert(pc.fill_null(pc.equal(column, value), False)))
        if value is None:
            differs = pc.and_(mine, pc.is_valid(column))
        if not pc.any(differs).as_py():
            continue
        replacement = pa.scalar(value, column.type)
        table = table.set_column(
            table.column_names.index(name), name, pc.if_else(mine, replacement, column)
        )
        changed = True
    return table if changed else None


def _rewrite_landing_tweets(lake: LakeResource, customer_id: str) -> int:
    rewritten = 0
    for file in lake.list_files(f"{LANDING}/{TWEETS.name}"):
        lines = lake.read_bytes(file.path).decode("utf-8").splitlines(keepends=True)
        changed = False
        for index, line in enumerate(lines):
            if customer_id not in line:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a malformed line is the ingest's to quarantine
            if record.get("user_id") == customer_id and record.get("content") != ERASED_TEXT:
                record["content"] = ERASED_TEXT
                end = "\n" if line.endswith("\n") else ""
                lines[index], changed = json.dumps(record) + end, True
        if changed:
            lake.write_bytes(file.path, "".join(lines).encode("utf-8"))
            rewritten += 1
    return rewritten


def describe(report: ErasureReport) -> Iterable[str]:
    """The command's lines: what was touched, never a value."""
    yield f"erase-customer: subject {report.subject[:16]}... erased at {report.erased_at} UTC"
    for place, count in sorted(report.touched.items()):
        unit = "file(s)" if place.startswith("lake") else "row(s)"
        yield f"  {place}: {count} {unit}"
    if not report.touched:
        yield "  nothing held the customer's personal data (already erased, or never loaded)"
