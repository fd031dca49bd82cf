"""Prometheus metrics of the embedded MQTT broker."""

from __future__ import annotations

from prometheus_client import Counter

from streetsense.demo.mqtt_broker import reasons

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

_REJECT_REASONS = {
    reasons.MALFORMED_PACKET: "malformed",
    reasons.PROTOCOL_ERROR: "protocol_error",
    reasons.QOS_NOT_SUPPORTED: "qos_not_supported",
    reasons.TOPIC_NAME_INVALID: "topic_invalid",
    reasons.TOPIC_ALIAS_INVALID: "topic_alias_invalid",
    reasons.PACKET_TOO_LARGE: "too_large",
    reasons.SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED: "subscription_identifier",
    reasons.UNSUPPORTED_PROTOCOL_VERSION: "protocol_version",
}


def reject_reason(reason_code: int) -> str:
    """The ``reason`` label for a refusal with this MQTT v5 reason code."""
    return _REJECT_REASONS.get(reason_code, "other")
