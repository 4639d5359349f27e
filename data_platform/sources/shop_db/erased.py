"""Customers erased on request (``data-platform erase-customer``, :mod:`data_platform.erasure`)
and how the customers ingest keeps them erased.

The register is ``audit.erasures`` in the warehouse: one row per request, the customer named
by their keyed pseudonym only (:mod:`data_platform.core.pseudonyms`), never by the id or any
value. The ingest anonymises every extracted row whose pseudonym is there before it screens
or stores it (:func:`anonymise_customers`), so a customer the shop database still holds stays
erased in every later load, the raw versions included.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from data_platform.core.pseudonyms import pseudonym
from data_platform.resources.warehouse import WarehouseResource
from data_platform.sources.shop_db.datasets import CUSTOMERS

AUDIT_TABLE = ("audit", "erasures")
ERASED_NAME = "erased"


def erased_values() -> dict[str, str | None]:
    """What each personal column of a customer row becomes: the name ``erased`` (the shop
    requires a name: a null would quarantine the row and hold its orders back), the others
    null. The id stays: it links the orders, business records the shop must keep."""
    return {
        name: (ERASED_NAME if name == "name" else None)
        for name in CUSTOMERS.personal_columns
        if name != "id"
    }


def erased_subjects(warehouse: WarehouseResource) -> set[str]:
    """The pseudonyms of every customer erased so far (empty before the first erasure).
    Raises a fault of :mod:`data_platform.resources.faults`."""
    schema, table = AUDIT_TABLE
    if not warehouse.created() or not warehouse.table_exists(schema, table):
        return set()
    return {r["subject_key"] for r in warehouse.query(f"select subject_key from {schema}.{table}")}


def anonymise_customers(rows: pa.Table, key: bytes, subjects: set[str]) -> pa.Table:
    """``rows`` (customers with ``id``) with the personal fields of every erased customer
    (pseudonym under ``key`` in ``subjects``) replaced as :func:`erased_values` says; the
    same table when none is."""
    if not subjects or not rows.num_rows:
        return rows
    erased = pa.array([pseudonym(key, i) in subjects for i in rows["id"].to_pylist()])
    if not pc.any(erased).as_py():
        return rows
    for name, value in erased_values().items():
        if name in rows.column_names:
            column = rows[name]
            replaced = pc.if_else(erased, pa.scalar(value, column.type), column)
            rows = rows.set_column(rows.column_names.index(name), name, replaced)
    return rows
