"""The StreetSense notification as typed values: OIDs and SMI-typed variable bindings.

The object layout matches config/snmp/STREETSENSE-MIB.txt under a base OID
(default ``1.3.6.1.4.1.32473.1``, a placeholder private enterprise number):
notifications at ``<base>.0.<n>``, objects at ``<base>.1.<n>`` sent as scalar
instances (``.0``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

Oid = tuple[int, ...]

DEFAULT_BASE_OID: Oid = (1, 3, 6, 1, 4, 1, 32473, 1)
SYS_UPTIME_0: Oid = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SNMP_TRAP_OID_0: Oid = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)


class Syntax(enum.StrEnum):
    """The SMI type of a variable binding's value."""

    OCTETS = "OCTET STRING"
    INTEGER = "INTEGER"
    UNSIGNED = "Unsigned32"
    TIMETICKS = "TimeTicks"
    OID = "OBJECT IDENTIFIER"


@dataclass(frozen=True, slots=True)
class VarBind:
    """One variable binding: an instance OID and its typed value."""

    oid: Oid
    syntax: Syntax
    value: bytes | int | Oid


@dataclass(frozen=True, slots=True)
class Notification:
    """A notification: its ``snmpTrapOID`` and the object bindings after the two mandatory ones."""

    trap_oid: Oid
    varbinds: tuple[VarBind, ...]


class NotificationName(enum.IntEnum):
    """Sub-identifiers under ``<base>.0``."""

    ALERT_START = 1
    ALERT_UPDATE = 2
    ALERT_END = 3


class ObjectName(enum.IntEnum):
    """Sub-identifiers under ``<base>.1`` (the MIB's ssObjects)."""

    EVENT_ID = 1
    INCIDENT_ID = 2
    PHASE = 3
    SITE = 4
    AGENT = 5
    SOURCE = 6
    CATEGORY = 7
    SEVERITY = 8
    CONFIDENCE = 9
    SUMMARY = 10
    MODEL = 11
    OCCURRED_AT = 12
    REQUIRES_REVIEW = 13


def parse_oid(text: str) -> Oid:
    """``'1.3.6.1.4.1.32473.1'`` (a leading dot allowed) -> a tuple; ValueError when malformed."""
    parts = text.strip().lstrip(".").split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts):
        raise ValueError(f"{text!r} is not a dotted numeric OID")
    oid = tuple(int(p) for p in parts)
    if oid[0] > 2 or (oid[0] < 2 and oid[1] > 39) or any(p >= 2**32 for p in oid):
        raise ValueError(f"{text!r} is not a valid OID")
    return oid


def format_oid(oid: Oid) -> str:
    """A tuple OID as dotted text."""
    return ".".join(str(p) for p in oid)
