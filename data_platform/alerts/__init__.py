"""Alerts in the open-source edition: incidents (one message each, repeats folded, a recovery
message when they clear), the sensors that open and clear them, and the daily digest of
warnings. Channels are the ``alerts`` resource (:mod:`data_platform.resources.alerts`)."""

from data_platform.alerts.sensors import ALERT_SCHEDULES, ALERT_SENSORS

__all__ = ["ALERT_SCHEDULES", "ALERT_SENSORS"]
