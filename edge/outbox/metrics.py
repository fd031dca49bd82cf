"""Outbox metrics not in the shared catalogue (:mod:`edge.metrics` holds the rest)."""

from __future__ import annotations

from prometheus_client import Counter

INBOUND_REJECTED = Counter(
    "streetsense_agent_inbound_rejected_total",
    "Messages received on the agent's acks or cmd topic that were rejected, by reason.",
    ["topic", "reason"],
)
BROKER_REJECTED = Counter(
    "streetsense_outbox_broker_rejected_total",
    "Events the broker refused with a failing PUBACK reason code (kept as dead letters).",
    ["reason"],
)
