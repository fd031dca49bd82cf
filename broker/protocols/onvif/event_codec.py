"""Event service requests and responses: pull points, Renew, Unsubscribe, ... (no I/O)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from lxml import etree

from broker.protocols.onvif import namespaces as ns
from broker.protocols.onvif.errors import InvalidArgumentError, PullMessagesLimitError
from broker.protocols.onvif.notification import Notification, build_notification_message
from broker.protocols.onvif.timeexpr import (
    format_datetime,
    format_duration,
    parse_duration,
    parse_termination,
)
from broker.protocols.onvif.topics import TopicFilter, build_topic_set, parse_filter

_TEV = f"{{{ns.TEV}}}"
_WSNT = f"{{{ns.WSNT}}}"
_WSA = f"{{{ns.WSA}}}"
_XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"

ACTION_TEV = f"{ns.TEV}/EventPortType"
ACTION_PULL = f"{ns.TEV}/PullPointSubscription"
ACTION_MANAGER = "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager"
ACTION_PRODUCER = "http://docs.oasis-open.org/wsn/bw-2/NotificationProducer"
ACTION_NOTIFY = "http://docs.oasis-open.org/wsn/bw-2/NotificationConsumer/Notify"
_CONSUMER = re.compile(r"^https?://[^\s/?#]+(/[^\s]*)?$")


@dataclass(frozen=True, slots=True)
class CreatePullPointRequest:
    """CreatePullPointSubscription arguments."""

    topic_filter: TopicFilter | None
    termination: datetime | None


@dataclass(frozen=True, slots=True)
class SubscribeRequest:
    """WS-BaseNotification Subscribe arguments (push to a consumer)."""

    consumer: str
    topic_filter: TopicFilter | None
    termination: datetime | None


@dataclass(frozen=True, slots=True)
class PullMessagesRequest:
    """PullMessages arguments."""

    timeout: timedelta
    message_limit: int


def _termination(element: etree._Element | None, now: datetime) -> datetime | None:
    if element is None or element.get(_XSI_NIL) in ("true", "1"):
        return None
    text = (element.text or "").strip()
    return parse_termination(text, now) if text else None


def parse_create_pull_point(body: etree._Element, now: datetime) -> CreatePullPointRequest:
    """Read Filter and InitialTerminationTime."""
    return CreatePullPointRequest(
        topic_filter=parse_filter(body.find(f"{_TEV}Filter")),
        termination=_termination(body.find(f"{_TEV}InitialTerminationTime"), now),
    )


def parse_subscribe(body: etree._Element, now: datetime) -> SubscribeRequest:
    """Read ConsumerReference, Filter and InitialTerminationTime of a Subscribe."""
    consumer = (body.findtext(f"{_WSNT}ConsumerReference/{_WSA}Address") or "").strip()
    if not _CONSUMER.match(consumer):
        raise InvalidArgumentError("ConsumerReference needs an http(s) Address")
    return SubscribeRequest(
        consumer=consumer,
        topic_filter=parse_filter(body.find(f"{_WSNT}Filter")),
        termination=_termination(body.find(f"{_WSNT}InitialTerminationTime"), now),
    )


def parse_pull_messages(
    body: etree._Element, *, max_timeout: timedelta, max_limit: int
) -> PullMessagesRequest:
    """Read Timeout and MessageLimit; above the device maxima is a PullMessagesFaultResponse."""
    timeout_text = (body.findtext(f"{_TEV}Timeout") or "").strip()
    limit_text = (body.findtext(f"{_TEV}MessageLimit") or "").strip()
    if not timeout_text or not limit_text:
        raise InvalidArgumentError("PullMessages needs Timeout and MessageLimit")
    timeout = parse_duration(timeout_text)
    try:
        limit = int(limit_text)
    except ValueError as exc:
        raise InvalidArgumentError("MessageLimit is not an integer") from exc
    if timeout < timedelta(0) or limit < 1:
        raise InvalidArgumentError("Timeout must be >= 0 and MessageLimit >= 1")
    if timeout > max_timeout or limit > max_limit:
        raise PullMessagesLimitError(
            "Timeout or MessageLimit above the device maximum",
            detail_xml=pull_messages_fault_detail(max_timeout, max_limit),
        )
    return PullMessagesRequest(timeout, limit)


def parse_renew(body: etree._Element, now: datetime) -> datetime | None:
    """Read the requested TerminationTime of a Renew."""
    return _termination(body.find(f"{_WSNT}TerminationTime"), now)


def pull_messages_fault_detail(max_timeout: timedelta, max_limit: int) -> bytes:
    """Detail of the PullMessagesFaultResponse: the device's maxima."""
    fault = etree.Element(f"{_TEV}PullMessagesFaultResponse", nsmap={"tev": ns.TEV})
    etree.SubElement(fault, f"{_TEV}MaxTimeout").text = format_duration(max_timeout)
    etree.SubElement(fault, f"{_TEV}MaxMessageLimit").text = str(max_limit)
    return bytes(etree.tostring(fault))


