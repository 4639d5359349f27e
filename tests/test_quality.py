"""The raw data contracts as pure functions: file readers, pandera rules, the quarantine policy;
and a held-back reference file stopping the models below it."""

import datetime as dt
import json

import duckdb
import pyarrow as pa

from data_platform.core.lake_layout import landing_reference_path
from data_platform.headless import execute
from data_platform.loading.file_formats import read_csv, read_jsonl, to_typed
from data_platform.quality.quarantine import Batch, Context, Failure, screen
from data_platform.quality.row_rules import row_failures
from data_platform.sources.landing import datasets as landing
from data_platform.sources.shop_db import datasets as shop
from tests.conftest import SETTINGS

ORDER = {
    "id": "o1",
    "customer": "c1",
    "ordered_at": dt.datetime(2018, 9, 1, 10),
    "store_id": "s1",
    "subtotal": 700,
    "tax_paid": 42,
    "order_total": 742,
    "_partition_date": dt.date(2018, 9, 1),
}
DAY = dt.date(2018, 9, 1)


def orders_batch(*rows: dict) -> Batch:
    table = pa.Table.from_pylist([{**ORDER, **r} for r in rows], schema=shop.ORDERS.schema)
    n = table.num_rows
    return Batch(table, ["shop_db.orders"] * n, [None] * n, [DAY])


def context(**overrides) -> Context:
    return Context(row_rules=lambda frame: row_failures(shop.ORDERS, frame), **overrides)


def test_csv_reader_keeps_every_record_with_its_line():
    data = (
        b"sku,name,type,price,description,updated_at\nA,a,jaffle,100,x,2018-09-01 00:00:00\n"
        b"B,b,jaffle\n\nC,c,beverage,1,,2018-09-01 00:00:00\n"
    )
    parsed = read_csv(data, "p.csv", landing.PRODUCTS.source_schema.names)
    assert parsed.lines == [2, 3, 5]
    assert [f.rule for f in parsed.failures[1]] == ["field_count"]
    assert parsed.failures[1][0].column == "price"  # the first column without a value
    assert parsed.records[2]["description"] is None


def test_csv_reader_reports_drift_and_delimiters():
    names = landing.STORES.source_schema.names
    parsed = read_csv(b"id;name;opened_at;tax_rate\n1;a;2018-01-01;0.1\n", "s.csv", names)
    assert not parsed.usable and parsed.missing_columns == names
    assert "';'-delimited" in parsed.file_error
    data = b"id,name,opened_at,tax_rate,updated_at,city\n1,a,2018-01-01,0.1,2018-01-01,x\n"
    parsed = read_csv(data, "s.csv", names)
    assert parsed.usable and parsed.added_columns == ["city"]


def test_jsonl_reader_fails_lines_not_files():
    names = landing.TWEETS.source_schema.names
    line = {"id": "t", "user_id": "u", "tweeted_at": "2018-09-01T10:00:00", "content": "hi"}
    data = (json.dumps(line) + "\n{broken\n").encode() + b'{"id": "x", "content": "caf\xe9"}\n'
    parsed = read_jsonl(data, "t.jsonl", names)
    assert parsed.usable and len(parsed.records) == 3
    assert [f.rule for f in parsed.failures[1]] == ["malformed_json"]
    assert {(f.rule, f.column) for f in parsed.failures[2]} >= {
        ("missing_column", "user_id"),
        ("encoding", "content"),
    }


def test_typed_conversion_fails_values_not_rows():
    records = [
        {"id": "1", "name": "a", "cost": "12", "perishable": "True", "sku": "S"},
        {"id": "2", "name": "b", "cost": "12.5O", "perishable": "maybe", "sku": "S"},
    ]
    table, failures = to_typed(records, landing.SUPPLIES.source_schema)
    assert table["cost"].to_pylist() == [12, None]
    assert {(f.rule, f.column) for f in failures[1]} == {
        ("type(int64)", "cost"),
        ("type(bool)", "perishable"),
    }
    _, failures = to_typed(
        [{"opened_at": "2018-09-01T10:00:00+02:00"}, {"opened_at": "2018-02-30"}],
        pa.schema([pa.field("opened_at", pa.timestamp("us"))]),
    )
    assert [f[0].rule for f in failures.values()] == ["time_zone", "type(timestamp[us])"]


def test_clean_rows_pass():
    assert (
        row_failures(
            shop.ORDERS, orders_batch(ORDER).rows.drop_columns(["_partition_date"]).to_pandas()
        )
        == {}
    )


