"""Reading landing files record by record, so one bad row never hides the good ones.

A landing file is read into :class:`ParsedFile`: every record's original values as text, the
line it starts on, and what was wrong with it. Nothing is dropped: a record that cannot be
read (wrong number of fields, broken JSON, bytes that are not UTF-8) is kept with its failure
and ends in quarantine; a file that cannot be split into records at all (broken CSV quoting, a
header missing a contract column) yields one record per physical line, each failed with the
file's reason.

:func:`to_typed` then converts the text to the contract's Arrow types value by value; a value
that does not convert (``12.5O`` as an integer, ``2018-09-31`` as a timestamp, a timestamp with
a time zone where the contract has none) is a failure of that row and column.

Encoding policy: files are UTF-8; a leading byte-order mark is removed (and noted); bytes that
are not UTF-8 fail the fields that hold them (shown with ``\\x..`` escapes), not the file.

:func:`read_csv_strictly` is the other way round, for the seed, where an input file is all or
nothing: the whole file is read, and its first problem (not UTF-8, broken quoting, a field over
the csv module's limit, a missing column, a row with more fields than the header, a value that
does not convert) raises :class:`~data_platform.core.sources.SeedError` naming the file, the
line and the column. An empty field, or one missing at the end of a short row, is ``None``:
never the text ``'None'``, never ``''``.

Field size: the csv module's limit (131,072 characters unless the process raised it) is kept.
No contract column holds more than 2,000 characters (``TEXT_LENGTH``), so a longer field is an
unclosed quote swallowing the lines after it, or a value the contract refuses anyway: in a run
the file is unusable (held back, the reason names the line), in the seed the file is refused.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from data_platform.core.sources import SeedError
from data_platform.quality.quarantine import Failure

BOM = b"\xef\xbb\xbf"
_INTEGER = re.compile(r"[+-]?\d+")
_TRUE = {"true", "t", "1", "yes"}
_FALSE = {"false", "f", "0", "no"}
_OTHER_DELIMITERS = (";", "\t", "|")

# Rule names shared with the quarantine records (stable: analysts filter on them).
FIELD_COUNT = "field_count"
MALFORMED_JSON = "malformed_json"
ENCODING = "encoding"
MISSING_COLUMN = "missing_column"
UNREADABLE_FILE = "unreadable_file"
TIME_ZONE = "time_zone"


def type_rule(kind: pa.DataType) -> str:
    return f"type({kind})"


@dataclass
class ParsedFile:
    """One landing file split into records of text values (``None`` for empty or absent)."""

    path: str
    records: list[dict[str, str | None]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)  # 1-based line where each record starts
    failures: dict[int, list[Failure]] = field(default_factory=dict)  # by record index
    missing_columns: list[str] = field(default_factory=list)
    added_columns: list[str] = field(default_factory=list)
    file_error: str | None = None  # the file as a whole is unusable (every record fails)
    notes: list[str] = field(default_factory=list)  # tolerated irregularities (BOM removed)

    def fail(self, index: int, failure: Failure) -> None:
        self.failures.setdefault(index, []).append(failure)

    @property
    def usable(self) -> bool:
        """False when the file's partition (or the whole dataset) must be held back."""
        return self.file_error is None and not self.missing_columns


def _decode(data: bytes, parsed: ParsedFile) -> str:
    if data.startswith(BOM):
        data = data[len(BOM) :]
        parsed.notes.append("UTF-8 byte-order mark removed")
    # surrogateescape keeps undecodable bytes, so each bad field can be found and shown.
    return data.decode("utf-8", errors="surrogateescape")


def _printable(text: str) -> str:
    """Text with undecodable bytes as ``\\xNN`` escapes (safe to store as UTF-8)."""
    return text.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="backslashreplace")


def _has_bad_bytes(text: str) -> bool:
    return any("\udc80" <= char <= "\udcff" for char in text)


