"""Pure SIA DC-09 framing: bytes in, frozen values out, and back. No I/O.

A frame is ``<LF><crc><0LLL>"<id>"<seq>[R<rcvr>]L<pref>[#<acct>][<data>][<x>]..._<time><CR>``:
CRC-16/ARC in 4 hex digits and the length in 4 hex digits, both over the text
from the opening quote up to (not including) <CR>; a 4-digit sequence number;
receiver and account prefix in 1-6 hex digits; the account in 3-16 hex
digits; the data block; optional extended data blocks; the UTC timestamp
``_HH:MM:SS,MM-DD-YYYY``. With ``*`` before the id everything after ``[`` is
AES-CBC encrypted and hex encoded (see :mod:`.crypto`).

Decoding is split so a receiver can answer even a rejected frame:
:func:`parse_frame` checks size, envelope, CRC, length and header;
:func:`open_frame` decrypts and reads the content; :func:`check_timestamp`
applies the acceptance window (+20 s / -40 s around the receiver's clock).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from broker.protocols.dc09 import crypto
from broker.protocols.dc09.crc import crc16
from broker.protocols.dc09.errors import (
    BadCrcError,
    BadFormatError,
    BadFramingError,
    BadLengthError,
    DecryptError,
    EncodeError,
    FrameHeader,
    OversizeFrameError,
    TimestampError,
    UnsupportedIdError,
)

MAX_BODY_CHARS = 0x0FFF  # the length field is "0LLL": three hex digits
MAX_FRAME_BYTES = 1 + 4 + 4 + MAX_BODY_CHARS + 1  # LF + crc + length + body + CR
WINDOW_FUTURE_S = 20.0  # DC-09: accept timestamps up to 20 s ahead of the receiver
WINDOW_PAST_S = 40.0  # ... and up to 40 s behind it
MAX_SEQUENCE = 9999
_TIME_FORMAT = "%H:%M:%S,%m-%d-%Y"

_HEADER = re.compile(
    r'"(?P<star>\*)?(?P<token>[A-Za-z0-9-]{1,12})"'
    r"(?P<seq>\d{4})"
    r"(?:R(?P<receiver>[0-9A-Fa-f]{1,6}))?"
    r"L(?P<prefix>[0-9A-Fa-f]{1,6}?)"
    r"(?:#(?P<account>[0-9A-Fa-f]{3,16})|(?P<nak_account>A0))?"
    r"\["
)
_TIMESTAMP = re.compile(r"_(\d{2}):(\d{2}):(\d{2}),(\d{2})-(\d{2})-(\d{4})")
_HEX_FIELD = re.compile(r"[0-9A-Fa-f]{4}")
_HEX_ID = re.compile(r"[0-9A-F]{1,6}")
_ACCOUNT = re.compile(r"[0-9A-F]{3,16}")
_HEX_TEXT = re.compile(r"(?:[0-9A-Fa-f]{32})+")
_SAFE_TEXT = re.compile(r"[\x20-\x7e]*")


class Token(enum.StrEnum):
    """The id tokens this codec speaks (encrypted frames add ``*`` in front)."""

    SIA_DCS = "SIA-DCS"
    ADM_CID = "ADM-CID"
    NULL = "NULL"  # supervision / link test
    ACK = "ACK"
    NAK = "NAK"  # rejected; carries the receiver's time for resynchronisation
    DUH = "DUH"  # not understood; the transmitter must not retry

    @property
    def is_event(self) -> bool:
        """True for tokens a transmitter sends (events and supervision)."""
        return self in (Token.SIA_DCS, Token.ADM_CID, Token.NULL)


@dataclass(frozen=True, slots=True)
class ExtendedData:
    """One ``[x...]`` block after the data, e.g. ``H`` time of occurrence, ``I`` alarm text."""

    kind: str  # one character
    value: str


@dataclass(frozen=True, slots=True)
class Message:
    """A decoded (or to-be-encoded) DC-09 message."""

    token: Token
    sequence: int
    account: str | None
    receiver: str | None = None
    prefix: str = "0"
    data: str = ""
    extended: tuple[ExtendedData, ...] = ()
    timestamp: datetime | None = None
    encrypted: bool = False

    @property
    def header(self) -> FrameHeader:
        """The header fields (what a response echoes)."""
        return FrameHeader(
            self.token.value,
            self.encrypted,
            self.sequence,
            self.receiver,
            self.prefix,
            self.account,
        )


@dataclass(frozen=True, slots=True)
class RawFrame:
    """A frame whose envelope, CRC, length and header are valid; content not yet read."""

    header: FrameHeader
    token: Token
    content: str  # everything after the "[" (hex when encrypted)


def format_timestamp(moment: datetime) -> str:
    """``_HH:MM:SS,MM-DD-YYYY`` in UTC."""
    return "_" + moment.astimezone(UTC).strftime(_TIME_FORMAT)


def parse_timestamp(text: str) -> datetime:
    """Read ``_HH:MM:SS,MM-DD-YYYY`` as an aware UTC datetime."""
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        raise BadFormatError(f"timestamp {text[:24]!r} is not _HH:MM:SS,MM-DD-YYYY")
    hour, minute, second, month, day, year = (int(group) for group in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as exc:
        raise BadFormatError(f"timestamp {text!r} is not a valid date/time: {exc}") from exc


def parse_frame(raw: bytes) -> RawFrame:
    """Check the size, envelope, CRC, length and header of one frame."""
    if len(raw) > MAX_FRAME_BYTES:
        raise OversizeFrameError(f"{len(raw)} bytes; a DC-09 frame is at most {MAX_FRAME_BYTES}")
    if len(raw) < 11 or raw[0] != 0x0A or raw[-1] != 0x0D:
        raise BadFramingError("a DC-09 frame starts with <LF> and ends with <CR>")
    crc_field, length_field, body_bytes = raw[1:5], raw[5:9], raw[9:-1]
    if not _HEX_FIELD.fullmatch(crc_field.decode("latin-1")):
        raise BadFormatError(f"CRC field {crc_field!r} is not 4 hex digits")
    if crc16(body_bytes) != int(crc_field, 16):
        raise BadCrcError(f"CRC {crc_field.decode('latin-1')} != computed {crc16(body_bytes):04X}")
    if not _HEX_FIELD.fullmatch(length_field.decode("latin-1")):
        raise BadFormatError(f"length field {length_field!r} is not 4 hex digits")
    if int(length_field, 16) != len(body_bytes):
        raise BadLengthError(
            f"length field says {int(length_field, 16)}, the frame holds {len(body_bytes)}"
        )
    try:
        body = body_bytes.decode("ascii")
    except UnicodeDecodeError as exc:
        raise BadFormatError("a DC-09 frame is ASCII") from exc
    match = _HEADER.match(body)
    if match is None:
        raise BadFormatError(f"unreadable header in {body[:48]!r}")
    account = match["account"].upper() if match["account"] else None
    receiver = match["receiver"].upper() if match["receiver"] else None
    prefix = match["prefix"].upper()
    if match["nak_account"] and match["token"] != Token.NAK.value:
        prefix += "A0"  # "A0" stands in for the account only in a NAK (``"NAK"0000R0L0A0[]``)
    header = FrameHeader(
        match["token"], bool(match["star"]), int(match["seq"]), receiver, prefix, account
    )
    try:
        token = Token(match["token"])
    except ValueError:
        raise UnsupportedIdError(f"id token {match['token']!r} is not supported", header) from None
    return RawFrame(header, token, body[match.end() :])


def _parse_content(
    text: str, header: FrameHeader
) -> tuple[str, tuple[ExtendedData, ...], datetime | None]:
    end = text.find("]")
    if end < 0 or "[" in text[:end]:
        raise BadFormatError("the data block has no closing ']'", header)
    data = text[:end]
    extended: list[ExtendedData] = []
    position = end + 1
    while position < len(text) and text[position] == "[":
        close = text.find("]", position)
        inner = text[position + 1 : close] if close > 0 else ""
        if close < 0 or not inner or "[" in inner:
            raise BadFormatError("malformed extended data block", header)
        extended.append(ExtendedData(inner[0], inner[1:]))
        position = close + 1
    tail = text[position:]
    try:
        timestamp = parse_timestamp(tail) if tail else None
    except BadFormatError as exc:
        raise BadFormatError(str(exc), header) from exc
    return data, tuple(extended), timestamp


def _decrypt_content(content: str, key: bytes | None, header: FrameHeader) -> str:
    if key is None:
        raise DecryptError("encrypted frame but no key for this account", header)
    if not _HEX_TEXT.fullmatch(content):
        raise DecryptError("the encrypted part is not hex blocks of 16 bytes", header)
    plain = crypto.decrypt(bytes.fromhex(content), key)
    try:
        text = plain.decode("ascii")
    except UnicodeDecodeError:
        raise DecryptError("decrypted text is not ASCII (wrong key?)", header) from None
    if not _SAFE_TEXT.fullmatch(text):
        raise DecryptError("decrypted text has control characters (wrong key?)", header)
    bar, bracket = text.find("|"), text.find("]")
    if bar >= 0 and (bracket < 0 or bar < bracket):
        return text[bar + 1 :]  # pad | data ] ...
    if bracket >= 0:
        return text[bracket:]  # pad ] ... (an empty data block, as in ACK or NULL)
    raise DecryptError("no '|' or ']' after the pad (wrong key?)", header)


def open_frame(frame: RawFrame, key: bytes | None = None) -> Message:
    """Decrypt (when needed) and read the data, extended data and timestamp."""
    header = frame.header
    content = frame.content
    if header.encrypted:
        content = _decrypt_content(content, key, header)
    data, extended, timestamp = _parse_content(content, header)
    return Message(
        token=frame.token,
        sequence=header.sequence,
        account=header.account,
        receiver=header.receiver,
        prefix=header.prefix,
        data=data,
        extended=extended,
        timestamp=timestamp,
        encrypted=header.encrypted,
    )


def decode(raw: bytes, key: bytes | None = None) -> Message:
    """Decode one complete frame (``<LF>...<CR>``); raise a :class:`FrameError` subclass."""
    return open_frame(parse_frame(raw), key)


def check_timestamp(
    message: Message,
    now: datetime,
    *,
    required: bool = False,
    future_s: float = WINDOW_FUTURE_S,
    past_s: float = WINDOW_PAST_S,
) -> None:
    """Apply the DC-09 window; encrypted messages must carry a timestamp."""
    if message.timestamp is None:
        if required or message.encrypted:
            raise TimestampError(
                "the message has no timestamp", message.header, "missing_timestamp", None
            )
        return
    skew = (message.timestamp - now).total_seconds()
    if skew > future_s:
        raise TimestampError(
            f"timestamp {skew:.0f} s ahead of the receiver",
            message.header,
            "future_timestamp",
            skew,
        )
    if skew < -past_s:
        raise TimestampError(
            f"timestamp {-skew:.0f} s behind the receiver", message.header, "stale_timestamp", skew
        )


def _check_text(label: str, value: str) -> None:
    if not _SAFE_TEXT.fullmatch(value) or "[" in value or "]" in value:
        raise EncodeError(f"{label} must be printable ASCII without '[' or ']': {value[:32]!r}")


def encode(
    message: Message,
    key: bytes | None = None,
    *,
    pad: Callable[[int], str] = crypto.make_pad,
) -> bytes:
    """Build the frame for ``message`` (encrypting it when ``message.encrypted``)."""
    if not 0 <= message.sequence <= MAX_SEQUENCE:
        raise EncodeError(f"sequence {message.sequence} is not 0-{MAX_SEQUENCE}")
    if message.receiver is not None and not _HEX_ID.fullmatch(message.receiver):
        raise EncodeError(f"receiver {message.receiver!r} is not 1-6 hex digits")
    if not _HEX_ID.fullmatch(message.prefix):
        raise EncodeError(f"account prefix {message.prefix!r} is not 1-6 hex digits")
    if message.account is not None and not _ACCOUNT.fullmatch(message.account):
        raise EncodeError(f"account {message.account!r} is not 3-16 hex digits")
    if message.encrypted and key is None:
        raise EncodeError("an encrypted message needs a key")
    _check_text("data", message.data)
    for block in message.extended:
        if len(block.kind) != 1:
            raise EncodeError(f"extended data kind {block.kind!r} is not one character")
        _check_text("extended data", block.kind + block.value)
    if message.account is not None:
        account_field = f"#{message.account}"
    else:
        account_field = "A0" if message.token is Token.NAK else ""
    header = (
        f'"{"*" if message.encrypted else ""}{message.token.value}"{message.sequence:04d}'
        f"{'R' + message.receiver if message.receiver is not None else ''}"
        f"L{message.prefix}{account_field}["
    )
    content = message.data + "]" + "".join(f"[{x.kind}{x.value}]" for x in message.extended)
    if message.timestamp is not None:
        content += format_timestamp(message.timestamp)
    if message.encrypted:
        assert key is not None  # checked above
        plain = "|" + content
        content = crypto.encrypt(pad(crypto.pad_length(len(plain))) + plain, key)
    body = (header + content).encode("ascii")
    if len(body) > MAX_BODY_CHARS:
        raise EncodeError(
            f"the frame body is {len(body)} characters; DC-09 allows {MAX_BODY_CHARS}"
        )
    return b"\n%04X%04X%s\r" % (crc16(body), len(body), body)
