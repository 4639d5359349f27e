"""Changes to the landing zone's reference files, as the shop's back office makes them.

A reference file (``landing/<dataset>/<dataset>.csv``) is delivered in full, so a change is a
new version of the whole file: a row edited (its ``updated_at`` set to the time of the
change), added or removed. The simulator (``data-platform simulate``) and the tests make
their changes through :func:`apply_change`; the ingest then sees a new version of the row, a
new key, or a key gone (:mod:`data_platform.loading.versions`).

:func:`edit_csv` is pure (bytes in, bytes out: header, other rows and line ends kept).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field

from data_platform.core.datasets import Dataset
from data_platform.core.lake_layout import landing_reference_path
from data_platform.loading.file_formats import BOM

UPDATED_AT = "updated_at"


@dataclass(frozen=True)
class Change:
    """One change of a reference dataset at ``at`` (naive UTC): the row of ``key`` (its
    value, or a tuple of values in the order of ``Dataset.key`` for a key of several columns,
    as text) gets the values ``set`` (a new row when the key is not there: then ``set`` gives
    every other column), or is removed (``delete``). A shorter tuple, the first columns of a
    key, changes every row it matches (``("SUP-001",)``: the supply in every product using
    it); a row is added only by its whole key."""

    dataset: Dataset
    key: str | tuple[str, ...]
    at: dt.datetime
    set: dict[str, object] = field(default_factory=dict)
    delete: bool = False


def edit_csv(data: bytes, change: Change) -> bytes:
    """The CSV file ``data`` with ``change`` applied (pure). Raises ``KeyError`` when an
    edited or deleted key is not in the file, ``ValueError`` for a column it lacks."""
    text = data.removeprefix(BOM).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    header = [name.strip() for name in rows[0]]
    key_columns = [header.index(name) for name in change.dataset.key]
    wanted = (change.key,) if isinstance(change.key, str) else tuple(change.key)
    unknown = [name for name in change.set if name not in header]
    if unknown:
        raise ValueError(f"{change.dataset.name}: no column {', '.join(unknown)}")
    values = {**change.set, UPDATED_AT: change.at.isoformat(sep=" ")}
    body = [row for row in rows[1:] if "".join(row).strip()]
    found = [
        i
        for i, row in enumerate(body)
        if tuple(row[k] for k in key_columns[: len(wanted)]) == wanted
    ]
    if change.delete:
        if not found:
            raise KeyError(f"{change.dataset.name}: no row {change.key} to delete")
        body = [row for i, row in enumerate(body) if i not in found]
    elif found:
        for i in found:
            for name, value in values.items():
                body[i][header.index(name)] = _text(value)
    elif len(wanted) < len(key_columns):
        raise KeyError(f"{change.dataset.name}: no row {change.key} to change")
    else:
        new = {**values, **dict(zip(change.dataset.key, wanted, strict=True))}
        body.append([_text(new.get(name)) for name in header])
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n" if "\r\n" in text else "\n")
    writer.writerows([rows[0], *body])
    return out.getvalue().encode()


def apply_change(lake, change: Change) -> str:
    """Apply ``change`` to its landing file in ``lake`` (rewritten whole, atomically);
    returns the file's path."""
    path = landing_reference_path(change.dataset.name)
    lake.write_bytes(path, edit_csv(lake.read_bytes(path), change))
    return path


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    return str(value)