def _fail_every_line(parsed: ParsedFile, text: str, first_line: int, rule: str, column=None):
    """Replace the records by one per physical line, each failed with the file's reason."""
    parsed.records, parsed.lines, parsed.failures = [], [], {}
    reason = f"the file is unusable: {parsed.file_error.removeprefix(parsed.path).lstrip(': ')}"
    for number, line in enumerate(text.splitlines(), start=first_line):
        if not line.strip():
            continue
        parsed.records.append({"_line": _printable(line)})
        parsed.lines.append(number)
        parsed.fail(len(parsed.records) - 1, Failure(rule, column, None, reason))


def read_csv(data: bytes, path: str, columns: list[str]) -> ParsedFile:
    """Split a comma-separated file with a header row into records of ``columns``.

    Columns are matched by name (order free). Missing contract columns and broken quoting make
    the file unusable (``file_error``); extra columns are reported in ``added_columns`` and
    left out of the records.
    """
    parsed = ParsedFile(path)
    text = _decode(data, parsed)
    if not text.strip():
        parsed.missing_columns = list(columns)
        parsed.file_error = f"{path}: empty file, no header (expected {', '.join(columns)})"
        return parsed
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [name.strip() for name in next(reader)]
        rows: list[tuple[int, list[str]]] = []
        start = reader.line_num + 1
        for values in reader:
            rows.append((start, values))
            start = reader.line_num + 1
    except csv.Error as error:
        parsed.file_error = f"{path} line {reader.line_num}: {_csv_problem(error)}"
        _fail_every_line(parsed, text.split("\n", 1)[1] if "\n" in text else "", 2, UNREADABLE_FILE)
        return parsed

    parsed.missing_columns = [c for c in columns if c not in header]
    parsed.added_columns = [c for c in header if c not in columns]
    if parsed.missing_columns:
        parsed.file_error = _missing_message(
            path, parsed.missing_columns, parsed.added_columns, header
        )
        body = text.split("\n", 1)[1] if "\n" in text else ""
        _fail_every_line(parsed, body, 2, MISSING_COLUMN, parsed.missing_columns[0])
        return parsed

    positions = {name: header.index(name) for name in columns}
    for line, values in rows:
        if not any(v.strip() for v in values):
            continue  # a blank line is not a record
        index = len(parsed.records)
        record = {name: _none_if_empty(values, pos) for name, pos in positions.items()}
        parsed.records.append({k: _printable(v) if v else v for k, v in record.items()})
        parsed.lines.append(line)
        if len(values) != len(header):
            column = header[len(values)] if len(values) < len(header) else None
            message = f"{len(values)} fields where the header has {len(header)}"
            parsed.fail(index, Failure(FIELD_COUNT, column, str(len(values)), message))
        _check_encoding(parsed, index, record)
    return parsed


def _missing_message(path: str, missing: list[str], added: list[str], header: list[str]) -> str:
    message = f"{path}: missing column {', '.join(missing)}"
    delimiter = next((d for d in _OTHER_DELIMITERS if len(header) == 1 and d in header[0]), None)
    if delimiter:
        message += f" (the header {header[0]!r} looks {delimiter!r}-delimited; expected ',')"
    elif added:
        message += f" (unexpected: {', '.join(added)}; renamed?)"
    return message


def _csv_problem(error: csv.Error) -> str:
    if "field limit" in str(error):
        return (
            f"a field is over {csv.field_size_limit()} characters (the csv module's limit; no "
            "column holds that much: an unclosed quote?)"
        )
    return f"broken CSV ({error})"


def _none_if_empty(values: list[str], position: int) -> str | None:
    if position >= len(values):
        return None
    value = values[position]
    return value if value.strip() else None


def _check_encoding(parsed: ParsedFile, index: int, record: dict[str, str | None]) -> None:
    for column, value in record.items():
        if value is not None and _has_bad_bytes(value):
            message = "bytes that are not UTF-8"
            parsed.fail(index, Failure(ENCODING, column, _printable(value)[:200], message))