def test_contract_names_row_column_and_value():
    batch = orders_batch({}, {"id": "o2", "subtotal": -5})
    result = screen(shop.ORDERS, batch, context(max_percent=100))
    assert result.clean.column("id").to_pylist() == ["o1"]
    failures = json.loads(result.quarantine.column("failures")[0].as_py())
    expected = {"rule": "greater_than_or_equal_to(0)", "column": "subtotal", "value": "-5"}
    assert any(expected.items() <= f.items() for f in failures)
    assert {f["rule"] for f in failures} == {
        "greater_than_or_equal_to(0)",
        "order_total = subtotal + tax_paid",
    }
    assert (
        result.quarantine.column("message")[0].as_py().startswith("shop_db.orders key o2, column")
    )


def test_duplicates_exact_copies_load_once_conflicts_not_at_all():
    rows = [{}, {}, {"id": "o2"}, {"id": "o2", "store_id": "s2"}] + [
        {"id": f"k{i}"} for i in range(20)
    ]
    result = screen(shop.ORDERS, orders_batch(*rows), context(max_percent=100))
    rules = dict(
        zip(
            result.quarantine["row_key"].to_pylist(),
            result.quarantine["rule"].to_pylist(),
            strict=False,
        )
    )
    assert result.quarantine.num_rows == 3
    assert rules == {"o1": "duplicate_row", "o2": "field_uniqueness"}
    assert "o1" in result.clean.column("id").to_pylist()


def test_references_and_keys_loaded_elsewhere():
    rows = [{"id": f"k{i}"} for i in range(20)] + [{"id": "x", "store_id": "gone"}]
    result = screen(
        shop.ORDERS,
        orders_batch(*rows),
        context(
            references={"store_id": ("raw.stores", frozenset({"s1"}))},
            keys_elsewhere={"k0": dt.date(2018, 8, 31)},
        ),
    )
    assert sorted(result.quarantine["rule"].to_pylist()) == [
        "key_in_other_partition",
        "unknown_reference",
    ]
    assert result.read[DAY] == 21 and result.quarantined[DAY] == 2 and not result.held_back


def test_a_partition_above_the_limit_is_held_back_whole():
    rows = [{"id": f"k{i}"} for i in range(9)] + [{"id": "bad", "tax_paid": -1}]
    result = screen(shop.ORDERS, orders_batch(*rows), context(max_percent=5))
    assert result.clean.num_rows == 0 and result.quarantine.num_rows == 10
    assert "10.0 %" in result.held_back[DAY]
    assert result.quarantine["rule"].to_pylist().count("partition_held_back") == 9
    assert not screen(shop.ORDERS, orders_batch(*rows), context(max_percent=10)).held_back


def test_unusable_file_holds_back_its_partition_with_zero_rows():
    batch = orders_batch()
    batch = Batch(batch.rows.slice(0, 0), [], [], [DAY], held_back={DAY: "f.csv: missing column x"})
    result = screen(shop.ORDERS, batch, context())
    assert result.held_back[DAY].endswith("missing column x; not loaded")
    assert Failure("r", None, None).as_dict()["rule"] == "r"


def test_blocking_check_stops_the_models_below(full_run, resources):
    """A landing file with two negative prices in ten rows (above the 10 % limit) is held
    back: raw/products fails its blocking check and dbt does not run."""
    lake = resources["lake"]
    path = landing_reference_path("products")
    original = lake.read_bytes(path)
    warehouse = SETTINGS.warehouse.path
    with duckdb.connect(warehouse, read_only=True) as conn:
        sku, price = conn.execute(
            "select sku, price from marts.dim_products order by sku limit 1"
        ).fetchone()
    lines = original.decode().splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith(f"{sku},"))
    for row in (index, index % (len(lines) - 1) + 1):
        fields = lines[row].split(",")
        fields[3] = "-" + fields[3]
        lines[row] = ",".join(fields)
    lake.write_bytes(path, ("\n".join(lines) + "\n").encode())
    try:
        summary = execute(SETTINGS, "reference_files_job")
        assert not summary.success
        assert summary.failed_steps == ["raw__products"]
        assert any("raw/products:raw_contract" in c and "price" in c for c in summary.checks_failed)
        # The three reference ingests materialized; no dbt model below them ran.
        assert summary.materializations == 3
        with duckdb.connect(warehouse, read_only=True) as conn:
            # raw.products kept its rows, so the marts still hold the old prices.
            assert (
                conn.execute(
                    "select price from marts.dim_products where sku = ?", [sku]
                ).fetchone()[0]
                == price
            )
    finally:
        lake.write_bytes(path, original)
        assert execute(SETTINGS, "reference_files_job").success
