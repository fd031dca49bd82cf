"""XProtect analytics events: the ``AnalyticsEvent`` XML and response verdicts (pure).

The document follows the published ``AnalyticsEvent`` schema (namespace
``urn:milestone-systems``, element order as in its ``xs:sequence``):
``EventHeader`` (ID, Timestamp, Type, Message, CustomTag, Source), then
``Description``, ``Location``, ``ObjectList`` and ``Vendor``. ``Message`` must
equal the name of an analytics event registered in the Management Client for
the event server to raise it; ``Source`` must resolve to a camera for alarms
bound to that camera. See docs/milestone.md for the pages this follows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from lxml import etree

from broker.outputs.base import Outcome
from events import Event

NAMESPACE = "urn:milestone-systems"
XSI_NAMESPACE = "http://www.w3.org/2001/XMLSchema-instance"
CAMERA_KIND = "5135BA21-F1DC-4321-806A-6CE2017343C0"  # VideoOS.Platform.Kind.Camera
UNKNOWN_MESSAGE_WARNING = "Event message not known"
_ID_NAMESPACE = uuid.UUID("6f1f7d3c-3b0e-4c8e-9a8e-5f6b2d1c0a71")  # StreetSense event ids


@dataclass(frozen=True, slots=True)
class CameraRef:
    """How XProtect knows a camera: its name (or address) and/or its GUID."""

    name: str | None = None
    object_id: uuid.UUID | None = None
    server_id: uuid.UUID | None = None  # the recording server's id, when known


@dataclass(frozen=True, slots=True)
class AnalyticsContent:
    """The human-facing texts of one analytics event (already rendered)."""

    message: str
    description: str
    location: str
    custom_tag: str
    vendor: str


def event_guid(event_id: str) -> uuid.UUID:
    """A stable GUID for an event id, so a retried delivery carries the same ``ID``."""
    return uuid.uuid5(_ID_NAMESPACE, event_id)


def _q(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def _add(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    child = etree.SubElement(parent, _q(name))
    if text is not None:
        child.text = text
    return child


def _source(header: etree._Element, camera: CameraRef) -> None:
    source = _add(header, "Source")
    if camera.name:
        _add(source, "Name", camera.name)
    if camera.object_id is not None:
        fqid = _add(source, "FQID")
        if camera.server_id is not None:
            server = _add(fqid, "ServerId")
            _add(server, "Id", str(camera.server_id))
        _add(fqid, "ObjectId", str(camera.object_id))
        _add(fqid, "FolderType", "0")
        _add(fqid, "Kind", CAMERA_KIND)


def build_analytics_event(event: Event, content: AnalyticsContent, camera: CameraRef) -> bytes:
    """The UTF-8 ``AnalyticsEvent`` document (with XML declaration) for ``event``."""
    nsmap = {None: NAMESPACE, "i": XSI_NAMESPACE}  # None = the default namespace
    root = etree.Element(_q("AnalyticsEvent"), nsmap=nsmap)  # type: ignore[arg-type]
    header = _add(root, "EventHeader")
    _add(header, "ID", str(event_guid(event.event_id)))
    _add(header, "Timestamp", event.occurred_at.isoformat().replace("+00:00", "Z"))
    _add(header, "Type", event.category)
    _add(header, "Message", content.message)
    if content.custom_tag:
        _add(header, "CustomTag", content.custom_tag)
    _source(header, camera)
    if content.description:
        _add(root, "Description", content.description)
    if content.location:
        _add(root, "Location", content.location)
    objects = _add(root, "ObjectList")
    detected = _add(objects, "Object")
    _add(detected, "Name", event.category)
    _add(detected, "Type", event.source.kind.value)
    _add(detected, "Confidence", f"{event.confidence:.4f}")
    _add(detected, "Value", event.severity.value)
    _add(detected, "AlarmTrigger", "true")
    vendor = _add(root, "Vendor")
    _add(vendor, "Name", content.vendor)
    _add(vendor, "CustomData", f"incident={event.incident_id} phase={event.phase.value}")
    document: bytes = etree.tostring(root, xml_declaration=True, encoding="utf-8")
    return document


@dataclass(frozen=True, slots=True)
class Verdict:
    """What an HTTP answer of the event server means for the delivery."""

    outcome: Outcome
    reason: str
    detail: str


def classify_response(status: int, body: str) -> Verdict:
    """Map the event server's HTTP answer to a delivery outcome.

    200 is delivered, unless the body warns that the event message is not a
    registered analytics event (nothing would be raised: rejected). Other 4xx
    are rejected (bad XML, sender address not allowed), except 408 and 429;
    5xx are retried.
    """
    snippet = " ".join(body.split())[:200]
    if 200 <= status < 300:
        if UNKNOWN_MESSAGE_WARNING.lower() in body.lower():
            return Verdict(Outcome.REJECTED, "unknown_message", f"HTTP {status}: {snippet}")
        return Verdict(Outcome.DELIVERED, "ok", f"HTTP {status}")
    if status in (408, 429) or status >= 500:
        return Verdict(Outcome.RETRY, f"http_{status}", f"HTTP {status}: {snippet}")
    return Verdict(Outcome.REJECTED, f"http_{status}", f"HTTP {status}: {snippet}")
