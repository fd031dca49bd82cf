"""Errors of the SIA DC-09 codec and transports.

Dc09Error                      base; ``reason`` is the Prometheus label
├── FrameError                 an inbound frame was rejected (``frame`` holds what was parsed)
│   ├── OversizeFrameError     longer than a DC-09 frame can be ("oversize")
│   ├── BadFramingError        no <LF> ... <CR> envelope ("bad_framing")
│   ├── BadCrcError            CRC-16 mismatch ("bad_crc")
│   ├── BadLengthError         the 0LLL field disagrees with the frame ("bad_length")
│   ├── BadFormatError         the header, data or timestamp is malformed ("bad_format")
│   ├── UnsupportedIdError     an id token this codec does not speak ("unsupported_id")
│   ├── UnknownAccountError    no configured account ("unknown_account")
│   ├── EncryptionRequiredError plain frame for an account that has a key ("encryption_required")
│   ├── DecryptError           no key, a wrong key or broken ciphertext ("decrypt_failed")
│   └── TimestampError         outside the window ("stale_timestamp", "future_timestamp",
│                              "missing_timestamp"); ``skew_s`` says by how much
├── EncodeError                a message that cannot be framed (too long, bad characters)
└── Dc09ConfigError            an invalid key, account or code mapping
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FrameHeader:
    """The header fields of a frame, as far as they could be read (used to answer it)."""

    token: str
    encrypted: bool
    sequence: int
    receiver: str | None
    prefix: str
    account: str | None


class Dc09Error(Exception):
    """Base of every DC-09 error; ``reason`` is a short metric label."""

    reason = "error"


class Dc09ConfigError(Dc09Error, ValueError):
    """A DC-09 setting is invalid (key length, account digits, event code)."""

    reason = "config"


class EncodeError(Dc09Error, ValueError):
    """A message cannot be turned into a frame (too long, characters not allowed)."""

    reason = "encode"


class FrameError(Dc09Error):
    """An inbound frame was rejected; ``frame`` is its header when it could be read."""

    reason = "bad_format"

    def __init__(self, message: str, frame: FrameHeader | None = None) -> None:
        super().__init__(message)
        self.frame = frame


class OversizeFrameError(FrameError):
    """The input is longer than the largest possible DC-09 frame."""

    reason = "oversize"


class BadFramingError(FrameError):
    """The frame does not start with <LF> and end with <CR>."""

    reason = "bad_framing"


class BadCrcError(FrameError):
    """The CRC-16 in the frame does not match its content."""

    reason = "bad_crc"


class BadLengthError(FrameError):
    """The length field does not match the number of characters sent."""

    reason = "bad_length"


class BadFormatError(FrameError):
    """The header, the data block, extended data or the timestamp is malformed."""

    reason = "bad_format"


class UnsupportedIdError(FrameError):
    """The id token is not one this codec speaks (or not valid in this direction)."""

    reason = "unsupported_id"


class UnknownAccountError(FrameError):
    """The account is not configured on this receiver."""

    reason = "unknown_account"


class EncryptionRequiredError(FrameError):
    """A plain frame arrived for an account that is configured with a key."""

    reason = "encryption_required"


class DecryptError(FrameError):
    """The encrypted part could not be decrypted into a valid DC-09 body."""

    reason = "decrypt_failed"


class TimestampError(FrameError):
    """The frame's timestamp is outside the accepted window (or absent where required)."""

    def __init__(
        self, message: str, frame: FrameHeader | None, reason: str, skew_s: float | None
    ) -> None:
        super().__init__(message, frame)
        self.reason = reason
        self.skew_s = skew_s
