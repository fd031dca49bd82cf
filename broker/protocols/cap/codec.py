"""CAP 1.2 XML: :func:`encode_alert` (``Alert`` -> bytes) and :func:`decode_alert` (bytes -> ``Alert``).

Pure functions, no I/O. The decoder refuses oversize input, DTDs and entity
tricks, runs the spec checker (:mod:`broker.protocols.cap.spec`) and raises
:class:`CapFormatError` with a reason label and the list of problems. The
encoder writes elements in the spec's order and runs the same checker on its
own output, so a malformed message never leaves the adapter.
"""

from __future__ import annotations

import math
import re
from datetime import datetime

from lxml import etree

from broker.protocols.cap.errors import CapEncodeError, CapFormatError
from broker.protocols.cap.model import (
    NAMESPACE,
    Alert,
    Area,
    CapSeverity,
    Category,
    Certainty,
    Circle,
    Info,
    MsgType,
    Point,
    Reference,
    Resource,
    ResponseType,
    Scope,
    Status,
    Urgency,
    ValuePair,
)
from broker.protocols.cap.spec import CIRCLE, DATETIME, PAIR, check_document

MAX_DOCUMENT_BYTES = 512 * 1024
_NS = f"{{{NAMESPACE}}}"
# characters XML 1.0 cannot carry at all
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def format_time(value: datetime) -> str:
    """A CAP dateTime: whole seconds, an explicit offset, UTC written as ``-00:00``."""
    offset = value.utcoffset()
    if offset is None:
        raise CapEncodeError("CAP times need a timezone")
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes <= 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{value.replace(tzinfo=None):%Y-%m-%dT%H:%M:%S}{sign}{hours:02d}:{mins:02d}"


def parse_time(text: str) -> datetime:
    """Parse a CAP dateTime (``-00:00`` means UTC); raises ValueError when malformed."""
    text = text.strip()
    if not DATETIME.match(text):
        raise ValueError(f"{text!r} is not a CAP dateTime")
    return datetime.fromisoformat(text)


def _number(value: float) -> str:
    if not math.isfinite(value):
        raise CapEncodeError("coordinates and numbers must be finite")
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in {"-0", ""} else text


def format_point(point: Point) -> str:
    """``lat,lon`` with up to six decimals (about 0.1 m)."""
    return f"{_number(point.lat)},{_number(point.lon)}"


def format_circle(circle: Circle) -> str:
    """``lat,lon radius``."""
    return f"{format_point(circle.centre)} {_number(circle.radius_km)}"


def format_polygon(points: tuple[Point, ...]) -> str:
    """Space-separated ``lat,lon`` pairs."""
    return " ".join(format_point(p) for p in points)


def format_references(references: tuple[Reference, ...]) -> str:
    """Space-separated ``sender,identifier,sent`` triples."""
    return " ".join(f"{r.sender},{r.identifier},{format_time(r.sent)}" for r in references)


# -- encoding -----------------------------------------------------------------------------


def _add(parent: etree._Element, name: str, text: str | None) -> None:
    if text is None:
        return
    if NOT_XML.search(text):
        raise CapEncodeError(f"<{name}> holds characters XML cannot carry")
    etree.SubElement(parent, _NS + name).text = text


def _add_pairs(parent: etree._Element, name: str, pairs: tuple[ValuePair, ...]) -> None:
    for pair in pairs:
        element = etree.SubElement(parent, _NS + name)
        _add(element, "valueName", pair.name)
        _add(element, "value", pair.value)


