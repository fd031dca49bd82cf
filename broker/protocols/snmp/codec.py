"""Event -> StreetSense notification, and SNMPv2c message BER (pure; no I/O).

:func:`event_to_notification` maps our event onto the MIB's objects.
:func:`encode_v2c` and :func:`decode_v2c` turn a notification into an
SNMPv2c Trap or InformRequest message and back, with pysnmp's protocol
modules (pyasn1 BER) doing the encoding. The v3 path (USM authentication and
privacy) is left to pysnmp's engine in the transport.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pyasn1.codec.ber import decoder, encoder
from pyasn1.error import PyAsn1Error
from pysnmp.proto import api
from pysnmp.proto.api import v2c

from broker.protocols.snmp.errors import SnmpFormatError
from broker.protocols.snmp.model import (
    DEFAULT_BASE_OID,
    SNMP_TRAP_OID_0,
    SYS_UPTIME_0,
    Notification,
    NotificationName,
    ObjectName,
    Oid,
    Syntax,
    VarBind,
)
from events import Event, Phase, Severity

MAX_MESSAGE_BYTES = 65_507  # the largest UDP payload
TEXT_LIMITS = {ObjectName.SUMMARY: 255, ObjectName.MODEL: 130, ObjectName.SOURCE: 80}
PHASES = {Phase.START: 1, Phase.UPDATE: 2, Phase.END: 3}
SEVERITIES = {Severity.INFO: 1, Severity.LOW: 2, Severity.MEDIUM: 3, Severity.HIGH: 4,
              Severity.CRITICAL: 5}  # fmt: skip
NOTIFICATIONS = {
    Phase.START: NotificationName.ALERT_START,
    Phase.UPDATE: NotificationName.ALERT_UPDATE,
    Phase.END: NotificationName.ALERT_END,
}
PduKind = Literal["trap", "inform"]


def utf8_cut(text: str, limit: int) -> bytes:
    """``text`` as UTF-8, cut at a character boundary to at most ``limit`` octets."""
    data = text.encode()
    if len(data) <= limit:
        return data
    return data[:limit].decode(errors="ignore").encode()


def _text(base: Oid, name: ObjectName, text: str) -> VarBind:
    return VarBind(
        (*base, 1, int(name), 0), Syntax.OCTETS, utf8_cut(text, TEXT_LIMITS.get(name, 64))
    )


def _integer(base: Oid, name: ObjectName, value: int, syntax: Syntax = Syntax.INTEGER) -> VarBind:
    return VarBind((*base, 1, int(name), 0), syntax, value)


def event_to_notification(event: Event, base_oid: Oid = DEFAULT_BASE_OID) -> Notification:
    """The notification for ``event``: ssAlertStart/Update/End with every ssObjects value."""
    model = "" if event.model is None else f"{event.model.name}/{event.model.version}"
    occurred = event.occurred_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    varbinds = (
        _text(base_oid, ObjectName.EVENT_ID, event.event_id),
        _text(base_oid, ObjectName.INCIDENT_ID, event.incident_id),
        _integer(base_oid, ObjectName.PHASE, PHASES[event.phase]),
        _text(base_oid, ObjectName.SITE, event.site),
        _text(base_oid, ObjectName.AGENT, event.agent),
        _text(base_oid, ObjectName.SOURCE, f"{event.source.kind.value}:{event.source.id}"),
        _text(base_oid, ObjectName.CATEGORY, event.category),
        _integer(base_oid, ObjectName.SEVERITY, SEVERITIES[event.severity]),
        _integer(base_oid, ObjectName.CONFIDENCE, round(event.confidence * 1000), Syntax.UNSIGNED),
        _text(base_oid, ObjectName.SUMMARY, event.summary),
        _text(base_oid, ObjectName.MODEL, model),
        _text(base_oid, ObjectName.OCCURRED_AT, occurred),
        _integer(base_oid, ObjectName.REQUIRES_REVIEW, 1 if event.requires_review else 2),
    )
    return Notification((*base_oid, 0, NOTIFICATIONS[event.phase]), varbinds)


# -- pysnmp value conversion ---------------------------------------------------------------


def to_asn1(bind: VarBind) -> tuple[Oid, Any]:
    """A binding as pysnmp's ``(oid, value)`` with the right SMI type."""
    value = bind.value
    if bind.syntax is Syntax.OCTETS:
        assert isinstance(value, bytes)
        return bind.oid, v2c.OctetString(value)
    if bind.syntax is Syntax.OID:
        assert isinstance(value, tuple)
        return bind.oid, v2c.ObjectIdentifier(value)
    assert isinstance(value, int)
    kinds = {Syntax.INTEGER: v2c.Integer, Syntax.UNSIGNED: v2c.Unsigned32,
             Syntax.TIMETICKS: v2c.TimeTicks}  # fmt: skip
    return bind.oid, kinds[bind.syntax](value)


