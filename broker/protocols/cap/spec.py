"""The CAP 1.2 element table and a structure checker written from it.

Each container lists its child elements in the order the spec requires, with
the least and most occurrences (``None``: unbounded). The checker walks a
parsed document against these tables and returns every problem it finds
(unknown, misplaced, missing or repeated elements, values outside an
enumeration, malformed times, identifiers, polygons and circles, and the
spec's conditional rules), so tests can hold our output and published
examples to the same rules. No I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from broker.protocols.cap.model import (
    NAMESPACE,
    CapSeverity,
    Category,
    Certainty,
    MsgType,
    ResponseType,
    Scope,
    Status,
    Urgency,
)

UNBOUNDED = None


@dataclass(frozen=True, slots=True)
class Slot:
    """One child element of a container: its name and how often it may occur."""

    name: str
    least: int
    most: int | None


def _slots(*rows: tuple[str, int, int | None]) -> tuple[Slot, ...]:
    return tuple(Slot(*row) for row in rows)


ALERT = _slots(
    ("identifier", 1, 1), ("sender", 1, 1), ("sent", 1, 1), ("status", 1, 1),
    ("msgType", 1, 1), ("source", 0, 1), ("scope", 1, 1), ("restriction", 0, 1),
    ("addresses", 0, 1), ("code", 0, UNBOUNDED), ("note", 0, 1), ("references", 0, 1),
    ("incidents", 0, 1), ("info", 0, UNBOUNDED),
)  # fmt: skip
INFO = _slots(
    ("language", 0, 1), ("category", 1, UNBOUNDED), ("event", 1, 1),
    ("responseType", 0, UNBOUNDED), ("urgency", 1, 1), ("severity", 1, 1),
    ("certainty", 1, 1), ("audience", 0, 1), ("eventCode", 0, UNBOUNDED),
    ("effective", 0, 1), ("onset", 0, 1), ("expires", 0, 1), ("senderName", 0, 1),
    ("headline", 0, 1), ("description", 0, 1), ("instruction", 0, 1), ("web", 0, 1),
    ("contact", 0, 1), ("parameter", 0, UNBOUNDED), ("resource", 0, UNBOUNDED),
    ("area", 0, UNBOUNDED),
)  # fmt: skip
RESOURCE = _slots(
    ("resourceDesc", 1, 1), ("mimeType", 1, 1), ("size", 0, 1), ("uri", 0, 1),
    ("derefUri", 0, 1), ("digest", 0, 1),
)  # fmt: skip
AREA = _slots(
    ("areaDesc", 1, 1), ("polygon", 0, UNBOUNDED), ("circle", 0, UNBOUNDED),
    ("geocode", 0, UNBOUNDED), ("altitude", 0, 1), ("ceiling", 0, 1),
)  # fmt: skip
VALUE_PAIR = _slots(("valueName", 1, 1), ("value", 1, 1))

CONTAINERS: dict[str, tuple[Slot, ...]] = {
    "alert": ALERT,
    "info": INFO,
    "resource": RESOURCE,
    "area": AREA,
    "eventCode": VALUE_PAIR,
    "parameter": VALUE_PAIR,
    "geocode": VALUE_PAIR,
}
ENUMERATIONS: dict[str, frozenset[str]] = {
    "status": frozenset(Status),
    "msgType": frozenset(MsgType),
    "scope": frozenset(Scope),
    "category": frozenset(Category),
    "responseType": frozenset(ResponseType),
    "urgency": frozenset(Urgency),
    "severity": frozenset(CapSeverity),
    "certainty": frozenset(Certainty),
}
TIME_ELEMENTS = frozenset({"sent", "effective", "onset", "expires"})
# CAP dateTime: no fractional seconds, an explicit offset, no "Z" (UTC is "-00:00")
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$")
# identifier and sender: no spaces, commas or restricted characters (< and &)
TOKEN = re.compile(r"^[^\s,<&]+$")
# decimal numbers of sane magnitude (coordinates, km, feet); no exponents
_NUMBER = r"[+-]?\d{1,12}(?:\.\d{1,15})?"
PAIR = re.compile(rf"^({_NUMBER}),({_NUMBER})$")
CIRCLE = re.compile(rf"^({_NUMBER}),({_NUMBER})\s+({_NUMBER})$")


def _local(element: etree._Element) -> str | None:
    tag: object = element.tag
    if not isinstance(tag, str):
        return None  # a comment or processing instruction
    qname = etree.QName(tag)
    return qname.localname if qname.namespace == NAMESPACE else f"{{{qname.namespace}}}"


def _text(element: etree._Element) -> str:
    return (element.text or "").strip()


def check_document(root: etree._Element) -> list[str]:
    """Every problem of ``root`` as a CAP 1.2 alert; an empty list means valid."""
    if _local(root) != "alert":
        return [f"root element is {root.tag!r}, not {{{NAMESPACE}}}alert"]
    problems: list[str] = []
    _check_container(root, "alert", "alert", problems)
    _check_alert_rules(root, problems)
    return problems


def _check_container(element: etree._Element, kind: str, path: str, problems: list[str]) -> None:
    slots = CONTAINERS[kind]
    names = [slot.name for slot in slots]
    counts = dict.fromkeys(names, 0)
    position = 0
    foreign_seen = False
    for child in element:
        name = _local(child)
        if name is None:
            continue
        where = f"{path}/{name}"
        if name.startswith("{"):
            # the schema allows elements of other namespaces (e.g. a signature) at the end of alert
            if kind != "alert":
                problems.append(f"{where}: foreign element not allowed here")
            foreign_seen = True
            continue
        if foreign_seen:
            problems.append(f"{where}: CAP element after a foreign element")
        if name not in counts:
            problems.append(f"{where}: unknown element")
            continue
        index = names.index(name)
        if index < position:
            problems.append(f"{where}: out of order (must come before {names[position]})")
        position = max(position, index)
        counts[name] += 1
        _check_child(child, name, where, problems)
    for slot in slots:
        count = counts[slot.name]
        if count < slot.least:
            problems.append(f"{path}/{slot.name}: required element missing")
        if slot.most is not None and count > slot.most:
            problems.append(f"{path}/{slot.name}: at most {slot.most}, found {count}")


def _check_child(child: etree._Element, name: str, where: str, problems: list[str]) -> None:
    if name in CONTAINERS:
        _check_container(child, name, where, problems)
        return
    if len(child):
        problems.append(f"{where}: must hold text, not elements")
    _check_value(name, _text(child), where, problems)


def _check_value(name: str, text: str, where: str, problems: list[str]) -> None:
    allowed = ENUMERATIONS.get(name)
    if allowed is not None and text not in allowed:
        problems.append(f"{where}: {text!r} is not one of {sorted(allowed)}")
    elif name in TIME_ELEMENTS and not DATETIME.match(text):
        problems.append(f"{where}: {text!r} is not a CAP dateTime (YYYY-MM-DDThh:mm:ss+hh:mm)")
    elif name in {"identifier", "sender"} and not TOKEN.match(text):
        problems.append(f"{where}: must be non-empty without spaces, commas, '<' or '&'")
    elif name == "polygon":
        problems.extend(f"{where}: {p}" for p in polygon_problems(text))
    elif name == "circle":
        problems.extend(f"{where}: {p}" for p in circle_problems(text))
    elif name == "size" and not re.fullmatch(r"\d{1,18}", text):
        problems.append(f"{where}: {text!r} is not a size in bytes")
    elif name in {"altitude", "ceiling"} and not re.fullmatch(_NUMBER, text):
        problems.append(f"{where}: {text!r} is not a number")
    elif name in {"areaDesc", "event", "resourceDesc", "mimeType", "valueName"} and not text:
        problems.append(f"{where}: must not be empty")


def _in_range(lat: float, lon: float) -> bool:
    return -90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0


def polygon_problems(text: str) -> list[str]:
    """Problems of a ``<polygon>`` value (4+ pairs, closed, WGS 84 ranges)."""
    pairs = [PAIR.match(item) for item in text.split()]
    if not all(pairs):
        return [f"{text[:60]!r} is not space-separated 'lat,lon' pairs"]
    points = [(float(m[1]), float(m[2])) for m in pairs if m]
    problems = []
    if len(points) < 4:
        problems.append("a polygon needs at least four coordinate pairs")
    elif points[0] != points[-1]:
        problems.append("the first and last pairs of a polygon must be the same")
    if not all(_in_range(*p) for p in points):
        problems.append("coordinates outside -90..90 / -180..180")
    return problems


def circle_problems(text: str) -> list[str]:
    """Problems of a ``<circle>`` value ('lat,lon radius' in km)."""
    match = CIRCLE.match(text.strip())
    if match is None:
        return [f"{text[:60]!r} is not 'lat,lon radius'"]
    problems = []
    if not _in_range(float(match[1]), float(match[2])):
        problems.append("centre outside -90..90 / -180..180")
    if float(match[3]) < 0:
        problems.append("radius must not be negative")
    return problems


def _child_text(element: etree._Element, name: str) -> str | None:
    child = element.find(f"{{{NAMESPACE}}}{name}")
    return None if child is None else _text(child)


def _check_alert_rules(root: etree._Element, problems: list[str]) -> None:
    scope = _child_text(root, "scope")
    if scope == Scope.RESTRICTED and not _child_text(root, "restriction"):
        problems.append("alert/restriction: required when scope is Restricted")
    if scope == Scope.PRIVATE and not _child_text(root, "addresses"):
        problems.append("alert/addresses: required when scope is Private")
    references = _child_text(root, "references")
    if references is not None:
        for item in references.split():
            parts = item.split(",")
            if len(parts) != 3 or not DATETIME.match(parts[2]) or not all(parts[:2]):
                problems.append(f"alert/references: {item!r} is not 'sender,identifier,sent'")
    problems.extend(
        "alert/info/area/ceiling: only allowed together with altitude"
        for area in root.iterfind(f"{{{NAMESPACE}}}info/{{{NAMESPACE}}}area")
        if _child_text(area, "ceiling") is not None and _child_text(area, "altitude") is None
    )