def _add_info(root: etree._Element, info: Info) -> None:
    element = etree.SubElement(root, _NS + "info")
    _add(element, "language", info.language)
    for category in info.categories:
        _add(element, "category", category.value)
    _add(element, "event", info.event)
    for response in info.response_types:
        _add(element, "responseType", response.value)
    _add(element, "urgency", info.urgency.value)
    _add(element, "severity", info.severity.value)
    _add(element, "certainty", info.certainty.value)
    _add(element, "audience", info.audience)
    _add_pairs(element, "eventCode", info.event_codes)
    for name, value in (
        ("effective", info.effective),
        ("onset", info.onset),
        ("expires", info.expires),
    ):
        _add(element, name, None if value is None else format_time(value))
    for name, text in (
        ("senderName", info.sender_name), ("headline", info.headline),
        ("description", info.description), ("instruction", info.instruction),
        ("web", info.web), ("contact", info.contact),
    ):  # fmt: skip
        _add(element, name, text)
    _add_pairs(element, "parameter", info.parameters)
    for resource in info.resources:
        _add_resource(element, resource)
    for area in info.areas:
        _add_area(element, area)


def _add_resource(parent: etree._Element, resource: Resource) -> None:
    element = etree.SubElement(parent, _NS + "resource")
    _add(element, "resourceDesc", resource.description)
    _add(element, "mimeType", resource.mime_type)
    _add(element, "size", None if resource.size is None else str(resource.size))
    _add(element, "uri", resource.uri)
    _add(element, "derefUri", resource.deref_uri)
    _add(element, "digest", resource.digest)


def _add_area(parent: etree._Element, area: Area) -> None:
    element = etree.SubElement(parent, _NS + "area")
    _add(element, "areaDesc", area.description)
    for polygon in area.polygons:
        _add(element, "polygon", format_polygon(polygon))
    for circle in area.circles:
        _add(element, "circle", format_circle(circle))
    _add_pairs(element, "geocode", area.geocodes)
    _add(element, "altitude", None if area.altitude is None else _number(area.altitude))
    _add(element, "ceiling", None if area.ceiling is None else _number(area.ceiling))


def build_tree(alert: Alert) -> etree._Element:
    """The ``<alert>`` element for ``alert`` (not yet checked)."""
    root = etree.fromstring(f'<alert xmlns="{NAMESPACE}"/>')
    _add(root, "identifier", alert.identifier)
    _add(root, "sender", alert.sender)
    _add(root, "sent", format_time(alert.sent))
    _add(root, "status", alert.status.value)
    _add(root, "msgType", alert.msg_type.value)
    _add(root, "source", alert.source)
    _add(root, "scope", alert.scope.value)
    _add(root, "restriction", alert.restriction)
    _add(root, "addresses", alert.addresses)
    for code in alert.codes:
        _add(root, "code", code)
    _add(root, "note", alert.note)
    _add(root, "references", format_references(alert.references) if alert.references else None)
    _add(root, "incidents", alert.incidents)
    for info in alert.infos:
        _add_info(root, info)
    return root


def encode_alert(alert: Alert) -> bytes:
    """UTF-8 XML of ``alert``; :class:`CapEncodeError` when it would not be valid CAP 1.2."""
    root = build_tree(alert)
    problems = check_document(root)
    if problems:
        raise CapEncodeError("not valid CAP 1.2: " + "; ".join(problems[:5]))
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


# -- decoding -----------------------------------------------------------------------------