def resource_unknown_detail(now: datetime) -> bytes:
    """Detail of a wsrf-r:ResourceUnknownFault."""
    fault = etree.Element(
        f"{{{ns.WSRF_R}}}ResourceUnknownFault", nsmap={"wsrf-r": ns.WSRF_R, "wsrf-bf": ns.WSRF_BF}
    )
    etree.SubElement(fault, f"{{{ns.WSRF_BF}}}Timestamp").text = format_datetime(now)
    return bytes(etree.tostring(fault))


def _times(parent: etree._Element, prefix: str, current: datetime, termination: datetime) -> None:
    etree.SubElement(parent, f"{prefix}CurrentTime").text = format_datetime(current)
    etree.SubElement(parent, f"{prefix}TerminationTime").text = format_datetime(termination)


def create_pull_point_response(
    address: str, now: datetime, termination: datetime
) -> etree._Element:
    """CreatePullPointSubscriptionResponse with the subscription's own address."""
    response = etree.Element(
        f"{_TEV}CreatePullPointSubscriptionResponse",
        nsmap={"tev": ns.TEV, "wsnt": ns.WSNT, "wsa": ns.WSA},
    )
    reference = etree.SubElement(response, f"{_TEV}SubscriptionReference")
    etree.SubElement(reference, f"{_WSA}Address").text = address
    _times(response, _WSNT, now, termination)
    return response


def subscribe_response(address: str, now: datetime, termination: datetime) -> etree._Element:
    """wsnt:SubscribeResponse with the subscription manager's address."""
    response = etree.Element(f"{_WSNT}SubscribeResponse", nsmap={"wsnt": ns.WSNT, "wsa": ns.WSA})
    reference = etree.SubElement(response, f"{_WSNT}SubscriptionReference")
    etree.SubElement(reference, f"{_WSA}Address").text = address
    _times(response, _WSNT, now, termination)
    return response


def notify(address: str, notifications: Iterable[Notification]) -> etree._Element:
    """wsnt:Notify carrying messages to a consumer."""
    element = etree.Element(f"{_WSNT}Notify", nsmap={"wsnt": ns.WSNT})
    for notification in notifications:
        element.append(build_notification_message(notification, address))
    return element


def pull_messages_response(
    address: str, now: datetime, termination: datetime, notifications: Iterable[Notification]
) -> etree._Element:
    """PullMessagesResponse: CurrentTime, TerminationTime and the messages."""
    response = etree.Element(f"{_TEV}PullMessagesResponse", nsmap={"tev": ns.TEV, "wsnt": ns.WSNT})
    _times(response, _TEV, now, termination)
    for notification in notifications:
        response.append(build_notification_message(notification, address))
    return response


def renew_response(now: datetime, termination: datetime) -> etree._Element:
    """wsnt:RenewResponse (TerminationTime before CurrentTime, as the schema orders them)."""
    response = etree.Element(f"{_WSNT}RenewResponse", nsmap={"wsnt": ns.WSNT})
    etree.SubElement(response, f"{_WSNT}TerminationTime").text = format_datetime(termination)
    etree.SubElement(response, f"{_WSNT}CurrentTime").text = format_datetime(now)
    return response


def empty_response(namespace: str, name: str) -> etree._Element:
    """An empty response element such as UnsubscribeResponse."""
    return etree.Element(f"{{{namespace}}}{name}")


def service_capabilities_response(capabilities: etree._Element) -> etree._Element:
    """Event GetServiceCapabilitiesResponse."""
    response = etree.Element(f"{_TEV}GetServiceCapabilitiesResponse", nsmap={"tev": ns.TEV})
    response.append(capabilities)
    return response


def event_properties_response(categories: Sequence[str]) -> etree._Element:
    """GetEventPropertiesResponse: our topic set and the dialects we accept."""
    response = etree.Element(
        f"{_TEV}GetEventPropertiesResponse",
        nsmap={"tev": ns.TEV, "wsnt": ns.WSNT, "wstop": ns.WSTOP, "tt": ns.TT, "tns1": ns.TNS1},
    )
    etree.SubElement(
        response, f"{_TEV}TopicNamespaceLocation"
    ).text = "http://www.onvif.org/onvif/ver10/topics/topicns.xml"
    etree.SubElement(response, f"{_WSNT}FixedTopicSet").text = "false"
    response.append(build_topic_set(categories))
    for dialect in (ns.DIALECT_CONCRETE, ns.DIALECT_CONCRETE_SET):
        etree.SubElement(response, f"{_WSNT}TopicExpressionDialect").text = dialect
    etree.SubElement(response, f"{_TEV}MessageContentFilterDialect").text = ns.DIALECT_ITEM_FILTER
    etree.SubElement(
        response, f"{_TEV}MessageContentSchemaLocation"
    ).text = "http://www.onvif.org/onvif/ver10/schema/onvif.xsd"
    return response
