"""An Atom 1.0 (RFC 4287) index of CAP messages, as CAP feeds publish them (pure; no I/O).

Each entry is one incident's latest message: its id and alternate link are
the URL of the CAP document (``application/cap+xml``), its title the
headline, its summary the description, its updated time the CAP ``sent``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from lxml import etree

from broker.protocols.cap.store import StoredMessage

ATOM = "http://www.w3.org/2005/Atom"
_A = f"{{{ATOM}}}"
CAP_MIME = "application/cap+xml"


def atom_time(value: datetime) -> str:
    """RFC 3339 in UTC with ``Z`` (Atom's date construct)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def message_url(base_url: str, identifier: str) -> str:
    """Where the feed serves one CAP message."""
    return f"{base_url}/alerts/{identifier}.xml"


def _add(parent: etree._Element, name: str, text: str | None = None, **attrs: str) -> None:
    element = etree.SubElement(parent, _A + name, attrs)
    if text is not None:
        element.text = text


def render_feed(
    messages: Sequence[StoredMessage], *, base_url: str, title: str, author: str, now: datetime
) -> bytes:
    """The Atom feed listing ``messages`` (newest first as given)."""
    feed = etree.fromstring(f'<feed xmlns="{ATOM}"/>')
    feed_url = f"{base_url}/feed.atom"
    _add(feed, "id", feed_url)
    _add(feed, "title", title)
    updated = max((m.sent for m in messages), default=now)
    _add(feed, "updated", atom_time(updated))
    author_element = etree.SubElement(feed, _A + "author")
    _add(author_element, "name", author)
    _add(feed, "link", rel="self", href=feed_url, type="application/atom+xml")
    for message in messages:
        url = message_url(base_url, message.identifier)
        entry = etree.SubElement(feed, _A + "entry")
        _add(entry, "id", url)
        _add(entry, "title", message.headline or message.identifier)
        _add(entry, "updated", atom_time(message.sent))
        _add(entry, "link", rel="alternate", href=url, type=CAP_MIME)
        _add(entry, "summary", message.summary)
    return bytes(etree.tostring(feed, xml_declaration=True, encoding="UTF-8"))