def read_jsonl(data: bytes, path: str, columns: list[str]) -> ParsedFile:
    """Split a JSON Lines file into records of ``columns`` (one object per line).

    A line that is not a JSON object fails alone (``malformed_json``). A contract column that
    no line has makes the file unusable; one absent from some lines fails those lines. Keys
    outside the contract are reported in ``added_columns``. An empty file has no records.
    """
    parsed = ParsedFile(path)
    text = _decode(data, parsed)
    seen_keys: set[str] = set()
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        index = len(parsed.records)
        parsed.lines.append(number)
        try:
            value = json.loads(line)
            problem = None if isinstance(value, dict) else f"a JSON {type(value).__name__}"
        except ValueError as error:
            problem = str(error)
        if problem is not None:
            parsed.records.append({"_line": _printable(line)[:10_000]})
            message = f"not a JSON object ({problem})"
            parsed.fail(index, Failure(MALFORMED_JSON, None, _printable(line)[:200], message))
            continue
        seen_keys.update(value)
        record = {name: json_text(value.get(name)) for name in columns}
        parsed.records.append({k: _printable(v) if v else v for k, v in record.items()})
        for name in columns:
            if name not in value:
                parsed.fail(index, Failure(MISSING_COLUMN, name, None, f"no field {name!r}"))
        _check_encoding(parsed, index, record)
    parsed.added_columns = sorted(seen_keys - set(columns))
    if parsed.records and seen_keys:
        parsed.missing_columns = [c for c in columns if c not in seen_keys]
        if parsed.missing_columns:
            parsed.file_error = _missing_message(
                path, parsed.missing_columns, parsed.added_columns, []
            )
            reason = parsed.file_error.removeprefix(f"{path}: ")
            for index in range(len(parsed.records)):
                failure = Failure(MISSING_COLUMN, parsed.missing_columns[0], None, reason)
                parsed.failures[index] = [failure]
    return parsed


