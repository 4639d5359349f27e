"""The column-wise row rules against their definition, the contracts' pandera schemas; the
Arrow helpers they and the quarantine policy share; the loader's split of a batch by day."""

import datetime as dt
import random
from unittest import mock

import numpy as np
import pandas as pd
import pandera.pandas as pandera
import pyarrow as pa
import pytest
from pandera.errors import SchemaErrors

from data_platform.core.datasets import Column, Dataset, key
from data_platform.loading.loader import _split_by_day
from data_platform.quality import columnar
from data_platform.quality.columnar import duplicated, positions, row_codes, texts
from data_platform.quality.row_rules import row_failures
from data_platform.sources.landing import datasets as landing
from data_platform.sources.shop_db import datasets as shop

# A contract with a check no kernel covers: it runs through pandera, on a pandas Series.
CODES = Dataset(
    "codes",
    "Codes and their labels, which start with 'c'.",
    columns=(
        key("id", "The code.", unique=True),
        Column(
            "label",
            pa.string(),
            "Its label.",
            nullable=True,
            checks=(pandera.Check(lambda s: s.str.startswith("c"), name="starts_with_c"),),
        ),
    ),
    key=("id",),
)
CONTRACTS = (*shop.DATASETS, *landing.DATASETS, CODES)

VALUES = {
    "int": [None, -1, 0, 5, 700, 742, 100_000, 100_001, 1_000_000, 1_000_001, 2**62],
    "float": [None, -0.1, 0.0, 0.06, 0.25, 0.3],
    "bool": [None, True, False],
    "timestamp": [None, dt.datetime(2018, 9, 1, 10), dt.datetime(2018, 9, 1, 10, 0, 0, 5)],
    "text": [None, "", "c1", "s1", "A", "o1", "jaffle", "beverage", "soda", "x" * 65, "é" * 64]
    + ["y" * 201, "z" * 2001],
}


def _kind(column_type: pa.DataType) -> str:
    for kind, test in (
        ("int", pa.types.is_integer),
        ("float", pa.types.is_floating),
        ("bool", pa.types.is_boolean),
        ("timestamp", pa.types.is_timestamp),
    ):
        if test(column_type):
            return kind
    return "text"


def random_rows(rng: random.Random, dataset: Dataset) -> pa.Table:
    """Rows that break the contract in many ways at once: every value drawn from a short list
    of good, missing and out-of-range ones, keys and whole rows repeated."""
    rows = []
    for _ in range(rng.choice([0, 1, 2, 5, 10, 30, 80])):
        if rows and rng.random() < 0.2:
            rows.append(dict(rng.choice(rows)))
            continue
        row = {c.name: rng.choice(VALUES[_kind(c.type)]) for c in dataset.columns}
        if rng.random() < 0.5 and "order_total" in row:
            row.update(subtotal=700, tax_paid=42, order_total=rng.choice([742, 743]))
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=dataset.source_schema)


def pandera_failures(dataset: Dataset, rows: pa.Table) -> list[tuple[int, list[dict]]]:
    """The contract run by pandera itself on ``rows``, read into failures per row position as
    the platform screened before the row rules were evaluated column-wise: each rule once per
    row, a row rule on its own column. pandera orders its failure cases with an unstable sort;
    a stable one makes the reference deterministic (its order for up to 16 cases)."""
    frame = rows.to_pandas(
        types_mapper={pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}.get,
        coerce_temporal_nanoseconds=True,
    )
    sort_values = pd.DataFrame.sort_values

    def stable(self, *args, **kwargs):
        return sort_values(self, *args, **{**kwargs, "kind": "stable"})

    try:
        with mock.patch.object(pd.DataFrame, "sort_values", stable):
            dataset.pandera_schema.validate(frame, lazy=True)
    except SchemaErrors as errors:
        cases = errors.failure_cases
    else:
        return []
    rule_columns = {rule.name: rule.column for rule in dataset.row_rules}
    found: dict[int, list[dict]] = {}
    for case in cases.itertuples():
        check, row = str(case.check), int(case.index)
        column = rule_columns.get(check, case.column)
        if column != case.column or any(f["rule"] == check for f in found.get(row, [])):
            continue
        value = None if pd.isna(case.failure_case) else str(case.failure_case)
        message = (
            "missing value"
            if check == "not_nullable"
            else "key shared by rows with different values"
            if check.endswith("uniqueness")
            else f"fails {check}"
        )
        found.setdefault(row, []).append(
            {"rule": check, "column": column, "value": value, "message": message}
        )
    return list(found.items())


