"""Resources: the platform's view of the outside world (lake, warehouse, shop database, dbt,
the event broker, the alert channels) and its quality policy. :func:`platform_resources` builds them all from the settings: the code
location, the command line and the tests use it, and nothing else builds resources."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dagster import EnvVar, build_resources

from data_platform.core.settings import (
    ALERT_EMAIL_FROM,
    ALERT_EMAIL_TO,
    ALERT_SMTP_URL,
    ALERT_WEBHOOK_URL,
    ALLOWED_LATENESS_MINUTES,
    EVENTS_ACK_WAIT_SECONDS,
    EVENTS_STREAM,
    EVENTS_URL,
    LAKE_URL,
    PSEUDONYM_KEY,
    QUARANTINE_MAX_PERCENT,
    SHOP_DB_URL,
    UI_URL,
    WAREHOUSE_URL,
    Settings,
)
from data_platform.resources.alerts import AlertsResource
from data_platform.resources.dbt import (
    WarehouseDbtCliResource,
    dbt_executable,
    dbt_project,
    dbt_target_dir,
)
from data_platform.resources.events import (
    ConsumerLag,
    Delivery,
    EventBrokerResource,
    EventMessage,
)
from data_platform.resources.lake import LakeFile, LakeResource
from data_platform.resources.pseudonyms import PseudonymKeyResource
from data_platform.resources.quality_policy import QualityPolicy
from data_platform.resources.shop_db import ShopDatabaseResource
from data_platform.resources.warehouse import WarehouseResource

__all__ = [
    "AlertsResource",
    "ConsumerLag",
    "Delivery",
    "EventBrokerResource",
    "EventMessage",
    "LakeFile",
    "LakeResource",
    "PseudonymKeyResource",
    "QualityPolicy",
    "ShopDatabaseResource",
    "WarehouseDbtCliResource",
    "WarehouseResource",
    "open_resources",
    "platform_resources",
]


def platform_resources(settings: Settings) -> dict:
    """Every resource by key, configured from ``settings``: a setting given in the environment
    is passed as ``EnvVar`` (the UI shows the variable, never a password in it), a default as
    its value. Outside Dagster runs, open them with ``dagster.build_resources``."""

    def value(name: str, default: str) -> str | EnvVar:
        # A variable set in the environment is passed as EnvVar, so the UI shows where the
        # value comes from and never a password in it.
        return EnvVar(name) if name in settings.explicit else default

    return {
        "lake": LakeResource(url=value(LAKE_URL, settings.lake_url)),
        "shop_db": ShopDatabaseResource(url=value(SHOP_DB_URL, settings.shop_db_url)),
        "warehouse": WarehouseResource(url=value(WAREHOUSE_URL, settings.warehouse_url)),
        "dbt": WarehouseDbtCliResource(
            project_dir=dbt_project,
            dbt_executable=dbt_executable(settings),
            warehouse_url=value(WAREHOUSE_URL, settings.warehouse_url),
            target_dir=str(dbt_target_dir(settings)),
            # No manifest.json (written twice per invocation), run_results.json or
            # graph.gpickle in each invocation's folder: the platform reads none of them (the
            # events come from dbt's output, the manifest from `prepare`), and they cost about
            # 0.8 s and 2 MB an invocation. dbt.log and the partial parse are still written.
            global_config_flags=["--no-write-json"],
        ),
        "quality": QualityPolicy(
            max_quarantine_percent=EnvVar.int(QUARANTINE_MAX_PERCENT)
            if QUARANTINE_MAX_PERCENT in settings.explicit
            else settings.quarantine_max_percent,
            allowed_lateness_minutes=EnvVar.int(ALLOWED_LATENESS_MINUTES)
            if ALLOWED_LATENESS_MINUTES in settings.explicit
            else settings.allowed_lateness_minutes,
        ),
        "events": EventBrokerResource(
            url=value(EVENTS_URL, settings.events_url),
            stream=value(EVENTS_STREAM, settings.events_stream),
            ack_wait_seconds=EnvVar.int(EVENTS_ACK_WAIT_SECONDS)
            if EVENTS_ACK_WAIT_SECONDS in settings.explicit
            else settings.events_ack_wait_seconds,
            lake=LakeResource(url=value(LAKE_URL, settings.lake_url)),
        ),
        "pseudonyms": PseudonymKeyResource(
            key=value(PSEUDONYM_KEY, ""), key_file=str(settings.pseudonym_key_file)
        ),
        "alerts": AlertsResource(
            smtp_url=value(ALERT_SMTP_URL, settings.alert_smtp_url),
            email_to=value(ALERT_EMAIL_TO, ",".join(settings.alert_email_to)),
            email_from=value(ALERT_EMAIL_FROM, settings.alert_email_from),
            webhook_url=value(ALERT_WEBHOOK_URL, settings.alert_webhook_url),
            ui_url=value(UI_URL, settings.ui_url),
            state_dir=str(settings.home / "alerts"),
        ),
    }


@contextmanager
def open_resources(settings: Settings, *keys: str) -> Iterator[dict]:
    """The resources ``keys`` of :func:`platform_resources`, initialized for use outside a run
    (the command line, the tests), by key."""
    resources = platform_resources(settings)
    with build_resources({key: resources[key] for key in keys}) as opened:
        yield {key: getattr(opened, key) for key in keys}
