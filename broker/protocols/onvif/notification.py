"""ONVIF notifications: ``wsnt:NotificationMessage`` holding a ``tt:Message`` (no I/O).

A StreetSense event becomes a property event under
``tns1:RuleEngine/StreetSense/<Category>``: the incident's start, update and
end map to PropertyOperation Initialized, Changed and Deleted.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from broker.protocols.onvif import namespaces as ns
from broker.protocols.onvif.errors import InvalidArgumentError
from broker.protocols.onvif.timeexpr import format_datetime, parse_datetime
from events import Event, Phase

_TT = f"{{{ns.TT}}}"
_WSNT = f"{{{ns.WSNT}}}"
_WSA = f"{{{ns.WSA}}}"
VENDOR_BRANCH = ("RuleEngine", "StreetSense")
_NAME_PART = re.compile(r"[A-Za-z0-9]+")


class PropertyOperation(enum.StrEnum):
    """How a property event relates to the property's state."""

    INITIALIZED = "Initialized"
    CHANGED = "Changed"
    DELETED = "Deleted"


PHASE_OPERATIONS = {
    Phase.START: PropertyOperation.INITIALIZED,
    Phase.UPDATE: PropertyOperation.CHANGED,
    Phase.END: PropertyOperation.DELETED,
}


@dataclass(frozen=True, slots=True)
class SimpleItem:
    """A ``tt:SimpleItem`` name/value pair."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class Topic:
    """A concrete topic: a namespace and a path of element names."""

    namespace: str
    path: tuple[str, ...]

    def expression(self, prefix: str = "tns1") -> str:
        """The Concrete topic expression, e.g. ``tns1:RuleEngine/StreetSense/Fight``."""
        return f"{prefix}:{'/'.join(self.path)}"


@dataclass(frozen=True, slots=True)
class Notification:
    """One message for the pull points; ``property_key`` names the property instance."""

    topic: Topic
    utc_time: datetime
    operation: PropertyOperation | None
    source: tuple[SimpleItem, ...]
    data: tuple[SimpleItem, ...]
    property_key: str | None = None


def topic_name(category: str) -> str:
    """Turn a category id into a topic element name: ``people_count`` -> ``PeopleCount``."""
    name = "".join(part[:1].upper() + part[1:] for part in _NAME_PART.findall(category))
    if not name or name[0].isdigit():
        name = f"C{name}"
    return name


def category_topic(category: str) -> Topic:
    """The topic StreetSense publishes a category under."""
    return Topic(ns.TNS1, (*VENDOR_BRANCH, topic_name(category)))


def from_event(event: Event) -> Notification:
    """Map a StreetSense event to its ONVIF notification."""
    active = event.phase is not Phase.END
    return Notification(
        topic=category_topic(event.category),
        utc_time=event.occurred_at,
        operation=PHASE_OPERATIONS[event.phase],
        source=(
            SimpleItem("VideoSourceToken", event.source.id),
            SimpleItem("Rule", event.category),
        ),
        data=(
            SimpleItem("Category", event.category),
            SimpleItem("Confidence", f"{event.confidence:.3f}"),
            SimpleItem("Severity", event.severity.value),
            SimpleItem("IncidentId", event.incident_id),
            SimpleItem("EventId", event.event_id),
            SimpleItem("State", "true" if active else "false"),
        ),
        property_key=f"{event.category}/{event.incident_id}",
    )


def _items(parent: etree._Element, tag: str, items: tuple[SimpleItem, ...]) -> None:
    holder = etree.SubElement(parent, f"{_TT}{tag}")
    for item in items:
        etree.SubElement(holder, f"{_TT}SimpleItem", Name=item.name, Value=item.value)


def build_message(notification: Notification) -> etree._Element:
    """Build the ``tt:Message`` element of a notification."""
    message = etree.Element(f"{_TT}Message", nsmap={"tt": ns.TT})
    message.set("UtcTime", format_datetime(notification.utc_time))
    if notification.operation is not None:
        message.set("PropertyOperation", notification.operation.value)
    _items(message, "Source", notification.source)
    _items(message, "Data", notification.data)
    return message


def build_notification_message(
    notification: Notification, subscription_address: str
) -> etree._Element:
    """Build a ``wsnt:NotificationMessage`` for a PullMessages response."""
    holder = etree.Element(f"{_WSNT}NotificationMessage", nsmap={"wsnt": ns.WSNT})
    reference = etree.SubElement(holder, f"{_WSNT}SubscriptionReference")
    etree.SubElement(reference, f"{_WSA}Address").text = subscription_address
    topic = etree.SubElement(holder, f"{_WSNT}Topic", nsmap={"tns1": notification.topic.namespace})
    topic.set("Dialect", ns.DIALECT_CONCRETE_SET)
    topic.text = notification.topic.expression("tns1")
    etree.SubElement(holder, f"{_WSNT}Message").append(build_message(notification))
    return holder


def parse_message(
    message: etree._Element,
) -> tuple[datetime, PropertyOperation | None, tuple[SimpleItem, ...], tuple[SimpleItem, ...]]:
    """Read a ``tt:Message``: (UtcTime, PropertyOperation, Source items, Data items)."""
    if message.tag != f"{_TT}Message":
        raise InvalidArgumentError("not a tt:Message")
    utc_time = parse_datetime(message.get("UtcTime", ""))
    operation_text = message.get("PropertyOperation")
    try:
        operation = PropertyOperation(operation_text) if operation_text else None
    except ValueError as exc:
        raise InvalidArgumentError(f"unknown PropertyOperation {operation_text!r}") from exc

    def items(tag: str) -> tuple[SimpleItem, ...]:
        return tuple(
            SimpleItem(element.get("Name", ""), element.get("Value", ""))
            for element in message.iterfind(f"{_TT}{tag}/{_TT}SimpleItem")
        )

    return utc_time, operation, items("Source"), items("Data")
