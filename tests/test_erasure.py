"""Erasure on request: ``data-platform erase-customer`` on a copy of the session's state after
its full run, then a search of every lake file and every warehouse table for the customer's
name, e-mail and phone; the marts' totals; the next load keeping it erased; the audit."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import duckdb
import pytest
import sqlalchemy as sa
from dagster import AssetKey

from data_platform.core.settings import HOME, Settings
from data_platform.erasure import ERASED_TEXT, _scrub_record
from data_platform.sources.shop_db.erased import ERASED_NAME
from tests import in_process
from tests.conftest import BIN, SETTINGS

TOTALS = {
    "dim_customers": "count(*), sum(lifetime_order_count), sum(lifetime_spend)",
    "fct_orders": "count(*), sum(order_total), sum(supply_cost)",
    "fct_daily_store_sales": "sum(order_count), sum(customer_count), sum(revenue)",
    "fct_customer_activity": "sum(order_count), count(*)",
}


@pytest.fixture(scope="module")
def platform(tmp_path_factory, full_run) -> in_process.Platform:
    assert full_run.returncode == 0, full_run.stdout[-3000:]
    home = tmp_path_factory.mktemp("erasure") / "home"
    shutil.copytree(SETTINGS.home, home, ignore=shutil.ignore_patterns("logs", "*.lock"))
    return in_process.Platform(Settings.from_environ({HOME: str(home)}))


def shop_customer(platform, customer_id: str) -> dict:
    engine = sa.create_engine(platform.settings.shop_db_url)
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("select name, email, phone, street from customers where id = :id"),
            {"id": customer_id},
        ).one()
    engine.dispose()
    return dict(row._mapping)


def totals(platform) -> dict:
    with duckdb.connect(platform.settings.warehouse.path, read_only=True) as conn:
        return {m: conn.execute(f"select {q} from marts.{m}").fetchone() for m, q in TOTALS.items()}


def everything_that_holds(platform, values: list[str]) -> list[str]:
    """Every lake file (its bytes) and every warehouse column (every row, every schema) that
    holds one of ``values``."""
    found = []
    for path in platform.settings.home.joinpath("lake").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {v}" for v in values if v.encode() in data]
    with duckdb.connect(platform.settings.warehouse.path, read_only=True) as conn:
        columns = conn.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where data_type = 'VARCHAR'"
        ).fetchall()
        for schema, table, column in columns:
            for value in values:
                (n,) = conn.execute(
                    f'select count(*) from "{schema}"."{table}" where contains("{column}", ?)',
                    [value],
                ).fetchone()
                if n:
                    found.append(f"{schema}.{table}.{column}: {value}")
    return found


def test_erasure_leaves_no_trace_keeps_the_totals_and_survives_the_next_load(platform):
    with duckdb.connect(platform.settings.warehouse.path, read_only=True) as conn:
        # A customer with orders and tweets: the most active tweeter.
        (customer,) = conn.execute(
            "select user_id from raw.tweets t join raw.orders o on o.customer = t.user_id "
            "group by user_id order by count(*) desc, user_id limit 1"
        ).fetchone()
    person = shop_customer(platform, customer)
    values = [v for v in person.values() if v]
    assert len(values) == 4
    assert everything_that_holds(platform, values)  # the search finds them before
    before = totals(platform)

    env = {**os.environ, HOME: str(platform.settings.home)}
    env.pop("DAGSTER_HOME", None)
    done = subprocess.run(
        [str(BIN / "data-platform"), "erase-customer", customer, "--requested-by", "dpo@shop"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    printed = done.stdout + done.stderr
    assert "warehouse raw.customers: 1 row(s)" in printed, printed
    assert "lake landing/tweets:" in printed and "lake raw/customers: 1 file(s)" in printed
    assert not [v for v in values + [customer] if v in printed]

    assert everything_that_holds(platform, values) == []
    assert totals(platform) == before
    with duckdb.connect(platform.settings.warehouse.path, read_only=True) as conn:
        (content,) = conn.execute(
            "select distinct content from raw.tweets where user_id = ?", [customer]
        ).fetchone()
        audit = conn.execute("select * from audit.erasures").fetchall()
    assert content == ERASED_TEXT
    (row,) = audit
    subject, requested_by, _, completed, touched = row
    assert (requested_by, completed) == ("dpo@shop", True) and customer not in subject
    assert json.loads(touched)["warehouse raw.customers"] == 1

    # The shop database still holds the customer: the next loads keep them erased.
    result = platform.materialize(
        [
            AssetKey(["raw", "customers"]),
            AssetKey(["staging", "stg_customers"]),
            AssetKey(["marts", "dim_customers"]),
        ]
    )
    assert result.success
    assert everything_that_holds(platform, values) == []
    with duckdb.connect(platform.settings.warehouse.path, read_only=True) as conn:
        (name,) = conn.execute("select name from raw.customers where id = ?", [customer]).fetchone()
    assert name == ERASED_NAME
    assert totals(platform) == before

    again = subprocess.run(
        [str(BIN / "data-platform"), "erase-customer", customer],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert again.returncode == 0 and "nothing held" in again.stdout, again.stdout


def test_a_quarantine_record_keeps_its_reason_and_loses_the_values():
    values = {"ann@example.com", "Ann Example"}
    record = {
        "row_key": "c-1",
        "rule": "str_length",
        "column_name": "email",
        "value": "ann@example.com",
        "message": "email 'ann@example.com' is longer than 254 characters",
        "failures": json.dumps([{"column": "email", "value": "ann@example.com"}]),
        "original": json.dumps({"id": "c-1", "name": "Ann Example", "email": "ann@example.com"}),
    }
    scrubbed = _scrub_record(record, json.loads(record["original"]), "customers", values)
    assert (scrubbed["rule"], scrubbed["column_name"]) == ("str_length", "email")
    assert scrubbed["value"] is None
    assert not any(v in str(scrubbed) for v in values)
    assert json.loads(scrubbed["original"]) == {"id": "c-1", "name": ERASED_NAME, "email": None}
