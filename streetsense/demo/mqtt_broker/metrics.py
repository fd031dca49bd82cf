"""Prometheus metrics of the embedded MQTT broker."""

from __future__ import annotations

from prometheus_client import Counter

DROPPED = Counter(
    "streetsense_demo_broker_dropped_total",
    "Messages the embedded MQTT broker did not deliver, by reason "
    "(queue_full, too_large_for_client, slow_consumer, no_subscriber).",
    ["reason"],
)
REJECTED = Counter(
    "streetsense_demo_broker_rejected_total",
    "Connections or packets the embedded MQTT broker refused, by reason "
    "(malformed, protocol_error, qos_not_supported, topic_invalid, too_large, ...).",
    ["reason"],
)
