"""Which landing files the landing source expects, and which dataset and day each holds.

The zone's naming is :mod:`data_platform.core.lake_layout`'s; this module says which datasets
arrive there: a reference dataset as ``landing/<name>/<name>.csv``, a daily one as
``landing/<name>/YYYY-MM-DD.jsonl``. Pure; unit-tested.
"""

from __future__ import annotations

from data_platform.core.datasets import Dataset
from data_platform.core.lake_layout import parse_landing_path
from data_platform.sources.landing.datasets import DAILY, DATASETS

_BY_NAME = {d.name: d for d in DATASETS}


def landing_file(path: str) -> tuple[Dataset, str | None] | None:
    """``(dataset, day or None)`` for a landing file of a known dataset, else ``None``.

    >>> landing_file("landing/tweets/2018-09-01.jsonl")[1]
    '2018-09-01'
    >>> landing_file("landing/orders/2018-09-01.jsonl") is None  # not a landing dataset
    True
    """
    parsed = parse_landing_path(path)
    if parsed is None or parsed[0] not in _BY_NAME:
        return None
    dataset = _BY_NAME[parsed[0]]
    is_daily = parsed[1] is not None
    return (dataset, parsed[1]) if is_daily == (dataset in DAILY) else None
