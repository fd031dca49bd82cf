"""Errors of the embedded MQTT broker.

MqttBrokerError
 +-- MalformedPacketError   bytes that are not a valid MQTT packet (carries a v5 reason code)
 +-- BrokerStartError       the listener could not be started
"""

from __future__ import annotations

from streetsense.demo.mqtt_broker import reasons


class MqttBrokerError(Exception):
    """Base class of the embedded broker's errors."""


class MalformedPacketError(MqttBrokerError):
    """A packet violates the MQTT wire format or protocol rules.

    ``reason_code`` is the MQTT v5 reason code the broker answers with in a
    DISCONNECT (0x81 malformed packet unless a more specific code applies).
    """

    def __init__(self, message: str, reason_code: int = reasons.MALFORMED_PACKET) -> None:
        super().__init__(message)
        self.reason_code = reason_code


class BrokerStartError(MqttBrokerError):
    """The broker could not listen."""
