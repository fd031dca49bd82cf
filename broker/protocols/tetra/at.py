"""The PEI AT dialogue for short data (ETSI EN 300 392-5), as bytes and lines (pure).

Commands the adapter sends:

- ``AT+CTSDS=<AI service>,<called party identity type>[,<area>[,<access
  priority>[,<end to end encryption>]]]``: select the SDS service for the
  following sends; AI service 12 is SDS type 4 carrying SDS-TL.
- ``AT+CMGS=<called party identity>,<length in bits><CR><LF><PDU in hex><Ctrl-Z>``:
  send one SDS; the radio answers ``+CMGS: <SDS instance>[,<SDS status>],<message
  reference>`` and ``OK``, or ``ERROR`` / ``+CME ERROR: <extended error report>``.

Unsolicited lines from the radio:

- ``+CTSDSR: <AI service>,[<calling party identity>,<calling party identity
  type>,]<called party identity>,<called party identity type>,<length in
  bits>[,<end to end encryption>]`` followed by one line with the PDU in hex.

Result lines are framed by CR LF; with echo on (``ATE1``) the radio repeats
the command text, which is recognised and skipped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from broker.protocols.tetra.errors import AtResponseError

CR = b"\r"
CRLF = b"\r\n"
CTRL_Z = b"\x1a"
ESC = b"\x1b"
AI_SERVICE_SDS_TL = 12  # SDS type 4 with SDS-TL
AI_SERVICE_STATUS = 13
MAX_LINE = 4096
MAX_ISSI = 16_777_215  # 24-bit short subscriber identity

_IDENTITY = re.compile(r"^\d{1,15}$")  # an SSI (up to 8 digits) or a TSI (MCC+MNC+SSI)


def service_selection(
    ai_service: int = AI_SERVICE_SDS_TL,
    identity_type: int = 0,
    area: int = 0,
    access_priority: int = 0,
    end_to_end_encryption: int = 0,
) -> bytes:
    """``AT+CTSDS=...`` terminated by CR."""
    fields = (ai_service, identity_type, area, access_priority, end_to_end_encryption)
    return b"AT+CTSDS=" + ",".join(str(f) for f in fields).encode("ascii") + CR


def send_sds(called: str, pdu: bytes) -> bytes:
    """``AT+CMGS=<called>,<bits><CR><LF><HEX><Ctrl-Z>`` for one PDU."""
    if not _IDENTITY.match(called):
        raise ValueError(f"called party identity must be digits, got {called!r}")
    if not pdu:
        raise ValueError("empty PDU")
    head = f"AT+CMGS={called},{len(pdu) * 8}".encode("ascii")
    return head + CRLF + pdu.hex().upper().encode("ascii") + CTRL_Z


def command_line(text: str) -> bytes:
    """A plain command (``ATE0``, ``AT+CTSP=...``) terminated by CR."""
    if any(ord(c) < 32 or ord(c) > 126 for c in text) or not text.upper().startswith("AT"):
        raise ValueError(f"not a printable AT command: {text!r}")
    return text.encode("ascii") + CR


class LineSplitter:
    """Turns the radio's byte stream into lines (CR and/or LF terminated, empty ones dropped).

    Control characters other than CR/LF (a stray Ctrl-Z echo) are removed; a line
    longer than :data:`MAX_LINE` is cut and flagged in :attr:`overflows`.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.overflows = 0

    def feed(self, data: bytes) -> list[str]:
        """Add bytes, return the complete lines."""
        lines: list[str] = []
        for byte in data:
            if byte in (0x0D, 0x0A):
                if self._buffer:
                    lines.append(self._buffer.decode("latin-1"))
                    self._buffer.clear()
            elif byte >= 0x20:
                if len(self._buffer) >= MAX_LINE:
                    self.overflows += 1
                    lines.append(self._buffer.decode("latin-1"))
                    self._buffer.clear()
                self._buffer.append(byte)
        return lines


@dataclass(frozen=True, slots=True)
class Ok:
    """Final result ``OK``."""


@dataclass(frozen=True, slots=True)
class Error:
    """Final result ``ERROR`` (code None) or ``+CME ERROR: <code>``."""

    code: int | None