def parse_document(data: bytes) -> etree._Element:
    """Parse untrusted XML safely (no DTD, no entities, no network, bounded size)."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise CapFormatError("oversize", [f"{len(data)} bytes > {MAX_DOCUMENT_BYTES}"])
    if b"<!DOCTYPE" in data:
        raise CapFormatError("doctype", ["a DOCTYPE is not allowed in CAP"])
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise CapFormatError("not_xml", [str(exc)]) from exc
    if root.getroottree().docinfo.internalDTD is not None:  # e.g. a UTF-16 document
        raise CapFormatError("doctype", ["a DOCTYPE is not allowed in CAP"])
    return root


def _text(element: etree._Element, name: str) -> str | None:
    child = element.find(_NS + name)
    return None if child is None else (child.text or "").strip()


def _texts(element: etree._Element, name: str) -> list[str]:
    return [(child.text or "").strip() for child in element.iterfind(_NS + name)]


def _required(element: etree._Element, name: str) -> str:
    value = _text(element, name)
    assert value is not None  # the checker ran first
    return value


def _time(element: etree._Element, name: str) -> datetime | None:
    text = _text(element, name)
    return None if text is None else parse_time(text)


def _pairs(element: etree._Element, name: str) -> tuple[ValuePair, ...]:
    return tuple(
        ValuePair(_required(child, "valueName"), _required(child, "value"))
        for child in element.iterfind(_NS + name)
    )


def _point(text: str) -> Point:
    match = PAIR.match(text)
    assert match is not None
    return Point(float(match[1]), float(match[2]))


def _float(text: str | None) -> float | None:
    return None if text is None else float(text)


def _area(element: etree._Element) -> Area:
    circles = []
    for text in _texts(element, "circle"):
        match = CIRCLE.match(text)
        assert match is not None
        circles.append(Circle(Point(float(match[1]), float(match[2])), float(match[3])))
    return Area(
        description=_required(element, "areaDesc"),
        polygons=tuple(tuple(_point(p) for p in t.split()) for t in _texts(element, "polygon")),
        circles=tuple(circles),
        geocodes=_pairs(element, "geocode"),
        altitude=_float(_text(element, "altitude")),
        ceiling=_float(_text(element, "ceiling")),
    )


def _resource(element: etree._Element) -> Resource:
    size = _text(element, "size")
    return Resource(
        description=_required(element, "resourceDesc"),
        mime_type=_required(element, "mimeType"),
        size=None if size is None else int(size),
        uri=_text(element, "uri"),
        deref_uri=_text(element, "derefUri"),
        digest=_text(element, "digest"),
    )


def _info(element: etree._Element) -> Info:
    return Info(
        language=_text(element, "language"),
        categories=tuple(Category(t) for t in _texts(element, "category")),
        event=_required(element, "event"),
        response_types=tuple(ResponseType(t) for t in _texts(element, "responseType")),
        urgency=Urgency(_required(element, "urgency")),
        severity=CapSeverity(_required(element, "severity")),
        certainty=Certainty(_required(element, "certainty")),
        audience=_text(element, "audience"),
        event_codes=_pairs(element, "eventCode"),
        effective=_time(element, "effective"),
        onset=_time(element, "onset"),
        expires=_time(element, "expires"),
        sender_name=_text(element, "senderName"),
        headline=_text(element, "headline"),
        description=_text(element, "description"),
        instruction=_text(element, "instruction"),
        web=_text(element, "web"),
        contact=_text(element, "contact"),
        parameters=_pairs(element, "parameter"),
        resources=tuple(_resource(r) for r in element.iterfind(_NS + "resource")),
        areas=tuple(_area(a) for a in element.iterfind(_NS + "area")),
    )


def _references(text: str | None) -> tuple[Reference, ...]:
    if not text:
        return ()
    references = []
    for item in text.split():
        sender, identifier, sent = item.split(",")
        references.append(Reference(sender, identifier, parse_time(sent)))
    return tuple(references)


def decode_alert(data: bytes) -> Alert:
    """Parse and check a CAP 1.2 alert; :class:`CapFormatError` says why one is refused."""
    root = parse_document(data)
    if root.tag != _NS + "alert":
        raise CapFormatError("not_cap", [f"root element is {root.tag!r}"])
    problems = check_document(root)
    if problems:
        raise CapFormatError("structure", problems)
    try:
        return Alert(
            identifier=_required(root, "identifier"),
            sender=_required(root, "sender"),
            sent=parse_time(_required(root, "sent")),
            status=Status(_required(root, "status")),
            msg_type=MsgType(_required(root, "msgType")),
            source=_text(root, "source"),
            scope=Scope(_required(root, "scope")),
            restriction=_text(root, "restriction"),
            addresses=_text(root, "addresses"),
            codes=tuple(_texts(root, "code")),
            note=_text(root, "note"),
            references=_references(_text(root, "references")),
            incidents=_text(root, "incidents"),
            infos=tuple(_info(i) for i in root.iterfind(_NS + "info")),
        )
    except ValueError as exc:  # a time out of range (month 13) that the pattern let through
        raise CapFormatError("value", [str(exc)]) from exc
