"""XProtect generic events: records and echoes as bytes (pure, no I/O).

The event server reads records from a TCP/UDP *data source* (Management
Client > Tools > Options > Generic Events). Two factory data sources exist:

- **Compatible**: echoes all bytes, TCP and UDP, port 1234, no separator,
  current code page (ANSI).
- **International**: echoes statistics only, TCP only, port 1235, separator
  ``13,10`` (CR LF), UTF-8.

The statistics echo is ``[X],[Y],[Z],[Name of generic event]`` with X the
request number, Y the number of characters, Z the number of matches with a
generic event. A generic event then matches the record text against its
*expression* to raise the event (and, through an alarm definition, an alarm).
See docs/milestone.md for the documentation pages this follows.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from broker.protocols.milestone.errors import EchoFormatError, RecordTooLongError
from broker.protocols.milestone.template import clean_text

MAX_ECHO_BYTES = 4096


class DataSourceStyle(enum.StrEnum):
    """The two factory data-source styles of the event server."""

    COMPATIBLE = "compatible"
    INTERNATIONAL = "international"


class EchoMode(enum.StrEnum):
    """The data source's *Echo type*."""

    STATISTICS = "statistics"  # "Echo statistics"
    BYTES = "bytes"  # "Echo all bytes"
    NONE = "none"  # "No echo"


@dataclass(frozen=True, slots=True)
class StyleDefaults:
    """Factory settings of a data-source style."""

    port: int
    echo: EchoMode
    separator: bytes
    encoding: str


STYLE_DEFAULTS: dict[DataSourceStyle, StyleDefaults] = {
    DataSourceStyle.COMPATIBLE: StyleDefaults(1234, EchoMode.BYTES, b"", "cp1252"),
    DataSourceStyle.INTERNATIONAL: StyleDefaults(1235, EchoMode.STATISTICS, b"\r\n", "utf-8"),
}


@dataclass(frozen=True, slots=True)
class GenericRecord:
    """One record ready to send: its text and its bytes including the separator."""

    text: str
    payload: bytes
    separator: bytes

    @property
    def body(self) -> bytes:
        """The payload without its separator."""
        return self.payload[: len(self.payload) - len(self.separator)]


def separator_chars(separator: bytes, encoding: str) -> str:
    """Characters a field value may not contain: those of the separator bytes."""
    return separator.decode(encoding, errors="ignore") if separator else ""


def encode_record(text: str, *, encoding: str, separator: bytes, max_chars: int) -> GenericRecord:
    """Encode one record; characters the encoding lacks become ``?``.

    Raises :class:`RecordTooLongError` when ``text`` is longer than ``max_chars``
    (templates are rendered and trimmed before this, so it means a bad config).
    """
    line = clean_text(text, separator_chars(separator, encoding))
    if not line:
        raise RecordTooLongError("the record is empty after sanitising")
    if len(line) > max_chars:
        raise RecordTooLongError(f"record of {len(line)} characters exceeds {max_chars}")
    body = line.encode(encoding, errors="replace")
    return GenericRecord(text=line, payload=body + separator, separator=separator)


def fit(text: str, max_chars: int, keep_tail: str = "") -> str:
    """Shorten ``text`` to ``max_chars`` with an ellipsis, keeping ``keep_tail`` visible."""
    if len(text) <= max_chars:
        return text
    tail = f"... {keep_tail}" if keep_tail and keep_tail not in text[: max_chars - 4] else "..."
    return text[: max(0, max_chars - len(tail))].rstrip() + tail


@dataclass(frozen=True, slots=True)
class EchoStatistics:
    """The event server's ``X,Y,Z,Name`` echo for one record."""

    request_number: int
    characters: int
    matches: int
    event_name: str


def parse_statistics(data: bytes, encoding: str = "utf-8") -> EchoStatistics:
    """Parse one statistics echo line (trailing CR/LF optional)."""
    if len(data) > MAX_ECHO_BYTES:
        raise EchoFormatError(f"echo of {len(data)} bytes is too long")
    try:
        line = data.decode(encoding).rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise EchoFormatError(f"echo is not {encoding}: {exc}") from exc
    parts = line.split(",", 3)
    if len(parts) != 4:
        raise EchoFormatError(f"expected 'X,Y,Z,Name', got {line!r}")
    numbers: list[int] = []
    for part in parts[:3]:
        stripped = part.strip()
        if not stripped.isdigit() or not stripped.isascii():
            raise EchoFormatError(f"expected a number, got {part!r} in {line!r}")
        numbers.append(int(stripped))
    return EchoStatistics(numbers[0], numbers[1], numbers[2], parts[3].strip())


def plausible_length(stats: EchoStatistics, record: GenericRecord) -> bool:
    """Whether Y counts this record.

    The documentation says "number of characters" without saying whether the
    separator counts or whether bytes are meant; any of those readings is
    accepted, anything else means the server saw a different record.
    """
    candidates = {len(record.text), len(record.body)}
    candidates |= {n + len(record.separator) for n in tuple(candidates)}
    return stats.characters in candidates