@pytest.mark.parametrize("dataset", CONTRACTS, ids=lambda d: d.name)
def test_row_rules_find_what_pandera_finds(dataset):
    rng = random.Random(dataset.name)
    broken = 0
    for _ in range(40):
        rows = random_rows(rng, dataset)
        expected = pandera_failures(dataset, rows)
        found = [(i, [f.as_dict() for f in fs]) for i, fs in row_failures(dataset, rows).items()]
        assert found == expected
        broken += bool(expected)
    assert broken > 20  # the rows did break the rules


def test_row_rules_take_a_pandas_frame_too():
    rows = pa.Table.from_pylist(
        [{"id": "o1", "customer": None, "ordered_at": dt.datetime(2018, 9, 1)}]
        + [{"subtotal": 1, "tax_paid": 1, "order_total": 3, "store_id": "s"}],
        schema=shop.ORDERS.source_schema,
    )
    found = row_failures(shop.ORDERS, rows.to_pandas())
    assert {i: [f.rule for f in fs] for i, fs in found.items()} == {
        0: ["not_nullable"],  # once, for customer, store_id and the amounts missing
        1: ["order_total = subtotal + tax_paid", "not_nullable"],
    }
    assert found[0][0].column == "customer"


def test_duplicated_compares_as_pandas_does():
    table = pa.table(
        {
            "a": ["x", "x", None, None, "y", "x"],
            "b": [1.0, 1.0, float("nan"), None, -0.0, 0.0],
        }
    )
    frame = table.to_pandas()
    for columns in (["a"], ["b"], ["a", "b"]):
        for keep in ("first", False):
            expected = frame.duplicated(subset=columns, keep=keep).to_numpy()
            assert duplicated(table, columns, keep).tolist() == expected.tolist()
    assert duplicated(table.slice(0, 0), ["a"], False).tolist() == []


def test_row_codes_renumber_before_they_overflow(monkeypatch):
    rng = np.random.default_rng(3)
    table = pa.table({f"c{i}": rng.integers(0, 3, size=200) for i in range(8)})
    expected = table.to_pandas().duplicated(keep=False).to_numpy()
    monkeypatch.setattr(columnar, "_CODE_LIMIT", 16)  # renumber after nearly every column
    assert duplicated(table, table.column_names, False).tolist() == expected.tolist()
    codes = row_codes(table, table.column_names)
    assert codes.max() < table.num_rows


def test_positions_and_texts():
    mask = pa.chunked_array([[True, None, False], [True]])
    assert positions(mask).tolist() == [0, 3]
    values = pa.chunked_array([[1.5, None], [float("nan"), 2.0]])
    assert texts(values, np.array([3, 1, 2, 0])) == ["2.0", None, None, "1.5"]


def test_split_by_day_slices_every_day_given_in_order():
    days = [dt.date(2018, 9, d) for d in (3, 1, 2)]
    table = pa.table(
        {
            "n": [0, 1, 2, 3, 4, 5],
            "_partition_date": pa.array(
                [days[0], days[1], days[0], None, days[1], days[1]], pa.date32()
            ),
        }
    )
    split = {day: part["n"].to_pylist() for day, part in _split_by_day(table, days)}
    assert split == {days[0]: [0, 2], days[1]: [1, 4, 5], days[2]: []}
    assert list(split) == days
    assert [p.num_rows for _, p in _split_by_day(table.slice(0, 0), days)] == [0, 0, 0]
