"""The data block inside a DC-09 frame: SIA-DCS (DC-03/DC-07) and Contact ID.

SIA-DCS data looks like ``#1234|Nri1/BA001`` (account, "N" new event, area
modifier ``ri1``, event code ``BA``, zone ``001``); modifiers (two lower-case
letters: ``ri`` area, ``id`` user, ``ti`` time, ...) apply to the events that
follow them, an event may carry ``^text^``, and ``|A<text>`` adds free text.
Contact ID (ADM-CID) data looks like ``#1234|1130 01 015``: qualifier (1 new
event, 3 restore, 6 previously reported and still present), event code, group
(partition) and zone or user. Both are pure: strings in, frozen values out.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from broker.protocols.dc09.errors import BadFormatError, Dc09ConfigError

_ACCOUNT_PREFIX = re.compile(r"#(?P<account>[0-9A-Fa-f]{3,16})\|")
_MODIFIER = re.compile(r"(?P<name>[a-z]{2})(?P<value>\d{1,2}:\d{2}(?::\d{2})?|\d*)")
_EVENT = re.compile(r"(?P<code>[A-Z]{2})(?P<address>\d*)(?:\^(?P<text>[^^]*)\^)?(?P<rest>.*)")
_CID = re.compile(
    r"(?P<qualifier>\d)(?P<code>[0-9A-F]{3}) ?(?P<group>[0-9A-F]{2}) ?(?P<zone>[0-9A-F]{3})"
)
_SIA_CODE = re.compile(r"[A-Z]{2}")
_TEXT_FORBIDDEN = re.compile(r"[^\x20-\x7e]|[\[\]|^]")


class CidQualifier(enum.IntEnum):
    """Contact ID event qualifier."""

    NEW = 1  # new event or opening
    RESTORE = 3  # restore or closing
    STATUS = 6  # previously reported condition still present


@dataclass(frozen=True, slots=True)
class SiaEvent:
    """One event of a SIA-DCS block, with the modifiers in force when it came."""

    code: str  # two letters, e.g. "BA"
    address: str = ""  # zone, user or area number as sent (digits)
    area: str | None = None  # "ri" modifier
    user: str | None = None  # "id" modifier
    text: str | None = None  # ^text^ after the event


@dataclass(frozen=True, slots=True)
class SiaData:
    """A decoded SIA-DCS data block."""

    account: str | None
    events: tuple[SiaEvent, ...]
    text: str | None = None  # the "|A" free-text part


@dataclass(frozen=True, slots=True)
class ContactIdData:
    """A decoded Contact ID data block."""

    account: str | None
    qualifier: CidQualifier
    code: str  # three digits, e.g. "130"
    group: str  # two digits (partition)
    zone: str  # three digits (zone or user)


def _split_account(data: str) -> tuple[str | None, str]:
    match = _ACCOUNT_PREFIX.match(data)
    if match is None:
        return None, data.removeprefix("|")
    return match["account"].upper(), data[match.end() :]


def parse_sia_data(data: str) -> SiaData:
    """Decode a SIA-DCS data block; an empty block decodes to no events."""
    account, rest = _split_account(data)
    text: str | None = None
    if "|A" in rest:
        rest, _, text = rest.partition("|A")
    if not rest:
        return SiaData(account, (), text)
    if not rest.startswith("N"):
        raise BadFormatError(f"SIA-DCS data must start with 'N', got {rest[:16]!r}")
    events: list[SiaEvent] = []
    area: str | None = None
    user: str | None = None
    for element in rest[1:].split("/"):
        position = 0
        while (modifier := _MODIFIER.match(element, position)) and modifier.end() > position:
            if modifier["name"] == "ri":
                area = modifier["value"]
            elif modifier["name"] == "id":
                user = modifier["value"]
            position = modifier.end()
        if position == len(element):
            continue  # only modifiers: they apply to the events that follow
        event = _EVENT.fullmatch(element, position)
        if event is None:
            raise BadFormatError(f"unreadable SIA-DCS element {element[:32]!r}")
        text_part = event["text"] if event["text"] is not None else (event["rest"] or None)
        events.append(SiaEvent(event["code"], event["address"], area, user, text_part))
    if not events and text is None:
        raise BadFormatError("SIA-DCS data holds modifiers but no event")
    return SiaData(account, tuple(events), text)


def parse_cid_data(data: str) -> ContactIdData:
    """Decode a Contact ID data block (``[#acct|]QEEE GG ZZZ``)."""
    account, rest = _split_account(data)
    match = _CID.fullmatch(rest)
    if match is None:
        raise BadFormatError(f"Contact ID data must be 'QEEE GG ZZZ', got {rest[:32]!r}")
    try:
        qualifier = CidQualifier(int(match["qualifier"]))
    except ValueError as exc:
        raise BadFormatError(f"Contact ID qualifier {match['qualifier']} is not 1, 3 or 6") from exc
    return ContactIdData(account, qualifier, match["code"], match["group"], match["zone"])


def clean_text(text: str, limit: int = 64) -> str:
    """Make free text safe inside a data block (printable ASCII, no delimiters)."""
    return _TEXT_FORBIDDEN.sub(" ", text).strip()[:limit]


def build_sia_data(account: str, code: str, zone: int, area: int | None = None) -> str:
    """Build ``#acct|Nri<area>/<code><zone>`` (the zone as three digits)."""
    if not _SIA_CODE.fullmatch(code):
        raise Dc09ConfigError(f"a SIA event code is two capital letters, not {code!r}")
    if not 0 <= zone <= 999:
        raise Dc09ConfigError(f"zone {zone} is not 0-999")
    modifier = f"ri{area}/" if area is not None else ""
    return f"#{account}|N{modifier}{code}{zone:03d}"


def build_cid_data(account: str, qualifier: CidQualifier, code: int, group: int, zone: int) -> str:
    """Build ``#acct|QEEE GG ZZZ``."""
    if not (0 <= code <= 999 and 0 <= group <= 99 and 0 <= zone <= 999):
        raise Dc09ConfigError(f"Contact ID fields out of range: {code} {group} {zone}")
    return f"#{account}|{int(qualifier)}{code:03d} {group:02d} {zone:03d}"
