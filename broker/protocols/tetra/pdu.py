"""SDS-TL PDUs of ETSI EN 300 392-2 clause 29 (pure: bytes in, values out).

Layouts (octets, most significant bit first):

- SDS-TRANSFER: protocol identifier (8) | message type 0000 (4), delivery
  report request (2), service selection / short form report (1),
  storage/forward control (1) | message reference (8) | [validity period
  (5), forward address type (3), forward address] | user data.
- Text user data (protocol 0x82 "text messaging", 0x89 immediate): timestamp
  used (1), text coding scheme (7) | [timestamp (24)] | text.
- SDS-REPORT: protocol identifier | 0001 (4), acknowledgement required (1),
  reserved (2), storage (1) | delivery status (8) | message reference (8).
- SDS-ACK: protocol identifier | 0010 (4), reserved (4) | delivery status |
  message reference.
- SDS-SHORT-REPORT (carried by the status service): 011111 (6), short report
  type (2) | message reference (8).
- Simple text messaging (0x02, 0x09): protocol identifier | fill bit (1),
  text coding scheme (7) | text.

Test vectors: tests/broker/protocols/test_tetra_codec.py.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from broker.protocols.tetra.errors import PduError
from broker.protocols.tetra.status import StatusVerdict, status_verdict

PID_SIMPLE_TEXT = 0x02
PID_SIMPLE_IMMEDIATE_TEXT = 0x09
PID_TEXT = 0x82
PID_IMMEDIATE_TEXT = 0x89
PID_TEXT_WITH_UDH = 0x8A

SDS_TYPE4_MAX_BITS = 2047  # user-defined data-4 length indicator is 11 bits
TEXT_HEADER_BITS = 32  # PID, type/flags, message reference, timestamp-used/coding
MAX_TEXT_OCTETS = (SDS_TYPE4_MAX_BITS - TEXT_HEADER_BITS) // 8  # 251 characters at 8 bits


class MessageType(enum.IntEnum):
    """SDS-TL message type (upper nibble of the second octet)."""

    TRANSFER = 0
    REPORT = 1
    ACK = 2


class ReportRequest(enum.IntEnum):
    """Delivery report request of an SDS-TRANSFER."""

    NONE = 0
    RECEIVED = 1
    CONSUMED = 2
    RECEIVED_AND_CONSUMED = 3


class TextCoding(enum.IntEnum):
    """Text coding schemes (the subset StreetSense encodes and decodes)."""

    GSM_7BIT = 0
    ISO_8859_1 = 1
    UTF_16BE = 26


_CODECS: dict[int, str] = {
    1: "latin-1",
    **{n: f"iso8859_{n}" for n in range(2, 11)},
    11: "iso8859_13",
    12: "iso8859_14",
    13: "iso8859_15",
    14: "cp437",
    15: "cp737",
    16: "cp850",
    17: "cp852",
    18: "cp855",
    19: "cp857",
    20: "cp860",
    21: "cp861",
    22: "cp863",
    23: "cp865",
    24: "cp866",
    25: "cp869",
    26: "utf-16-be",
}


@dataclass(frozen=True, slots=True)
class Timestamp:
    """The 24-bit SDS-TL text timestamp: timeframe type, month, day, hour, minute."""

    timeframe: int  # 0 local, 1 UTC, 2 and 3 reserved
    month: int
    day: int
    hour: int
    minute: int

    def encode(self) -> bytes:
        """Three octets."""
        value = (
            (self.timeframe & 0x3) << 22
            | (self.month & 0xF) << 16
            | (self.day & 0x1F) << 11
            | (self.hour & 0x1F) << 6
            | (self.minute & 0x3F)
        )
        return value.to_bytes(3, "big")

    @classmethod
    def decode(cls, data: bytes) -> Timestamp:
        """From three octets."""
        value = int.from_bytes(data, "big")
        return cls(
            timeframe=value >> 22,
            month=(value >> 16) & 0xF,
            day=(value >> 11) & 0x1F,
            hour=(value >> 6) & 0x1F,
            minute=value & 0x3F,
        )


@dataclass(frozen=True, slots=True)
class StoreForward:
    """Storage/forward control of an SDS-TRANSFER or SDS-REPORT (kept as read)."""

    validity_period: int
    forward_address_type: int
    forward_address: bytes


@dataclass(frozen=True, slots=True)
class Concatenation:
    """The concatenated-text user data header (reference, total parts, this part)."""

    reference: int
    total: int
    sequence: int


@dataclass(frozen=True, slots=True)
class TextMessage:
    """A text SDS (SDS-TRANSFER with text, or simple text messaging)."""

    protocol_id: int
    text: str
    coding: int
    message_reference: int | None = None  # None for simple text messaging
    report_request: ReportRequest = ReportRequest.NONE
    service_selection: int = 1
    timestamp: Timestamp | None = None
    store_forward: StoreForward | None = None
    concatenation: Concatenation | None = None

    @property
    def immediate(self) -> bool:
        """Immediate text: show at once on the handset."""
        return self.protocol_id in (PID_IMMEDIATE_TEXT, PID_SIMPLE_IMMEDIATE_TEXT)


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """An SDS-REPORT."""

    protocol_id: int
    status: int
    message_reference: int
    ack_required: bool = False
    store_forward: StoreForward | None = None

    @property
    def verdict(self) -> StatusVerdict:
        """Delivered, retry or rejected."""
        return status_verdict(self.status)


@dataclass(frozen=True, slots=True)
class SdsAck:
    """An SDS-ACK (acknowledges a report)."""

    protocol_id: int
    status: int
    message_reference: int


@dataclass(frozen=True, slots=True)
class ShortReport:
    """An SDS-SHORT-REPORT (0 protocol/coding not supported, 1 memory full,
    2 received, 3 consumed)."""

    report_type: int
    message_reference: int

    @property
    def verdict(self) -> StatusVerdict:
        """Received/consumed are delivered, memory full is retried, unsupported rejected."""
        return {0: StatusVerdict.REJECTED, 1: StatusVerdict.RETRY}.get(
            self.report_type, StatusVerdict.DELIVERED
        )


SdsTlPdu = TextMessage | DeliveryReport | SdsAck


def encode_text_transfer(
    message_reference: int,
    text: str,
    *,
    report_request: ReportRequest = ReportRequest.RECEIVED,
    service_selection: int = 1,
    coding: int = TextCoding.ISO_8859_1,
    immediate: bool = False,
    timestamp: Timestamp | None = None,
) -> bytes:
    """An SDS-TRANSFER carrying ``text`` (unencodable characters become ``?``)."""
    if not 0 <= message_reference <= 255:
        raise ValueError("message reference is one octet")
    codec = _CODECS.get(coding)
    if codec is None:
        raise ValueError(f"text coding {coding} is not supported for sending")
    body = text.encode(codec, errors="replace")
    pid = PID_IMMEDIATE_TEXT if immediate else PID_TEXT
    flags = (MessageType.TRANSFER << 4) | (report_request << 2) | ((service_selection & 1) << 1)
    header = bytes([pid, flags, message_reference, (0x80 if timestamp else 0) | coding])
    return header + (timestamp.encode() if timestamp else b"") + body


def encode_report(
    message_reference: int,
    status: int,
    *,
    protocol_id: int = PID_TEXT,
    ack_required: bool = False,
) -> bytes:
    """An SDS-REPORT answering ``message_reference``."""
    flags = (MessageType.REPORT << 4) | (0x08 if ack_required else 0)
    return bytes([protocol_id, flags, status & 0xFF, message_reference & 0xFF])


def _store_forward(data: bytes, offset: int) -> tuple[StoreForward, int]:
    if offset >= len(data):
        raise PduError("truncated", "storage/forward control missing")
    first = data[offset]
    kind = first & 0x07
    size = {0: 1, 1: 3, 2: 6, 7: 0}.get(kind)
    start = offset + 1
    if kind == 3:  # external subscriber number: length in digits, 4 bits each
        if start >= len(data):
            raise PduError("truncated", "external subscriber number length missing")
        size = 1 + (data[start] + 1) // 2
    if size is None:
        raise PduError("bad_forward_address", f"forward address type {kind} is reserved")
    if start + size > len(data):
        raise PduError("truncated", "forward address truncated")
    return StoreForward(first >> 3, kind, data[start : start + size]), start + size


def _decode_text(coding: int, data: bytes) -> str:
    codec = _CODECS.get(coding)
    if codec is None:
        raise PduError("unsupported_coding", f"text coding scheme {coding} is not supported")
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        raise PduError("bad_text", f"text is not valid {codec}: {exc}") from exc


def _text_user_data(
    data: bytes, offset: int, udh: bool
) -> tuple[str, int, Timestamp | None, Concatenation | None]:
    if offset >= len(data):
        raise PduError("truncated", "text header missing")
    coding = data[offset] & 0x7F
    offset += 1
    timestamp = None
    if data[offset - 1] & 0x80:
        if offset + 3 > len(data):
            raise PduError("truncated", "timestamp truncated")
        timestamp = Timestamp.decode(data[offset : offset + 3])
        offset += 3
    concatenation = None
    if udh:
        if offset >= len(data) or offset + 1 + data[offset] > len(data):
            raise PduError("truncated", "user data header truncated")
        header = data[offset + 1 : offset + 1 + data[offset]]
        offset += 1 + data[offset]
        if len(header) >= 5 and header[0] == 0x00 and header[1] == 3:
            concatenation = Concatenation(header[2], header[3], header[4])
        elif len(header) >= 6 and header[0] == 0x08 and header[1] == 4:
            concatenation = Concatenation(header[2] | header[3] << 8, header[4], header[5])
    return _decode_text(coding, data[offset:]), coding, timestamp, concatenation


def decode_sds_tl(data: bytes) -> SdsTlPdu:
    """Decode an SDS type-4 payload with a text or SDS-TL protocol identifier."""
    if not data:
        raise PduError("empty", "empty PDU")
    pid = data[0]
    if pid in (PID_SIMPLE_TEXT, PID_SIMPLE_IMMEDIATE_TEXT):
        if len(data) < 2:
            raise PduError("truncated", "simple text without coding scheme")
        coding = data[1] & 0x7F
        return TextMessage(pid, _decode_text(coding, data[2:]), coding)
    if pid < 0x80:
        raise PduError("unsupported_protocol", f"protocol identifier 0x{pid:02X} is not SDS-TL")
    if len(data) < 3:
        raise PduError("truncated", "SDS-TL PDU shorter than 3 octets")
    kind = data[1] >> 4
    if kind == MessageType.TRANSFER:
        return _decode_transfer(data)
    if len(data) < 4:
        raise PduError("truncated", "SDS-REPORT/ACK shorter than 4 octets")
    if kind == MessageType.REPORT:
        store = _store_forward(data, 4)[0] if data[1] & 0x01 else None
        return DeliveryReport(pid, data[2], data[3], bool(data[1] & 0x08), store)
    if kind == MessageType.ACK:
        return SdsAck(pid, data[2], data[3])
    raise PduError("unsupported_message_type", f"SDS-TL message type {kind} is not supported")


def _decode_transfer(data: bytes) -> TextMessage:
    pid, flags = data[0], data[1]
    if pid not in (PID_TEXT, PID_IMMEDIATE_TEXT, PID_TEXT_WITH_UDH):
        raise PduError("unsupported_protocol", f"SDS-TRANSFER of protocol 0x{pid:02X}")
    offset = 3
    store = None
    if flags & 0x01:
        store, offset = _store_forward(data, offset)
    text, coding, timestamp, concatenation = _text_user_data(data, offset, pid == PID_TEXT_WITH_UDH)
    return TextMessage(
        protocol_id=pid,
        text=text,
        coding=coding,
        message_reference=data[2],
        report_request=ReportRequest((flags >> 2) & 0x3),
        service_selection=(flags >> 1) & 0x1,
        timestamp=timestamp,
        store_forward=store,
        concatenation=concatenation,
    )


def decode_short_report(data: bytes) -> ShortReport:
    """Decode an SDS-SHORT-REPORT (status service, 16 bits)."""
    if len(data) != 2 or data[0] >> 2 != 0b011111:
        raise PduError("bad_short_report", f"not an SDS-SHORT-REPORT: {data.hex()}")
    return ShortReport(data[0] & 0x03, data[1])
