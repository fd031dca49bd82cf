"""Pure receiver logic: what to answer to a frame, and which events it carries.

:func:`judge` takes one frame and the configured accounts and returns a
:class:`Verdict`: the answer to send (or none), the rejection reason (or none)
and the accepted message. How a receiver answers (ANSI/SIA DC-09, receiver
acknowledgement rules):

* bad CRC, wrong length, broken envelope, oversize: no answer at all. A
  receiver acknowledges only a message whose CRC checks; the transmitter's
  acknowledgement timeout then makes it send the message again.
* timestamp outside the window (+20 s / -40 s), or missing where required:
  NAK carrying the receiver's time (``"NAK"0000R0L0A0[]_HH:MM:SS,MM-DD-YYYY``),
  so the transmitter can correct its clock and resend.
* a frame the receiver cannot use (unknown account, unsupported id token,
  undecryptable, plain frame for an account that has a key, malformed data):
  DUH, echoing what could be read of the header; the transmitter must not
  retry it.
* otherwise ACK echoing sequence, receiver, prefix and account; encrypted
  (with our timestamp inside) when the message was encrypted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from broker.protocols.dc09 import codec
from broker.protocols.dc09.codec import Message, Token
from broker.protocols.dc09.errors import (
    BadFormatError,
    DecryptError,
    EncryptionRequiredError,
    FrameError,
    FrameHeader,
    TimestampError,
    UnknownAccountError,
    UnsupportedIdError,
)
from broker.protocols.dc09.payload import ContactIdData, SiaData, parse_cid_data, parse_sia_data

SILENT_REASONS = frozenset({"oversize", "bad_framing", "bad_crc", "bad_length"})


@dataclass(frozen=True, slots=True)
class Account:
    """A configured account as the receiver needs it."""

    account: str
    key: bytes | None


@dataclass(frozen=True, slots=True)
class Window:
    """The timestamp acceptance rules."""

    future_s: float = codec.WINDOW_FUTURE_S
    past_s: float = codec.WINDOW_PAST_S
    required: bool = False


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of one inbound frame."""

    answer: bytes | None  # the frame to send back; None: stay silent
    reason: str | None = None  # rejection reason (metric label); None when accepted
    message: Message | None = None
    account: Account | None = None
    payload: SiaData | ContactIdData | None = None  # decoded data block of an event
    detail: str = ""


def nak(now: datetime) -> bytes:
    """The NAK frame with the receiver's time."""
    return codec.encode(Message(Token.NAK, 0, None, "0", "0", timestamp=now))


def duh(header: FrameHeader | None) -> bytes:
    """The DUH frame echoing ``header`` (or a zero header when unreadable)."""
    if header is None:
        return codec.encode(Message(Token.DUH, 0, None, "0", "0"))
    return codec.encode(
        Message(Token.DUH, header.sequence, header.account, header.receiver, header.prefix)
    )


def ack(message: Message, key: bytes | None, now: datetime) -> bytes:
    """The ACK for ``message``; encrypted, with our time inside, when it was encrypted."""
    return codec.encode(
        Message(
            Token.ACK,
            message.sequence,
            message.account,
            message.receiver,
            message.prefix,
            timestamp=now if message.encrypted else None,
            encrypted=message.encrypted,
        ),
        key,
    )


def _data_account(frame: codec.RawFrame) -> str | None:
    if frame.header.encrypted or not frame.content.startswith("#"):
        return None
    end = frame.content.find("|")
    return frame.content[1:end].upper() if end > 0 else None


def _reject(error: FrameError, now: datetime) -> Verdict:
    if error.reason in SILENT_REASONS:
        return Verdict(None, error.reason, detail=str(error))
    if isinstance(error, TimestampError):
        return Verdict(nak(now), error.reason, detail=str(error))
    if (
        isinstance(error, UnsupportedIdError)
        and error.frame is not None
        and error.frame.token in {"ACK", "NAK", "DUH", "RSP"}
    ):
        return Verdict(None, error.reason, detail=str(error))  # never answer an answer
    return Verdict(duh(error.frame), error.reason, detail=str(error))


def judge(
    raw: bytes, accounts: Mapping[str, Account], now: datetime, window: Window = Window()
) -> Verdict:
    """Decide the answer to one frame and decode what it carries."""
    try:
        frame = codec.parse_frame(raw)
        if not frame.token.is_event:
            raise UnsupportedIdError(
                f"{frame.token.value} is an answer, not a message", frame.header
            )
        number = frame.header.account or _data_account(frame)
        account = accounts.get(number or "")
        if account is None:
            raise UnknownAccountError(f"account {number!r} is not configured", frame.header)
        if account.key is not None and not frame.header.encrypted:
            raise EncryptionRequiredError(f"account {number} must encrypt", frame.header)
        if account.key is None and frame.header.encrypted:
            raise DecryptError(f"account {number} has no key configured", frame.header)
        message = codec.open_frame(frame, account.key)
        if message.account is None:
            message = replace(message, account=account.account)
        codec.check_timestamp(
            message, now, required=window.required, future_s=window.future_s, past_s=window.past_s
        )
        payload = _payload(message)
    except FrameError as error:
        return _reject(error, now)
    return Verdict(ack(message, account.key, now), None, message, account, payload)


def _payload(message: Message) -> SiaData | ContactIdData | None:
    try:
        if message.token is Token.SIA_DCS:
            return parse_sia_data(message.data)
        if message.token is Token.ADM_CID:
            return parse_cid_data(message.data)
    except BadFormatError as exc:
        raise BadFormatError(str(exc), message.header) from exc
    return None
