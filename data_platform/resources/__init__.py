"""Resources: the platform's view of the outside world (lake, warehouse, shop database)."""

from data_platform.resources.lake import LakeFile, LakeResource
from data_platform.resources.shop_db import ShopDatabaseResource
from data_platform.resources.warehouse import WarehouseResource

__all__ = ["LakeFile", "LakeResource", "ShopDatabaseResource", "WarehouseResource"]


def from_environment() -> tuple[ShopDatabaseResource, LakeResource]:
    """The shop database and lake resources configured from the current environment.

    For command-line code outside Dagster runs (seed, headless run planning); inside runs the
    resources come from the definitions, configured with ``EnvVar``.
    """
    import os

    from data_platform import settings

    settings.apply_defaults()
    return (
        ShopDatabaseResource(url=os.environ[settings.SHOP_DB_URL]),
        LakeResource(url=os.environ[settings.LAKE_URL]),
    )
