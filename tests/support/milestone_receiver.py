"""Stand-ins for the XProtect event server, written from Milestone's published formats.

XProtect is proprietary and runs on Windows only, so the tests talk to these
instead. They follow the documentation byte for byte (see docs/milestone.md):

- :class:`GenericEventServer`: a generic-event *data source* over TCP or UDP.
  Records are split on the separator bytes (no separator: each received
  packet is one record); the echo is either all bytes, the statistics line
  ``X,Y,Z,Name`` (request number, characters, matches, event name) or none.
  Generic events match with the documented expression types: *Search*
  (terms, quoted phrases, AND / OR, parentheses), *Match* (the whole record)
  and *Regular expression*; only the highest-priority matches count.
- :class:`AnalyticsEventServer`: the analytics-events HTTP port. It checks the
  ``AnalyticsEvent`` document against the published schema's element order
  and required elements and answers 200, ``200 Warning: Event message not
  known``, 400 (invalid XML) or a forced status.

Both can be stopped and restarted on the same port to take an output away.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, cast

from lxml import etree

NS = "{urn:milestone-systems}"


# --- generic events ---------------------------------------------------------------------


@dataclass(frozen=True)
class GenericEventRule:
    """A generic event as configured in the Management Client."""

    name: str
    expression: str
    expression_type: Literal["search", "match", "regex"] = "search"
    priority: int = 0  # 0 is the highest priority (Milestone: 0 highest, 999999 lowest)


@dataclass(frozen=True)
class ReceivedRecord:
    """One record the data source analysed."""

    raw: bytes
    text: str
    matched: tuple[str, ...]


_TOKEN = re.compile(r'\s*(\(|\)|"[^"]*"|[^\s()"]+)')


def _search(expression: str, text: str) -> bool:
    """Evaluate a *Search* expression (terms, "phrases", AND, OR, parentheses)."""
    tokens = [t for t in _TOKEN.findall(expression) if t]
    position = 0

    def term() -> bool:
        nonlocal position
        token = tokens[position]
        position += 1
        if token == "(":
            value = either()
            position += 1  # ")"
            return value
        return token.strip('"') in text

    def both() -> bool:
        nonlocal position
        value = term()
        while position < len(tokens) and tokens[position].upper() == "AND":
            position += 1
            value = term() and value
        return value

    def either() -> bool:
        nonlocal position
        value = both()
        while position < len(tokens) and tokens[position].upper() == "OR":
            position += 1
            value = both() or value
        return value

    return either()


def matches(rule: GenericEventRule, text: str) -> bool:
    """Whether ``text`` raises the generic event ``rule``."""
    if rule.expression_type == "match":
        return text == rule.expression
    if rule.expression_type == "regex":
        return re.search(rule.expression, text) is not None
    return _search(rule.expression, text)


class GenericEventServer:
    """A generic-event data source on 127.0.0.1 (TCP or UDP)."""

    def __init__(
        self,
        port: int,
        *,
        transport: Literal["tcp", "udp"] = "tcp",
        echo: Literal["statistics", "bytes", "none"] = "statistics",
        separator: bytes = b"\r\n",
        encoding: str = "utf-8",
        rules: tuple[GenericEventRule, ...] = (),
        echo_terminator: bytes | None = None,
    ) -> None:
        self.port = port
        self.echo_terminator = echo_terminator  # None: the separator (CR LF without one)
        self.transport = transport
        self.echo = echo
        self.separator = separator
        self.encoding = encoding
        self.rules = rules
        self.records: list[ReceivedRecord] = []
        self.request_number = 0
        self._server: asyncio.Server | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        """Listen (again) on the port."""
        loop = asyncio.get_running_loop()
        if self.transport == "tcp":
            self._server = await asyncio.start_server(self._session, "127.0.0.1", self.port)
        else:
            self._udp, _ = await loop.create_datagram_endpoint(
                lambda: _Datagrams(self), local_addr=("127.0.0.1", self.port)
            )

    async def stop(self) -> None:
        """Stop listening and drop open sessions."""
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await self._server.wait_closed()
            self._server = None
        if self._udp is not None:
            self._udp.close()
            self._udp = None

    def analyse(self, raw: bytes) -> bytes:
        """Analyse one record and return the echo for it."""
        text = raw.decode(self.encoding, errors="replace")
        hits = [rule for rule in self.rules if matches(rule, text)]
        if hits:
            best = min(rule.priority for rule in hits)
            hits = [rule for rule in hits if rule.priority == best]
        self.request_number += 1
        self.records.append(ReceivedRecord(raw, text, tuple(rule.name for rule in hits)))
        if self.echo == "statistics":
            name = hits[0].name if hits else ""
            line = f"{self.request_number},{len(text)},{len(hits)},{name}"
            terminator = self.echo_terminator
            if terminator is None:
                terminator = self.separator or b"\r\n"
            return line.encode(self.encoding) + terminator
        return b""

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buffer = b""
        self._writers.add(writer)
        try:
            while data := await reader.read(4096):
                if self.echo == "bytes":
                    writer.write(data)
                if not self.separator:
                    writer.write(self.analyse(data))
                else:
                    buffer += data
                    while self.separator in buffer:
                        record, buffer = buffer.split(self.separator, 1)
                        writer.write(self.analyse(record))
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            self._writers.discard(writer)
            writer.close()


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, server: GenericEventServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        records = data.split(self.server.separator) if self.server.separator else [data]
        echo = data if self.server.echo == "bytes" else b""
        for record in records:
            if record:
                echo += self.server.analyse(record)
        if echo and self.transport is not None:
            self.transport.sendto(echo, addr)


# --- analytics events -------------------------------------------------------------------

_GUID = re.compile(r"^[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}$")
_ROOT_ORDER = (
    "EventHeader",
    "Description",
    "StartTime",
    "EndTime",
    "Location",
    "Count",
    "RuleList",
    "ObjectList",
    "ReferenceList",
    "SnapshotList",
    "Vendor",
)
_HEADER_ORDER = (
    "ID",
    "Timestamp",
    "Class",
    "Type",
    "Version",
    "Priority",
    "Name",
    "Message",
    "CustomTag",
    "Source",
)
_SOURCE_ORDER = ("Name", "Description", "FQID")
_FQID_ORDER = ("ServerId", "ParentId", "ObjectId", "ObjectIdString", "FolderType", "Kind")
_OBJECT_ORDER = (
    "ID",
    "Name",
    "Type",
    "Description",
    "Confidence",
    "Value",
    "AlarmTrigger",
    "Removed",
    "Color",
    "Size",
    "SizeUnit",
    "BoundingBox",
    "Polygon",
    "Motion",
    "Mask",
)
_VENDOR_ORDER = ("Name", "CustomData")


class SchemaViolationError(ValueError):
    """The document breaks the published AnalyticsEvent schema."""


def _children(
    element: etree._Element, order: tuple[str, ...], required: tuple[str, ...]
) -> dict[str, etree._Element]:
    seen: dict[str, etree._Element] = {}
    last = -1
    for child in element:
        if isinstance(child, etree._Comment | etree._ProcessingInstruction):
            continue
        if not child.tag.startswith(NS):
            raise SchemaViolationError(f"{child.tag} is not in urn:milestone-systems")
        name = child.tag[len(NS) :]
        if name not in order:
            raise SchemaViolationError(f"unexpected element {name} in {element.tag}")
        index = order.index(name)
        if index <= last:
            raise SchemaViolationError(f"{name} out of order or repeated in {element.tag}")
        last = index
        seen[name] = child
    missing = [name for name in required if name not in seen]
    if missing:
        raise SchemaViolationError(f"{element.tag} lacks {', '.join(missing)}")
    return seen


@dataclass(frozen=True)
class ReceivedAnalyticsEvent:
    """The parts of an accepted AnalyticsEvent the tests look at."""

    id: str
    timestamp: datetime
    type: str
    message: str
    custom_tag: str
    source_name: str | None
    source_object_id: str | None
    description: str
    location: str
    vendor: str
    confidence: float | None
    raw: bytes


def validate_analytics_event(body: bytes) -> ReceivedAnalyticsEvent:
    """Parse and check a document; :class:`SchemaViolationError` when it breaks the schema."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise SchemaViolationError(f"not XML: {exc}") from exc
    if root.tag != f"{NS}AnalyticsEvent":
        raise SchemaViolationError(f"root is {root.tag}")
    parts = _children(root, _ROOT_ORDER, ("EventHeader",))
    header = _children(parts["EventHeader"], _HEADER_ORDER, ("ID", "Timestamp", "Message"))
    if not _GUID.match(header["ID"].text or ""):
        raise SchemaViolationError("EventHeader/ID is not a GUID")
    try:
        timestamp = datetime.fromisoformat((header["Timestamp"].text or "").replace("Z", "+00:00"))
    except ValueError as exc:
        raise SchemaViolationError("EventHeader/Timestamp is not an xs:dateTime") from exc
    name = object_id = None
    if "Source" in header:
        source = _children(header["Source"], _SOURCE_ORDER, ())
        name = source["Name"].text if "Name" in source else None
        if "FQID" in source:
            fqid = _children(source["FQID"], _FQID_ORDER, ("FolderType", "Kind"))
            for key in ("ObjectId", "Kind"):
                if key in fqid and not _GUID.match(fqid[key].text or ""):
                    raise SchemaViolationError(f"FQID/{key} is not a GUID")
            object_id = fqid["ObjectId"].text if "ObjectId" in fqid else None
    confidence = None
    if "ObjectList" in parts:
        for item in parts["ObjectList"]:
            fields = _children(item, _OBJECT_ORDER, ())
            if "Confidence" in fields:
                confidence = float(fields["Confidence"].text or "nan")
    vendor = ""
    if "Vendor" in parts:
        vendor_parts = _children(parts["Vendor"], _VENDOR_ORDER, ())
        vendor = vendor_parts["Name"].text or "" if "Name" in vendor_parts else ""

    def text(key: str, where: dict[str, etree._Element]) -> str:
        return (where[key].text or "") if key in where else ""

    return ReceivedAnalyticsEvent(
        id=header["ID"].text or "",
        timestamp=timestamp,
        type=text("Type", header),
        message=text("Message", header),
        custom_tag=text("CustomTag", header),
        source_name=name,
        source_object_id=object_id,
        description=text("Description", parts),
        location=text("Location", parts),
        vendor=vendor,
        confidence=confidence,
        raw=body,
    )


