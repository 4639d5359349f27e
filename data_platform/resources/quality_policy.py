"""The data-quality policy as a resource, so the UI shows it and settings change it."""

from dagster import ConfigurableResource
from pydantic import Field

from data_platform.core.settings import (
    DEFAULT_ALLOWED_LATENESS_MINUTES,
    DEFAULT_QUARANTINE_MAX_PERCENT,
)


class QualityPolicy(ConfigurableResource):
    """How much bad data a raw partition may carry and still load, and how late a streamed
    event may arrive.

    Set by ``DATA_PLATFORM_QUARANTINE_MAX_PERCENT`` and
    ``DATA_PLATFORM_EVENTS_ALLOWED_LATENESS_MINUTES`` (see :mod:`data_platform.core.settings`);
    the policy itself is :mod:`data_platform.quality.quarantine` (and, for the event stream,
    :mod:`data_platform.sources.web_events.consumer`).
    """

    max_quarantine_percent: int = Field(
        default=DEFAULT_QUARANTINE_MAX_PERCENT,
        ge=0,
        le=100,
        description=(
            "Largest share of a partition's rows (percent) that may be quarantined while the "
            "rest loads; above it the partition is held back and the raw_contract check fails."
        ),
    )
    monitor_min_extra_seconds: float = Field(
        default=10.0,
        ge=0,
        description=(
            "Pipeline monitor: a step is slow only when it is also this many seconds over its "
            "median (seconds of noise on a busy machine are not an anomaly)."
        ),
    )
    monitor_min_median_rows: int = Field(
        default=100,  # quality.monitor_rules.MIN_MEDIAN_ROWS (a sibling layer: not imported)
        ge=1,
        description=(
            "Pipeline monitor: a day's row count is judged only when the median of its weekday "
            "over the four weeks before is at least this many rows (smaller counts swing by "
            "half without anything wrong)."
        ),
    )
    step_delay_seconds: float = Field(
        default=0.0,
        ge=0,
        description=(
            "Test only: seconds a monitored raw step sleeps before it loads (how the tests make "
            "a run slower than its history). 0 in every real deployment."
        ),
    )
    allowed_lateness_minutes: int = Field(
        default=DEFAULT_ALLOWED_LATENESS_MINUTES,
        ge=0,
        description=(
            "Largest delay (minutes) between a streamed event's time and its publication: a "
            "later event is quarantined as late; one within it restates its 5-minute windows."
        ),
    )
