"""ONVIF-specific metrics; shared counters (protocol messages, rejections) live in broker.metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

SUBSCRIPTIONS = Gauge(
    "streetsense_adapter_onvif_subscriptions",
    "Active ONVIF pull-point subscriptions of an onvif_events output.",
    ["output"],
)
QUEUED = Gauge(
    "streetsense_adapter_onvif_queued_messages",
    "Notifications waiting in the pull points of an onvif_events output.",
    ["output"],
)
DROPPED = Counter(
    "streetsense_adapter_onvif_dropped_total",
    "Notifications dropped by an onvif_events output, by reason (queue_full, ...).",
    ["output", "reason"],
)