@dataclass
class AnalyticsEventServer:
    """The event server's analytics port on 127.0.0.1 (plain HTTP/1.1)."""

    port: int
    registered: set[str] = field(default_factory=set)  # analytics event names (Message)
    force_status: int | None = None
    events: list[ReceivedAnalyticsEvent] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self) -> None:
        """Listen (again) on the port."""
        self._server = await asyncio.start_server(self._session, "127.0.0.1", self.port)

    async def stop(self) -> None:
        """Stop listening and drop open connections."""
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await self._server.wait_closed()
            self._server = None

    def answer(self, body: bytes) -> tuple[int, str]:
        """Status and text the event server would send for ``body``."""
        if self.force_status is not None:
            return self.force_status, "forced"
        try:
            event = validate_analytics_event(body)
        except SchemaViolationError as exc:
            self.rejected.append(str(exc))
            return 400, f"Invalid XML: {exc}"
        self.events.append(event)
        if event.message not in self.registered:
            return 200, f"Warning: Event message not known: {event.message}"
        return 200, "OK"

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, _target, _version = lines[0].split(" ", 2)
                headers = {
                    key.strip().lower(): value.strip()
                    for key, _, value in (line.partition(":") for line in lines[1:] if line)
                }
                length = int(headers.get("content-length", "0"))
                body = await reader.readexactly(length)
                if method != "POST":
                    status, text = 405, "Method not allowed"
                elif "xml" not in headers.get("content-type", ""):
                    status, text = 415, "Expected text/xml"
                else:
                    status, text = self.answer(body)
                payload = text.encode("utf-8")
                reason = {200: "OK", 400: "Bad Request"}.get(status, "Status")
                writer.write(
                    f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
                    f"Content-Length: {len(payload)}\r\n\r\n".encode("ascii")
                    + payload
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()


def new_guid() -> uuid.UUID:
    """A random GUID (for camera mappings in tests)."""
    return uuid.uuid4()