@dataclass(frozen=True, slots=True)
class CmgsResult:
    """``+CMGS: <SDS instance>[,<SDS status>],<message reference>``."""

    instance: int
    status: int | None
    message_reference: int | None


@dataclass(frozen=True, slots=True)
class SdsHeader:
    """``+CTSDSR:`` header of an incoming SDS (its PDU follows on the next line)."""

    ai_service: int
    calling: str | None
    calling_type: int | None
    called: str
    called_type: int | None
    length_bits: int
    end_to_end_encryption: int | None = None

    @property
    def length_octets(self) -> int:
        """Octets the PDU line must carry."""
        return (self.length_bits + 7) // 8


@dataclass(frozen=True, slots=True)
class Echo:
    """The radio repeating a command we sent (``ATE1``)."""

    text: str


@dataclass(frozen=True, slots=True)
class Other:
    """Any other line (an information response, a PDU hex line)."""

    text: str


Line = Ok | Error | CmgsResult | SdsHeader | Echo | Other


def _ints(text: str, what: str) -> list[int]:
    try:
        return [int(part.strip()) for part in text.split(",")]
    except ValueError as exc:
        raise AtResponseError(f"{what}: expected numbers, got {text!r}") from exc


def parse_ctsdsr(line: str) -> SdsHeader:
    """Parse a ``+CTSDSR:`` line (3, 4, 6 or 7 fields)."""
    fields = [f.strip() for f in line.split(":", 1)[1].split(",")]
    try:
        if len(fields) == 3:
            return SdsHeader(int(fields[0]), None, None, fields[1], None, int(fields[2]))
        if len(fields) == 4:
            return SdsHeader(int(fields[0]), None, None, fields[1], int(fields[2]), int(fields[3]))
        if len(fields) in (6, 7):
            e2ee = int(fields[6]) if len(fields) == 7 else None
            return SdsHeader(
                int(fields[0]),
                fields[1],
                int(fields[2]),
                fields[3],
                int(fields[4]),
                int(fields[5]),
                e2ee,
            )
    except ValueError as exc:
        raise AtResponseError(f"+CTSDSR: non-numeric field in {line!r}") from exc
    raise AtResponseError(f"+CTSDSR: expected 3, 4, 6 or 7 fields, got {len(fields)}")


def _cme(text: str) -> Error:
    codes = _ints(text.split(":", 1)[1], "+CME ERROR")
    if len(codes) != 1:
        raise AtResponseError(f"+CME ERROR: one code expected, got {text!r}")
    return Error(codes[0])


def _cmgs(text: str) -> CmgsResult:
    numbers = _ints(text.split(":", 1)[1], "+CMGS")
    if len(numbers) == 1:
        return CmgsResult(numbers[0], None, None)
    if len(numbers) == 2:
        return CmgsResult(numbers[0], None, numbers[1])
    if len(numbers) == 3:
        return CmgsResult(numbers[0], numbers[1], numbers[2])
    raise AtResponseError(f"+CMGS: 1 to 3 fields expected, got {text!r}")


_PREFIXED: tuple[tuple[str, Callable[[str], Line]], ...] = (
    ("+CME ERROR:", _cme),
    ("+CMGS:", _cmgs),
    ("+CTSDSR:", parse_ctsdsr),
)


def parse_line(line: str) -> Line:
    """Classify one line from the radio."""
    text = line.strip()
    upper = text.upper()
    if upper == "OK":
        return Ok()
    if upper == "ERROR":
        return Error(None)
    for prefix, parser in _PREFIXED:
        if upper.startswith(prefix):
            return parser(text)
    return Echo(text) if upper.startswith("AT") else Other(text)


def parse_pdu_line(line: str, header: SdsHeader) -> bytes:
    """The PDU octets of the line after ``+CTSDSR``, cut to the header's length."""
    text = line.strip()
    if len(text) % 2 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise AtResponseError(f"PDU line is not hex: {text[:40]!r}")
    data = bytes.fromhex(text)
    if len(data) < header.length_octets:
        raise AtResponseError(
            f"PDU line has {len(data)} octets, header announced {header.length_octets}"
        )
    return data[: header.length_octets]
