"""The seeded history: moving demo data to end yesterday, and the record of what was seeded.

jafgen always simulates from 2018-09-01. Seeded as generated, a fresh state folder shows a
shop whose history ended years ago under a calendar of today: thousands of empty daily
partitions, a daily schedule that runs days without data. So ``data-platform seed --years N``
(and ``seed --from-csv DIR --end-yesterday``) moves every timestamp of the demo data by one
:class:`HistoryMove`:

- **by whole weeks**, so every weekday pattern stays (Saturdays stay Saturdays);
- **the smallest such shift that puts the history's last day on or after yesterday** (UTC),
  see :func:`week_shift`; the rows that then fall after yesterday (today or later: at most the
  last six days of the input) are dropped, so the history ends exactly yesterday when the
  input has data on its last days. Orders go with their items, tweets by their own time.
  Timestamps that are not events (a store's ``opened_at``) move by the same shift and are
  never dropped: a store opening after yesterday is a store about to open.

What a seed leaves in the state folder is recorded in ``<DATA_PLATFORM_HOME>/history.json``
(:func:`write_history`, atomically): the first and last day holding events in the sources
after the seed, and the shift applied. :class:`~data_platform.core.settings.Settings` starts
the daily partitions at the recorded first day unless ``DATA_PLATFORM_PARTITION_START`` is
set. Pure functions and the standard library only (the settings read this module).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

HISTORY_FILE = "history.json"


def yesterday_utc(now: dt.datetime | None = None) -> dt.date:
    """The UTC day before ``now`` (default: the current time)."""
    return (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).date() - dt.timedelta(days=1)


def week_shift(last_day: dt.date, end: dt.date) -> dt.timedelta:
    """The smallest whole number of weeks that moves ``last_day`` on ``end`` or after it
    (pure): ``last_day + shift`` falls in ``[end, end + 6 days]``. Negative when ``last_day``
    is later than ``end + 6 days`` (the history moves back), zero when it is already in that
    week. Example: ``week_shift(2019-08-31, 2026-12-01)`` is 379 weeks (to Saturday
    2026-12-05; the four days after the 1st are then dropped)."""
    days = (end - last_day).days
    return dt.timedelta(weeks=-(-days // 7))  # ceiling division


@dataclass(frozen=True)
class HistoryMove:
    """How a seed moves its input: every timestamp by ``shift`` (whole weeks), and the event
    rows later than ``last_day`` (after the move) dropped; ``last_day`` ``None`` drops none.
    :data:`AS_GIVEN` keeps the input as it is."""

    shift: dt.timedelta = dt.timedelta(0)
    last_day: dt.date | None = None

    @classmethod
    def ending(cls, last_day: dt.date, end: dt.date) -> HistoryMove:
        """The move of a history whose last day is ``last_day`` to end on ``end``."""
        return cls(week_shift(last_day, end), end)

    @property
    def weeks(self) -> int:
        return self.shift.days // 7

    @property
    def moves(self) -> bool:
        """Whether anything changes: a shift, or rows to drop."""
        return bool(self.shift) or self.last_day is not None

    def moved(self, value: dt.datetime) -> dt.datetime:
        return value + self.shift

    def keeps(self, moved: dt.datetime) -> bool:
        """Whether an event at ``moved`` (already moved) stays: on or before ``last_day``."""
        return self.last_day is None or moved.date() <= self.last_day

    def moved_text(self, text: str) -> str:
        """An ISO timestamp or date, as written in a CSV, moved and written in the same form
        (a date stays a date; ``T`` or a blank between date and time stays). Raises
        ``ValueError`` for text that is not ISO."""
        text = text.strip()
        if len(text) == 10:
            return (dt.date.fromisoformat(text) + self.shift).isoformat()
        value = self.moved(dt.datetime.fromisoformat(text))
        return value.isoformat(sep=text[10], timespec="auto")


AS_GIVEN = HistoryMove()


@dataclass(frozen=True)
class History:
    """What the sources of a state folder hold after the last seed: the first and last day
    with events (orders, tweets) and the shift in whole weeks the seed applied (0: the dates
    as given)."""

    first_day: dt.date
    last_day: dt.date
    shift_weeks: int = 0

    def as_json(self) -> dict:
        return {
            "first_day": self.first_day.isoformat(),
            "last_day": self.last_day.isoformat(),
            "shift_weeks": self.shift_weeks,
        }


def history_path(home: Path) -> Path:
    return Path(home) / HISTORY_FILE


def read_history(home: Path) -> History | None:
    """The history recorded in ``home`` (``<home>/history.json``), or ``None`` when no seed
    recorded one. Raises ``ValueError`` naming the file and what is wrong with it (unreadable,
    not JSON, a missing or malformed field, a first day after the last)."""
    path = history_path(home)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as error:
        raise ValueError(f"{path}: cannot be read ({error.strerror or error})") from None
    example = '{"first_day": "2025-06-01", "last_day": "2026-05-31", "shift_weeks": 403}'
    try:
        data = json.loads(text)
        history = History(
            dt.date.fromisoformat(data["first_day"]),
            dt.date.fromisoformat(data["last_day"]),
            int(data.get("shift_weeks", 0)),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        problem = f"missing {error}" if isinstance(error, KeyError) else str(error)
        raise ValueError(
            f"{path}: {problem}; expected what `data-platform seed` writes, e.g. {example} "
            "(seed again, or delete the file)"
        ) from None
    if history.first_day > history.last_day:
        raise ValueError(f"{path}: first_day {history.first_day} is after last_day")
    return history


def write_history(home: Path, history: History) -> Path:
    """Record ``history`` in ``<home>/history.json`` atomically (a reader sees the old file or
    the new one, never half of one); return the path."""
    path = history_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(history.as_json(), indent=2) + "\n"
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{HISTORY_FILE}.", delete=False, encoding="utf-8"
    ) as handle:
        handle.write(text)
    try:
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return path
