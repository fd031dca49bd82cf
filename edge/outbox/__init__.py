"""Durable outbox: an SQLite spool in front of a paho MQTT v5 publisher (QoS 1)."""

from edge.outbox.config import BrokerConfig, OutboxConfig, TlsConfig
from edge.outbox.errors import OutboxError, SpoolError, SpoolFullError
from edge.outbox.outbox import Outbox
from edge.outbox.publisher import Publisher
from edge.outbox.spool import Spool, SpoolItem, SpoolRow

__all__ = [
    "BrokerConfig",
    "Outbox",
    "OutboxConfig",
    "OutboxError",
    "Publisher",
    "Spool",
    "SpoolError",
    "SpoolFullError",
    "SpoolItem",
    "SpoolRow",
    "TlsConfig",
]
