"""The pipeline monitor's rules (pure; unit-tested): is a day's row count usual, is a step slow.

- **Row volume**: a day's rows against the same weekday of the four weeks before it (the
  days 7, 14, 21 and 28 before: the shop's orders swing by a factor of four between weekdays
  and weekends, so the last 28 days as one range would flag every weekend). Unusual: fewer
  than :data:`LOW` or more than :data:`HIGH` times their median, and beyond the noise of a
  count (:data:`NOISE_SIGMAS` standard deviations of a Poisson count, the median's square
  root: a Sunday of 35 order items against a median of 58.5 is 0.598 times it, and chance);
  none at all when the median is not. Judged from :data:`MIN_MEDIAN_ROWS` rows of median up
  (fewer swing too much: a CI run's jafgen data had a Saturday of 26 order items against a
  median of 56, 0.46 times it, with nothing wrong) and with all four weeks at hand. Over six
  generated years (about 4,000 judged days of orders and items each), from a median of 100
  the lowest ratio to the median was 0.61, so :data:`LOW` = 0.55 flags half a day's rows and
  leaves the normal swings alone; store openings are the jumps up (at most 2.12 times).
- **Step duration**: a step slower than :data:`SLOW_FACTOR` times the median of its last
  :data:`HISTORY_RUNS` comparable steps (same dataset, same number of days) and by more than
  ``min_extra_seconds`` (noise on a busy machine is seconds). Judged with at least
  :data:`MIN_HISTORY_RUNS` of them, for runs of up to :data:`MAX_JUDGED_DAYS` days (the
  routine; a backfill's range varies too much to compare).
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

LOW, HIGH = 0.55, 3.0
NOISE_SIGMAS = 4
WEEKS = 4
MIN_MEDIAN_ROWS = 100
SLOW_FACTOR = 1.5
HISTORY_RUNS = 10
MIN_HISTORY_RUNS = 5
MAX_JUDGED_DAYS = 7


@dataclass(frozen=True)
class Verdict:
    """A rule's outcome: passed, a one-line description with the figures, numeric metadata."""

    passed: bool
    description: str
    metadata: dict = field(default_factory=dict)


def row_volume(
    days: Sequence[dt.date], counts: Mapping[dt.date, int], min_median: int = MIN_MEDIAN_ROWS
) -> Verdict:
    """Judge each of ``days`` by its row count in ``counts`` (rows per day; a missing day has
    none) against its weekday in the :data:`WEEKS` weeks before it, which ``counts`` must
    hold when they were loaded, from a median of ``min_median`` rows up. Fails naming every
    unusual day with its count and usual range."""
    unusual, judged = [], 0
    for day in days:
        history = [counts.get(day - dt.timedelta(weeks=w), 0) for w in range(1, WEEKS + 1)]
        median = statistics.median(history)
        if median < min_median or min(history) == 0:
            continue
        judged += 1
        rows = counts.get(day, 0)
        noise = NOISE_SIGMAS * math.sqrt(median)
        low, high = min(LOW * median, median - noise), max(HIGH * median, median + noise)
        if rows == 0 or not low <= rows <= high:
            unusual.append(
                f"{day}: {rows} rows, usual {math.ceil(low)}..{math.floor(high)} "
                f"(median of the same weekday in the {WEEKS} weeks before: {median:g})"
            )
    metadata = {"days_judged": judged, "days_unusual": len(unusual)}
    if unusual:
        return Verdict(False, "; ".join(unusual), metadata)
    if not judged:
        return Verdict(True, f"not judged: fewer than {WEEKS} weeks of history", metadata)
    return Verdict(True, f"{judged} day(s) within their usual range", metadata)


def step_duration(
    seconds: float, days: int, history: Sequence[float], min_extra_seconds: float
) -> Verdict:
    """Judge a step of ``seconds`` over ``days`` days against ``history`` (the seconds of the
    comparable steps before it, newest first)."""
    recent = list(history)[:HISTORY_RUNS]
    metadata: dict = {"step_seconds": round(seconds, 3), "history_runs": len(recent)}
    if days > MAX_JUDGED_DAYS:
        return Verdict(True, f"not judged: a range of {days} days", metadata)
    if len(recent) < MIN_HISTORY_RUNS:
        return Verdict(
            True,
            f"not judged: {len(recent)} comparable run(s), {MIN_HISTORY_RUNS} needed",
            metadata,
        )
    median = statistics.median(recent)
    metadata["median_seconds"] = round(median, 3)
    slow = seconds > SLOW_FACTOR * median and seconds - median > min_extra_seconds
    figures = (
        f"{seconds:.1f} s, {seconds / median:.1f} x the median {median:.1f} s of the last "
        f"{len(recent)} comparable runs"
    )
    if slow:
        return Verdict(False, f"slow: {figures} (limit {SLOW_FACTOR} x)", metadata)
    return Verdict(True, figures, metadata)
