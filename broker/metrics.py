"""Prometheus metrics of the broker adapter, defined once and updated where the work happens."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_IN = Counter(
    "streetsense_adapter_events_in_total", "Valid events accepted from MQTT.", ["category"]
)
REJECTED = Counter(
    "streetsense_adapter_rejected_total",
    "Payloads rejected, by source and reason (malformed, oversize, ...).",
    ["source", "reason"],
)
DUPLICATES = Counter(
    "streetsense_adapter_duplicates_total", "Events dropped as duplicates by event id."
)
UNROUTED = Counter(
    "streetsense_adapter_unrouted_total", "Valid events no rule sent anywhere.", ["category"]
)
DELIVERIES = Counter(
    "streetsense_adapter_deliveries_total",
    "Delivery attempts by output and result (delivered, retry, rejected).",
    ["output", "result"],
)
DEAD_LETTERS = Counter(
    "streetsense_adapter_dead_letters_total", "Deliveries given up on, by output.", ["output"]
)
QUEUE_DEPTH = Gauge(
    "streetsense_adapter_queue_depth", "Deliveries waiting in an output's queue.", ["output"]
)
QUEUE_OLDEST_AGE = Gauge(
    "streetsense_adapter_queue_oldest_age_seconds",
    "Age of the oldest delivery waiting in an output's queue.",
    ["output"],
)
DELIVERY_LATENCY = Histogram(
    "streetsense_adapter_delivery_latency_seconds",
    "From an event's publication by the agent to its delivery to an output.",
    ["output"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0),
)
OUTPUT_UP = Gauge(
    "streetsense_adapter_output_up", "1 while an output's peer is reachable.", ["output"]
)
OPERATOR_ACTIONS = Counter(
    "streetsense_adapter_operator_actions_total",
    "Operator answers applied, by action and channel.",
    ["action", "channel"],
)
INBOUND_EVENTS = Counter(
    "streetsense_adapter_inbound_events_total",
    "Events received from legacy systems and published to MQTT, by channel.",
    ["channel"],
)
PROTOCOL_MESSAGES = Counter(
    "streetsense_adapter_protocol_messages_total",
    "Protocol frames by output, direction and kind (e.g. dc09 in ack).",
    ["output", "direction", "kind"],
)
PROTOCOL_REJECTED = Counter(
    "streetsense_adapter_protocol_rejected_total",
    "Inbound protocol frames rejected, by protocol and reason.",
    ["protocol", "reason"],
)
AGENTS_ONLINE = Gauge(
    "streetsense_adapter_agent_online",
    "1 while an agent's retained status says online (0 after its Last Will).",
    ["site", "agent"],
)
