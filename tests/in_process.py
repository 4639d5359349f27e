"""What the tests that drive the platform in-process share: a state folder's definitions,
resources and ephemeral instance, and another process holding a lock while a test runs."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from dagster import AssetKey, DagsterInstance

from data_platform.core.settings import Settings
from data_platform.definitions import build_definitions
from data_platform.resources import LakeResource, ShopDatabaseResource, WarehouseResource

READY = "ready"


class Platform:
    """A state folder's definitions and resources, and in-process runs of its assets on an
    ephemeral instance."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.defs = build_definitions(settings)
        self.instance = DagsterInstance.ephemeral()
        self.lake = LakeResource(url=settings.lake_url)
        self.warehouse = WarehouseResource(url=settings.warehouse_url)
        self.shop_db = ShopDatabaseResource(url=settings.shop_db_url)

    def materialize(
        self, keys: list[AssetKey], partition: dt.date | None = None, tags: dict | None = None
    ):
        """Run ``keys`` (one ``partition`` of them, or as ``tags`` say); the result, failed or not."""
        job = self.defs.resolve_implicit_global_asset_job_def()
        return job.execute_in_process(
            instance=self.instance,
            asset_selection=keys,
            partition_key=partition.isoformat() if partition else None,
            tags=tags,
            raise_on_error=False,
        )


@contextmanager
def held_by_another_process(code: str) -> Iterator[subprocess.Popen]:
    """Run the Python ``code`` in a child process until it prints :data:`READY` (it has taken
    its lock), yield the child, and kill it afterwards (no clean-up: as a crash would)."""
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == READY
        yield holder
    finally:
        holder.kill()
        holder.wait()
