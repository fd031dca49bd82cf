"""Errors of the SNMP notification codec and output.

SnmpError                base; ``reason`` is the Prometheus label
├── SnmpConfigError      an invalid setting (base OID, keys too short, engine id)
└── SnmpFormatError      bytes that are not an SNMPv2c notification we understand;
                         ``reason`` is "oversize", "not_ber", "not_v2c" or "not_notification"
"""

from __future__ import annotations


class SnmpError(Exception):
    """Base of every SNMP output error; ``reason`` is a short metric label."""

    reason = "error"


class SnmpConfigError(SnmpError, ValueError):
    """An SNMP output setting is invalid."""

    reason = "config"


class SnmpFormatError(SnmpError, ValueError):
    """Bytes that are not an SNMPv2c notification message."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(f"{reason}: {message}")
