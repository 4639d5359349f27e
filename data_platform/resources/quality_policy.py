"""The data-quality policy as a resource, so the UI shows it and settings change it."""

from dagster import ConfigurableResource
from pydantic import Field

from data_platform.core.settings import DEFAULT_QUARANTINE_MAX_PERCENT


class QualityPolicy(ConfigurableResource):
    """How much bad data a raw partition may carry and still load.

    Set by ``DATA_PLATFORM_QUARANTINE_MAX_PERCENT`` (see :mod:`data_platform.core.settings`); the
    policy itself is :mod:`data_platform.quality.quarantine`.
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
