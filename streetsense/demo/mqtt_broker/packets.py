"""MQTT 3.1.1 and 5.0 control packets as typed, immutable values (encoded by ``codec``)."""

from __future__ import annotations

from dataclasses import dataclass

from streetsense.demo.mqtt_broker import reasons
from streetsense.demo.mqtt_broker.wire import NO_PROPERTIES, Properties

MQTT_311 = 4
MQTT_5 = 5


@dataclass(frozen=True, slots=True)
class Will:
    """The Last Will a client leaves in its CONNECT."""

    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class Connect:
    """CONNECT (3.1)."""

    client_id: str
    protocol_level: int = MQTT_5
    clean_start: bool = True
    keepalive: int = 60
    username: str | None = None
    password: bytes | None = None
    will: Will | None = None
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class Connack:
    """CONNACK (3.2); ``reason_code`` is the v3 return code for MQTT 3.1.1."""

    session_present: bool = False
    reason_code: int = reasons.SUCCESS
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class Publish:
    """PUBLISH (3.3); ``packet_id`` is None for QoS 0."""

    topic: str
    payload: bytes = b""
    qos: int = 0
    retain: bool = False
    dup: bool = False
    packet_id: int | None = None
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class Puback:
    """PUBACK (3.4)."""

    packet_id: int
    reason_code: int = reasons.SUCCESS
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class SubscriptionRequest:
    """One topic filter of a SUBSCRIBE with its options (3.8.3.1)."""

    topic_filter: str
    qos: int = 0
    no_local: bool = False
    retain_as_published: bool = False
    retain_handling: int = 0


@dataclass(frozen=True, slots=True)
class Subscribe:
    """SUBSCRIBE (3.8)."""

    packet_id: int
    requests: tuple[SubscriptionRequest, ...]
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class Suback:
    """SUBACK (3.9): one granted QoS or failure code per request."""

    packet_id: int
    reason_codes: tuple[int, ...]
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """UNSUBSCRIBE (3.10)."""

    packet_id: int
    topic_filters: tuple[str, ...]
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class Unsuback:
    """UNSUBACK (3.11); MQTT 3.1.1 carries no reason codes."""

    packet_id: int
    reason_codes: tuple[int, ...] = ()
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class Pingreq:
    """PINGREQ (3.12)."""


@dataclass(frozen=True, slots=True)
class Pingresp:
    """PINGRESP (3.13)."""


@dataclass(frozen=True, slots=True)
class Disconnect:
    """DISCONNECT (3.14); MQTT 3.1.1 carries no reason code."""

    reason_code: int = reasons.SUCCESS
    properties: Properties = NO_PROPERTIES


Packet = (
    Connect | Connack | Publish | Puback | Subscribe | Suback | Unsubscribe | Unsuback
    | Pingreq | Pingresp | Disconnect
)  # fmt: skip
