"""Alert texts for handsets and the replies officers send back (pure).

Outbound: one line from a template, e.g.
``FIGHT HIGH cam3 Oslo-centre 14:02 #a1b2c3 reply ACK a1b2c3/FALSE a1b2c3``,
encoded ISO 8859-1 (one octet per character).

Length rule: one SDS-TL text carries at most ``max_chars`` characters
(default 160; the air interface allows 251 at 8 bits per character). A longer
alert is either

- ``split``: sent as numbered parts ``1/2 ...``, ``2/2 ...`` of at most
  ``max_chars`` each, cut at spaces, each part ending with ``#<short id>`` so
  every part can be answered on its own; more than ``max_parts`` parts and the
  last one is truncated; or
- ``truncate``: cut and ended with ``... #<short id>``.

Either way the incident's short id always reaches the handset.

Inbound: ``ACK <id>``, ``FALSE <id>`` or ``CONFIRM <id>`` (any case, an
optional ``#`` before the id, surrounding spaces ignored).
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from typing import Literal

from events import ActionKind

ELLIPSIS = "..."
_REPLY = re.compile(r"^\s*(ACK|FALSE|CONFIRM)\s*[:#]?\s*#?([A-Za-z0-9_-]{4,64})\s*$", re.IGNORECASE)
_ACTIONS = {
    "ACK": ActionKind.ACKNOWLEDGE,
    "FALSE": ActionKind.DISMISS,
    "CONFIRM": ActionKind.CONFIRM,
}


def to_latin1(text: str) -> str:
    """``text`` as it will arrive in ISO 8859-1 (characters it lacks become ``?``)."""
    return text.encode("latin-1", errors="replace").decode("latin-1")


def fit_text(
    text: str,
    short_id: str,
    *,
    max_chars: int,
    mode: Literal["split", "truncate"] = "split",
    max_parts: int = 3,
) -> list[str]:
    """Apply the length rule; every returned text is at most ``max_chars`` long."""
    tag = f"#{short_id}"
    if max_chars < len(tag) + 12:
        raise ValueError(f"max_chars {max_chars} leaves no room for text and {tag}")
    if len(text) <= max_chars:
        return [text]
    if mode == "truncate":
        return [_truncate(text, tag, max_chars)]
    return _split(text, tag, max_chars, max_parts)


def _truncate(text: str, tag: str, max_chars: int) -> str:
    suffix = f"{ELLIPSIS} {tag}"
    return text[: max_chars - len(suffix)].rstrip() + suffix


def _split(text: str, tag: str, max_chars: int, max_parts: int) -> list[str]:
    count = 2
    while True:
        prefix_len = len(f"{count}/{count} ")
        width = max_chars - prefix_len - len(tag) - 1
        chunks = textwrap.wrap(text, width=width, break_long_words=True, break_on_hyphens=False)
        if len(chunks) <= count:
            break
        count = len(chunks)
    if len(chunks) > max_parts:
        rest = " ".join(chunks[max_parts - 1 :])
        chunks = [*chunks[: max_parts - 1], rest[: width - len(ELLIPSIS)].rstrip() + ELLIPSIS]
    total = len(chunks)
    parts = []
    for number, chunk in enumerate(chunks, 1):
        body = chunk if chunk.endswith(tag) else f"{chunk} {tag}"
        parts.append(f"{number}/{total} {body}")
    return parts


@dataclass(frozen=True, slots=True)
class Reply:
    """An officer's answer to an alert."""

    action: ActionKind
    alert_ref: str


def parse_reply(text: str) -> Reply | None:
    """The reply in ``text``, or None when it is not ``ACK|FALSE|CONFIRM <id>``."""
    match = _REPLY.match(text)
    if match is None:
        return None
    return Reply(_ACTIONS[match.group(1).upper()], match.group(2))
