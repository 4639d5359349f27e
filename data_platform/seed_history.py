"""History laid down by the seed: ``data-platform seed --changes``.

jafgen makes one version of every customer, product, store and supply, and the seed dates
each to midnight of the history's first day. With ``--changes`` the seed then replays a past
of changes through the platform's own change capture, as if the platform had been loading
all along:

1. the versioned ingests (``raw/customers``, ``raw/products``, ``raw/stores``,
   ``raw/supplies``: :data:`VERSIONED`) load the sources as seeded;
2. for each period of :data:`PERIOD_DAYS` days from the day after the first, the period's
   changes are written to the sources with ``updated_at`` at their moment in the past (the
   shop database for customers, the landing file for supplies, through
   :func:`~data_platform.simulate.apply_any_change` as the simulator writes them), and the
   versioned ingests load again.

Each load is an in-process headless run of those four assets and their checks, recorded in
the Dagster instance like any other run (one line per period on the terminal; each run's
full log under ``<home>/logs``). The versions then carry the past ``updated_at`` of their
change, so the history dimensions (built by the next ``data-platform run``) hold a version
per change, valid from that moment, and orders placed before a customer moved show the old
city as-was.

Which changes (:func:`plan`, pure: the same shop and ``seed`` give the same plan):

- customers moving (street, city, postcode, phone) or changing e-mail address: each period,
  :data:`CUSTOMER_SHARE` of the customers, each at a random moment of it;
- supply costs, 5 to 25 % up or down, in every product using the supply: each period, each
  supply with probability :data:`SUPPLY_SHARE`. A shorter last period has proportionally
  fewer changes.

Not replayed, and why (``data-platform simulate`` makes both, dated now):

- product price and store tax-rate changes: jafgen's orders record the subtotal and tax paid
  at the prices and rates it generated, and the facts price each order with the versions
  valid when it was placed; a price changed in the past would price its items apart from the
  subtotal the order records.
- deletions: the source does not say when a row went, so a deletion is dated by the load
  that finds the key gone, which in a replay is today, not the past.

No key changes twice within a period: change capture sees the sources as they are at each
load, so a second change would hide the first version.

Refused (:class:`ReplayRefused`, exit code 2, nothing changed) on a state folder whose
versioned ingests have already recorded a change (an earlier replay, the simulator's
changes): the customers' capture reads rows by ``updated_at`` since its last load, so
changes dated before that load would be missed. A replay that fails half way leaves the
sources with the changes of the periods done; seed a fresh state folder then.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from data_platform.core.errors import PlatformError
from data_platform.core.settings import Settings
from data_platform.headless import RunSummary, execute
from data_platform.loading.versions import CHANGE, CHANGED, DELETED
from data_platform.resources import open_resources
from data_platform.simulate import Shop, apply_any_change, load_shop
from data_platform.sources import DATASETS
from data_platform.sources.landing.changes import Change
from data_platform.sources.landing.datasets import SUPPLIES
from data_platform.sources.shop_db.changes import CustomerChange

VERSIONED = tuple(d for d in DATASETS if d.versioned)
PERIOD_DAYS = 30
# Per period: the share of customers who move or change e-mail (2 % a month: about one
# change in four years per customer), and each supply's chance of a new cost.
CUSTOMER_SHARE = 0.02
SUPPLY_SHARE = 0.15
MOVE_SHARE = 0.6  # of the customers' changes; the rest are new e-mail addresses
DEFAULT_SEED = 0

AnyChange = Change | CustomerChange


class ReplayRefused(PlatformError):
    """The state folder already holds changes: a replay would be missed (module docstring)."""

    exit_code = 2


@dataclass(frozen=True)
class Period:
    """The changes made from ``first`` to before ``end`` (naive UTC), in time order, loaded
    together at its end."""

    first: dt.datetime
    end: dt.datetime
    changes: tuple[AnyChange, ...]


@dataclass(frozen=True)
class ReplaySummary:
    """What a replay did: periods loaded, changes per kind, its runs, seconds in all."""

    periods: int
    customer_changes: int
    supply_changes: int
    runs: list[RunSummary]
    seconds: float


def plan(
    shop: Shop,
    first_day: dt.date,
    last_day: dt.date,
    seed: int = DEFAULT_SEED,
    *,
    period_days: int = PERIOD_DAYS,
) -> list[Period]:
    """The periods of changes from the day after ``first_day`` to the end of ``last_day``
    (the last period may be shorter), for the customers and supplies of ``shop`` (pure; see
    the module docstring). Empty when the history is a day long. Raises ``ValueError`` for
    ``period_days`` below 1."""
    if period_days < 1:
        raise ValueError(f"period_days {period_days}: expected at least 1")
    rng = random.Random(seed)
    costs = {s.id: s.cost for s in shop.supplies}
    start = dt.datetime.combine(first_day + dt.timedelta(days=1), dt.time())
    stop = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time())
    periods = []
    while start < stop:
        end = min(start + dt.timedelta(days=period_days), stop)
        seconds = int((end - start).total_seconds())

        def moment(start: dt.datetime = start, seconds: int = seconds) -> dt.datetime:
            return start + dt.timedelta(seconds=rng.randrange(seconds))

        changes: list[AnyChange] = []
        # A shorter last period has fewer changes.
        share = (end - start) / dt.timedelta(days=period_days)
        count = round(len(shop.customers) * CUSTOMER_SHARE * share)
        for customer in rng.sample(shop.customers, min(count, len(shop.customers))):
            at = moment()
            kind = "move" if rng.random() < MOVE_SHARE else "email"
            # A version number from the time, as the simulator's: later changes, later details.
            changes.append(CustomerChange(customer, kind, at, int(at.timestamp())))
        for supply_id in sorted(costs):
            if rng.random() < SUPPLY_SHARE * share:
                factor = 1 + rng.choice((-1, 1)) * rng.uniform(0.05, 0.25)
                costs[supply_id] = max(1, round(costs[supply_id] * factor))
                changes.append(Change(SUPPLIES, (supply_id,), moment(), {"cost": costs[supply_id]}))
        changes.sort(key=lambda c: c.at)
        periods.append(Period(start, end, tuple(changes)))
        start = end
    return periods


def replay(
    settings: Settings,
    first_day: dt.date,
    last_day: dt.date,
    *,
    seed: int = DEFAULT_SEED,
    say: Callable[[str], None] = print,
    run_output: TextIO | None = None,
) -> ReplaySummary:
    """Lay down the history of the seeded sources from ``first_day`` to ``last_day`` (module
    docstring): a load of the versioned ingests, then each period's changes and a load.

    Raises :class:`ReplayRefused` when the versioned ingests already recorded a change, and
    :class:`~data_platform.core.errors.PlatformError` (exit code 1) naming the period and the
    failed steps when a load fails. ``run_output`` takes each run's progress lines (default:
    discarded, the full log is in ``<home>/logs``)."""
    started = time.monotonic()
    check_replayable(settings)
    with (
        open_resources(settings, "lake", "shop_db", "warehouse") as resources,
        # A stream with a descriptor: the runs' own output goes to their logs, not here.
        open(os.devnull, "w") as discard,
    ):
        run_output = run_output or discard
        shop = load_shop(resources, dt.datetime.now(dt.UTC))
        periods = plan(shop, first_day, last_day, seed)
        runs = [_load(settings, "the sources as seeded", 0, len(periods), say, run_output)]
        for number, period in enumerate(periods, start=1):
            for change in period.changes:
                apply_any_change(resources, change)
            customers = sum(isinstance(c, CustomerChange) for c in period.changes)
            what = (
                f"{period.first.date()}..{(period.end - dt.timedelta(seconds=1)).date()}: "
                f"{customers} customer change(s), {len(period.changes) - customers} supply cost(s)"
            )
            runs.append(_load(settings, what, number, len(periods), say, run_output))
    customer_changes = sum(isinstance(c, CustomerChange) for p in periods for c in p.changes)
    return ReplaySummary(
        periods=len(periods),
        customer_changes=customer_changes,
        supply_changes=sum(len(p.changes) for p in periods) - customer_changes,
        runs=runs,
        seconds=time.monotonic() - started,
    )


def check_replayable(settings: Settings) -> None:
    """Raise :class:`ReplayRefused` when the versioned ingests of the state folder already
    recorded a change (module docstring); the seed calls it before writing anything."""
    with open_resources(settings, "warehouse") as resources:
        recorded = changes_recorded(resources["warehouse"])
    if recorded:
        raise ReplayRefused(
            f"the versioned ingests already recorded {recorded} change(s) "
            f"({', '.join(d.table + '_versions' for d in VERSIONED)}): changes dated before "
            "their last load would be missed. `seed --changes` lays down history in a fresh "
            "state folder (another DATA_PLATFORM_HOME, or `make clean`); nothing was changed"
        )


def changes_recorded(warehouse) -> int:
    """How many changed or deleted versions the versioned ingests have recorded."""
    total = 0
    for dataset in VERSIONED:
        schema, _, _ = dataset.table.partition(".")
        if warehouse.table_exists(schema, dataset.versions_table):
            rows = warehouse.query(
                f"select count(*) as n from {schema}.{dataset.versions_table} "
                f"where {CHANGE} in ('{CHANGED}', '{DELETED}')"
            )
            total += int(rows[0]["n"])
    return total


def _load(
    settings: Settings,
    what: str,
    number: int,
    total: int,
    say: Callable[[str], None],
    run_output: TextIO | None,
) -> RunSummary:
    summary = execute(
        settings,
        assets=[d.asset_key for d in VERSIONED],
        progress_stream=run_output,
    )
    if not summary.success:
        failed = summary.failed_steps + summary.checks_failed
        raise PlatformError(
            f"history {number}/{total} ({what}): the load failed ({'; '.join(failed)}; full "
            f"log {settings.home / 'logs'}/run-{summary.run_id}.log). The sources hold the "
            "changes up to this period: seed a fresh state folder",
            exit_code=1,
        )
    say(f"seed: history {number}/{total}: {what}; loaded in {summary.seconds:.1f} s")
    return summary