def from_asn1(oid: Any, value: Any) -> VarBind:
    """A pysnmp ``(oid, value)`` as a :class:`VarBind`."""
    key = tuple(int(p) for p in oid)
    if isinstance(value, v2c.OctetString):
        return VarBind(key, Syntax.OCTETS, bytes(value))
    if isinstance(value, v2c.ObjectIdentifier):
        return VarBind(key, Syntax.OID, tuple(int(p) for p in value))
    if isinstance(value, v2c.TimeTicks):
        return VarBind(key, Syntax.TIMETICKS, int(value))
    if isinstance(value, v2c.Unsigned32 | v2c.Gauge32):
        return VarBind(key, Syntax.UNSIGNED, int(value))
    if isinstance(value, v2c.Integer):
        return VarBind(key, Syntax.INTEGER, int(value))
    raise SnmpFormatError("not_notification", f"unsupported value type {type(value).__name__}")


def pysnmp_varbinds(notification: Notification, uptime_cs: int) -> list[tuple[Oid, Any]]:
    """The full binding list: sysUpTime.0, snmpTrapOID.0, then the objects (RFC 3416 4.2.6)."""
    return [
        (SYS_UPTIME_0, v2c.TimeTicks(uptime_cs % 2**32)),
        (SNMP_TRAP_OID_0, v2c.ObjectIdentifier(notification.trap_oid)),
        *(to_asn1(bind) for bind in notification.varbinds),
    ]


# -- SNMPv2c messages ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class V2cMessage:
    """A decoded SNMPv2c notification message."""

    community: bytes
    kind: PduKind
    request_id: int
    uptime_cs: int
    notification: Notification


def encode_v2c(
    notification: Notification,
    *,
    community: bytes,
    request_id: int,
    uptime_cs: int,
    kind: PduKind = "trap",
) -> bytes:
    """BER of an SNMPv2c SNMPv2-Trap or InformRequest message carrying ``notification``."""
    pdu = v2c.SNMPv2TrapPDU() if kind == "trap" else v2c.InformRequestPDU()
    v2c.apiPDU.set_defaults(pdu)
    v2c.apiPDU.set_request_id(pdu, request_id)
    v2c.apiPDU.set_varbinds(pdu, pysnmp_varbinds(notification, uptime_cs))
    message = v2c.Message()
    v2c.apiMessage.set_defaults(message)
    v2c.apiMessage.set_community(message, community)
    v2c.apiMessage.set_pdu(message, pdu)
    return bytes(encoder.encode(message))


# What pyasn1 raises on malformed BER besides its own errors: a long-form length with
# more octets than an index can hold surfaces as OverflowError (found by the fuzz test).
_BER_ERRORS = (PyAsn1Error, ValueError, TypeError, OverflowError)


def decode_v2c(data: bytes) -> V2cMessage:
    """Decode an SNMPv2c Trap or InformRequest; :class:`SnmpFormatError` says why not."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise SnmpFormatError("oversize", f"{len(data)} bytes")
    try:
        version = int(api.decodeMessageVersion(data))
    except _BER_ERRORS as exc:
        raise SnmpFormatError("not_ber", str(exc)) from exc
    if version != api.SNMP_VERSION_2C:
        raise SnmpFormatError("not_v2c", f"message version {version}")
    try:
        message, rest = decoder.decode(data, asn1Spec=v2c.Message())
    except _BER_ERRORS as exc:
        raise SnmpFormatError("not_ber", str(exc)) from exc
    if rest:
        raise SnmpFormatError("not_ber", f"{len(rest)} bytes after the message")
    pdu = v2c.apiMessage.get_pdu(message)
    if pdu.isSameTypeWith(v2c.SNMPv2TrapPDU()):
        kind: PduKind = "trap"
    elif pdu.isSameTypeWith(v2c.InformRequestPDU()):
        kind = "inform"
    else:
        raise SnmpFormatError("not_notification", f"PDU {pdu.__class__.__name__}")
    try:
        binds = [from_asn1(oid, value) for oid, value in v2c.apiPDU.get_varbinds(pdu)]
    except _BER_ERRORS as exc:
        raise SnmpFormatError("not_notification", str(exc)) from exc
    if (
        len(binds) < 2
        or binds[0].oid != SYS_UPTIME_0
        or binds[0].syntax is not Syntax.TIMETICKS
        or binds[1].oid != SNMP_TRAP_OID_0
        or binds[1].syntax is not Syntax.OID
    ):
        raise SnmpFormatError("not_notification", "sysUpTime.0 and snmpTrapOID.0 must come first")
    trap_oid = binds[1].value
    uptime = binds[0].value
    assert isinstance(trap_oid, tuple) and isinstance(uptime, int)
    return V2cMessage(
        community=bytes(v2c.apiMessage.get_community(message)),
        kind=kind,
        request_id=int(v2c.apiPDU.get_request_id(pdu)),
        uptime_cs=uptime,
        notification=Notification(trap_oid, tuple(binds[2:])),
    )
