"""The dataset contract: one declaration per raw dataset, from which everything else derives.

A :class:`Dataset` states a raw dataset's columns (name, Arrow type, description and row
rules), its key, how it is partitioned, which dimensions its rows point at and how often it is
delivered. From it come the Arrow schema the lake and the warehouse are written with
(:attr:`Dataset.schema`), the row rules every batch is screened with
(:mod:`data_platform.quality.row_rules`, whose meaning is the pandera schema
:attr:`Dataset.pandera_schema`), the column schema the UI shows (:attr:`Dataset.table_schema`)
and the asset key ``raw/<name>``. Each source declares its datasets in its own folder
(``data_platform/sources/<source>/datasets.py``).

Raw data keeps the source's names and units: money in integer cents, timestamps without time
zone as the source wrote them. Daily-partitioned datasets carry ``_partition_date`` (DATE, the
day of the row's event time) so a partition can be replaced atomically in the warehouse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import pandas as pd
import pandera.pandas as pandera
import pyarrow as pa
from dagster import AssetKey, TableColumn, TableColumnConstraints, TableSchema

PARTITION_COLUMN = "_partition_date"
RAW_SCHEMA = "raw"
TIMESTAMP = pa.timestamp("us")

# Upper bounds that no real row reaches (jafgen's largest order is under $100): above them a
# value is a unit or entry error.
MAX_ORDER_CENTS = 1_000_000  # $10,000
MAX_PRICE_CENTS = 100_000  # $1,000
KEY_LENGTH = 64
NAME_LENGTH = 200
TEXT_LENGTH = 2_000

Cadence = Literal["daily", "on_delivery", "streaming"]
Pii = Literal["direct", "quasi"]
"""How a column identifies a person (the classification the UI, the marts' PII scan and
erasure go by): ``direct`` names one person on its own (a name, an e-mail address, a phone
number, a street address, the shop's customer id: one lookup away from all of them);
``quasi`` narrows people down in combination with other columns (a city, a postcode)."""
PII_TAG = "pii"
"""How a dataset arrives: ``daily`` (extracted by the daily runs, fresh every day),
``on_delivery`` (a file replaced now and then: reference data) or ``streaming`` (messages on an
event stream, loaded in micro-batches within minutes)."""


@dataclass(frozen=True)
class Column:
    """One column: Arrow type, what it holds (units, time zone), and its row rules."""

    name: str
    type: pa.DataType
    description: str
    nullable: bool = False
    unique: bool = False
    checks: tuple[pandera.Check, ...] = ()
    pii: Pii | None = None  # personal data: see :data:`Pii`


@dataclass(frozen=True)
class RowRule:
    """A rule across columns of one row, reported on ``column``: ``holds(rows)`` takes an
    Arrow table of the dataset's source columns and gives one boolean per row, true where the
    row passes (an Arrow compute expression over whole columns: the screening runs it on every
    batch)."""

    name: str
    column: str
    holds: Callable[[pa.Table], pa.ChunkedArray]

    def holds_on_frame(self, frame: pd.DataFrame) -> pd.Series:
        """:attr:`holds` on a pandas frame (the pandera schema's form), indexed as ``frame``."""
        passes = self.holds(pa.Table.from_pandas(frame, preserve_index=False))
        return pd.Series(passes.to_numpy(zero_copy_only=False), index=frame.index, dtype=bool)


@dataclass(frozen=True)
class Reference:
    """Every non-null ``column`` value must be a ``key`` of raw ``dataset``: loaded in full, or
    (``same_partition``) within the same daily partitions (an item's order)."""

    column: str
    dataset: str
    key: str
    same_partition: bool = False


@dataclass(frozen=True)
class Dataset:
    """One raw dataset: lake folder ``raw/<name>/``, warehouse table ``raw.<name>``, asset
    ``raw/<name>``, and the contract its rows are screened against."""

    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    event_time: str | None = None  # the timestamp that decides the daily partition
    references: tuple[Reference, ...] = ()  # checked by the quarantine policy
    row_rules: tuple[RowRule, ...] = ()
    cadence: Cadence = "daily"
    composite_unique: bool = field(default=False)  # the key is unique as a whole
    # Unpartitioned, with an ``updated_at`` column: every version loaded is kept in
    # ``raw.<name>_versions`` beside the current rows (data_platform.loading.versions).
    versioned: bool = False

    @property
    def partitioned(self) -> bool:
        return self.event_time is not None

    @property
    def table(self) -> str:
        return f"{RAW_SCHEMA}.{self.name}"

    @property
    def versions_table(self) -> str:
        """The append-only table of every version loaded (``versioned`` datasets)."""
        return f"{self.name}_versions"

    @property
    def asset_key(self) -> AssetKey:
        return raw_key(self.name)

    @cached_property
    def source_schema(self) -> pa.Schema:
        """The columns the source delivers, in order."""
        return pa.schema([pa.field(c.name, c.type) for c in self.columns])

    @cached_property
    def schema(self) -> pa.Schema:
        """The raw table's schema: the source's columns, and ``_partition_date`` when daily."""
        if not self.partitioned:
            return self.source_schema
        return self.source_schema.append(pa.field(PARTITION_COLUMN, pa.date32()))

    @cached_property
    def table_schema(self) -> TableSchema:
        """The raw table's columns with their types and descriptions, for the UI."""
        columns = [
            TableColumn(
                c.name,
                str(c.type),
                _described(c),
                constraints=TableColumnConstraints(nullable=c.nullable, unique=c.unique),
                tags={PII_TAG: c.pii} if c.pii else {},
            )
            for c in self.columns
        ]
        if self.partitioned:
            columns.append(
                TableColumn(
                    PARTITION_COLUMN,
                    str(pa.date32()),
                    f"The daily partition: the day of {self.event_time} (no time zone).",
                )
            )
        return TableSchema(columns=columns)

    @property
    def personal_columns(self) -> dict[str, Pii]:
        """The columns holding personal data, with their classification."""
        return {c.name: c.pii for c in self.columns if c.pii}

    @cached_property
    def pandera_schema(self) -> pandera.DataFrameSchema:
        """The row rules as a pandera schema over typed rows without lineage columns
        (``int64`` as pandas ``Int64``, ``bool`` as ``boolean``, timestamps as
        ``datetime64[ns]``); strict: no column outside the contract. What the rules mean: the
        screening evaluates them column-wise (:mod:`data_platform.quality.row_rules`), and the
        tests hold both to the same failures."""
        return pandera.DataFrameSchema(
            {
                c.name: pandera.Column(
                    _pandas_dtype(c.type),
                    checks=list(c.checks),
                    nullable=c.nullable,
                    unique=c.unique,
                )
                for c in self.columns
            },
            checks=[pandera.Check(rule.holds_on_frame, name=rule.name) for rule in self.row_rules],
            unique=list(self.key) if self.composite_unique else None,
            strict=True,
            name=self.table,
        )


def _described(column: Column) -> str:
    if not column.pii:
        return column.description
    kind = "direct identifier" if column.pii == "direct" else "quasi-identifier"
    return f"{column.description} Personal data: {kind}."


def raw_key(name: str) -> AssetKey:
    """The asset key of raw dataset ``name``: ``raw/<name>``."""
    return AssetKey([RAW_SCHEMA, name])


def _pandas_dtype(kind: pa.DataType):
    if pa.types.is_integer(kind):
        return pd.Int64Dtype()
    if pa.types.is_boolean(kind):
        return pd.BooleanDtype()
    if pa.types.is_timestamp(kind):
        return "datetime64[ns]"
    if pa.types.is_floating(kind):
        return float
    return str


# Column builders for the rules every source shares.
def key(name: str, description: str, unique: bool = False, pii: Pii | None = None) -> Column:
    """A text identifier of at most 64 characters."""
    return Column(
        name,
        pa.string(),
        description,
        unique=unique,
        checks=(pandera.Check.str_length(max_value=KEY_LENGTH),),
        pii=pii,
    )


def text(
    name: str,
    description: str,
    length: int = NAME_LENGTH,
    nullable=False,
    pii: Pii | None = None,
) -> Column:
    """Free text of at most ``length`` characters."""
    checks = (pandera.Check.str_length(max_value=length),)
    return Column(name, pa.string(), description, nullable=nullable, checks=checks, pii=pii)


def cents(name: str, description: str, ceiling: int) -> Column:
    """Money in integer cents, from 0 to ``ceiling``."""
    checks = (pandera.Check.ge(0), pandera.Check.le(ceiling))
    return Column(name, pa.int64(), f"{description} (integer cents)", checks=checks)


def timestamp(name: str, description: str) -> Column:
    """A local timestamp without time zone, as the source wrote it."""
    return Column(name, TIMESTAMP, f"{description} (timestamp, no time zone)")
