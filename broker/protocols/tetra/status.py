"""SDS-TL delivery status values (EN 300 392-2 clause 29) and what they mean for an alert."""

from __future__ import annotations

import enum

# Delivery status values (EN 300 392-2 table "delivery status").
STATUS_TEXT: dict[int, str] = {
    0x00: "receipt acknowledged by destination",
    0x01: "receipt report acknowledgement",
    0x02: "consumed by destination",
    0x03: "consumed report acknowledgement",
    0x04: "message forwarded to external network",
    0x05: "sent to group, acknowledgements prevented",
    0x06: "concatenation part receipt acknowledged",
    0x20: "congestion, message stored by SwMI",
    0x21: "message stored by SwMI",
    0x22: "destination not reachable, message stored by SwMI",
    0x40: "network overload",
    0x41: "service permanently not available on BS",
    0x42: "service temporarily not available on BS",
    0x43: "source is not authorised for SDS",
    0x44: "destination is not authorised for SDS",
    0x45: "unknown destination, gateway or service centre address",
    0x46: "unknown forward address",
    0x47: "group address with individual service",
    0x48: "validity period expired, message not received",
    0x49: "validity period expired, message not consumed",
    0x4A: "delivery failed",
    0x4B: "destination not registered on system",
    0x4C: "destination queue full",
    0x4D: "message too long",
    0x4E: "destination does not support SDS-TL data transfer",
    0x4F: "destination host not connected",
    0x50: "protocol not supported",
    0x51: "data coding scheme not supported",
    0x52: "destination memory full, message discarded",
    0x53: "destination not accepting SDS messages",
    0x54: "concatenated message too long",
    0x56: "destination address prohibited",
    0x57: "cannot route to external network",
    0x58: "unknown external subscriber number",
    0x59: "negative report acknowledgement",
    0x5A: "destination not reachable, message delivery failed",
    0x5B: "text distribution error",
    0x5C: "corrupt information element",
    0x5D: "not all concatenation parts received",
    0x5E: "destination engaged in another service, external",
    0x5F: "destination engaged in another service",
    0x60: "destination memory full",
    0x61: "destination memory available",
    0x62: "start pending messages",
    0x63: "no pending messages",
    0x80: "stop sending",
    0x81: "start sending",
}

# Failures that will not go away by sending the same message again.
PERMANENT_FAILURES = frozenset(
    {0x41, 0x43, 0x44, 0x45, 0x46, 0x47, 0x4D, 0x4E, 0x50, 0x51, 0x54, 0x56, 0x57, 0x58}
)


class StatusVerdict(enum.StrEnum):
    """What a delivery status means for the alert."""

    DELIVERED = "delivered"
    RETRY = "retry"
    REJECTED = "rejected"


def status_verdict(status: int) -> StatusVerdict:
    """Success (0x00-0x1F) and "stored by SwMI" (0x21, 0x22) are delivered; permanent
    failures are rejected; congestion, other failures and flow control are retried."""
    if status < 0x20 or status in (0x21, 0x22):
        return StatusVerdict.DELIVERED
    if status in PERMANENT_FAILURES:
        return StatusVerdict.REJECTED
    return StatusVerdict.RETRY


def describe_status(status: int) -> str:
    """Human-readable delivery status."""
    return STATUS_TEXT.get(status, f"delivery status 0x{status:02X}")