def json_text(value) -> str | None:
    """A JSON value as the text a record holds: ``None`` for null or empty, booleans as
    ``true``/``false``, numbers and nested values as JSON."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def to_typed(
    records: list[dict[str, str | None]], schema: pa.Schema
) -> tuple[pa.Table, dict[int, list[Failure]]]:
    """Convert text records to ``schema``; a value that does not convert becomes null and a
    failure of its row and column (rule ``type(<arrow type>)`` or ``time_zone``)."""
    failures: dict[int, list[Failure]] = {}
    arrays = []
    for column in schema:
        kind = _kind(column.type)
        if kind == "text":  # nothing to convert or to fail: the values as they are
            arrays.append(pa.array([r.get(column.name) for r in records], type=column.type))
            continue
        convert = _CONVERTERS[kind]
        values = []
        for index, record in enumerate(records):
            text = record.get(column.name)
            if text is None:
                values.append(None)
                continue
            try:
                values.append(convert(text.strip()))
            except ValueError as error:
                values.append(None)
                rule = TIME_ZONE if isinstance(error, _TimeZoneError) else type_rule(column.type)
                failures.setdefault(index, []).append(
                    Failure(rule, column.name, text[:200], str(error))
                )
        arrays.append(pa.array(values, type=column.type))
    return pa.Table.from_arrays(arrays, schema=schema), failures


class _TimeZoneError(ValueError):
    pass


def _kind(kind: pa.DataType) -> str:
    if pa.types.is_integer(kind):
        return "int"
    if pa.types.is_floating(kind):
        return "float"
    if pa.types.is_boolean(kind):
        return "bool"
    if pa.types.is_timestamp(kind):
        return "timestamp"
    return "text"


def _as_int(text: str) -> int:
    if not _INTEGER.fullmatch(text):
        raise ValueError(f"{text!r} is not an integer")
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise ValueError(f"{text!r} does not fit a 64-bit integer")
    return value


def _as_float(text: str) -> float:
    value = float(text)  # raises ValueError with the text
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


def _as_bool(text: str) -> bool:
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise ValueError(f"{text!r} is not a boolean (true/false)")


def _as_timestamp(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError as error:
        raise ValueError(f"{text!r} is not a valid timestamp ({error})") from None
    if value.tzinfo is not None:
        raise _TimeZoneError(
            f"{text!r} has a time zone; the contract's timestamps are local, without zone"
        )
    return value


def _as_text(text: str) -> str:
    return text


_CONVERTERS = {"int": _as_int, "float": _as_float, "bool": _as_bool, "timestamp": _as_timestamp}


# --- strict reading, for the seed ------------------------------------------------------------


@dataclass
class CsvTable:
    """A CSV file read whole and strictly (see :func:`read_csv_strictly`): its bytes, one dict
    per record (``None`` for an empty or absent value) and the line each record starts on."""

    path: str
    data: bytes
    rows: list[dict[str, object]]
    lines: list[int]

    def error(self, index: int, column: str | None, problem: str) -> SeedError:
        """A :class:`SeedError` on record ``index`` (and ``column``): ``<path>, line <n>,
        column <c>: <problem>``."""
        where = f"{self.path}, line {self.lines[index]}" + (f", column {column}" if column else "")
        return SeedError(f"{where}: {problem}")


def read_csv_strictly(path: Path, schema: pa.Schema, typed: bool = True) -> CsvTable:
    """Read the comma-separated file ``path`` with a header row into records of ``schema``'s
    columns, or raise :class:`SeedError` at its first problem, naming the file, the line and
    the column.

    Columns are matched by name (order free; columns outside ``schema`` are left out). Every
    non-empty value must convert to its column's type (as :func:`to_typed` converts); a record
    holds the converted values (``typed``) or their text (``typed=False``: checked, kept as
    written). A field left empty, or missing at the end of a short row, is ``None``. Blank lines
    are no records. Refused: a file that cannot be read, bytes that are not UTF-8 (a leading
    byte-order mark is removed), broken quoting, a field over the csv module's limit, a missing
    column, a record with more fields than the header.
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SeedError(f"{path}: cannot be read ({error.strerror or error})") from None
    text = _decode_strictly(data.removeprefix(BOM), path)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    table = CsvTable(str(path), data, [], [])
    start = 1  # the line the record being read starts on: where a broken one is to be seen
    try:
        header = [name.strip() for name in next(reader, [])]
        if not header:
            raise SeedError(f"{path}: empty file, no header (expected {', '.join(schema.names)})")
        missing = [name for name in schema.names if name not in header]
        if missing:
            added = [name for name in header if name not in schema.names]
            raise SeedError(_missing_message(str(path), missing, added, header))
        columns = [(f.name, header.index(f.name), _converter(f.type)) for f in schema]
        start = reader.line_num + 1
        for values in reader:
            if "".join(values).strip():  # a blank line is not a record
                table.lines.append(start)
                if len(values) > len(header):
                    problem = f"{len(values)} fields where the header has {len(header)}"
                    raise table.error(len(table.rows), None, problem)
                table.rows.append(_strict_record(table, values, columns, typed))
            start = reader.line_num + 1
    except csv.Error as error:
        raise SeedError(f"{path}, line {start}: {_csv_problem(error)}") from None
    return table


def _strict_record(table: CsvTable, values: list[str], columns, typed: bool) -> dict:
    record: dict[str, object] = {}
    for name, position, convert in columns:
        value = values[position] if position < len(values) else ""
        if not value.strip():
            record[name] = None
            continue
        try:
            converted = convert(value)
        except ValueError as error:
            raise table.error(len(table.rows), name, str(error)) from None
        record[name] = converted if typed else value
    return record


def _decode_strictly(data: bytes, path: Path) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line_start = data.rfind(b"\n", 0, error.start) + 1
        line = data.count(b"\n", 0, error.start) + 1
        raise SeedError(
            f"{path}, line {line}: not UTF-8 (byte 0x{data[error.start]:02x} at position "
            f"{error.start - line_start} of the line); save the file as UTF-8"
        ) from None


def _converter(kind: pa.DataType) -> Callable[[str], object]:
    """Text to a value of ``kind``, as :func:`to_typed` converts it (text kept as is, other
    values stripped of surrounding blanks); raises ``ValueError`` naming the text."""
    convert = _CONVERTERS.get(_kind(kind))
    if convert is None:
        return _as_text
    return lambda text: convert(text.strip())
