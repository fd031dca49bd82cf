"""The topic set we announce and topic filters subscribers send (no I/O)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from lxml import etree

from broker.protocols.onvif import namespaces as ns
from broker.protocols.onvif.errors import InvalidFilterError
from broker.protocols.onvif.notification import (
    VENDOR_BRANCH,
    Notification,
    Topic,
    build_message,
    topic_name,
)

_TT = f"{{{ns.TT}}}"
_WSNT = f"{{{ns.WSNT}}}"
_WSTOP = f"{{{ns.WSTOP}}}"
_NCNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_MAX_EXPRESSION = 1024

SOURCE_ITEMS = (("VideoSourceToken", "tt:ReferenceToken"), ("Rule", "xs:string"))
DATA_ITEMS = (
    ("Category", "xs:string"),
    ("Confidence", "xs:float"),
    ("Severity", "xs:string"),
    ("IncidentId", "xs:string"),
    ("EventId", "xs:string"),
    ("State", "xs:boolean"),
)
SUPPORTED_DIALECTS = (ns.DIALECT_CONCRETE, ns.DIALECT_CONCRETE_SET)


def build_topic_set(categories: Iterable[str]) -> etree._Element:
    """``wstop:TopicSet`` with one property topic per category and its message description."""
    topic_set = etree.Element(f"{_WSTOP}TopicSet", nsmap={"wstop": ns.WSTOP, "tns1": ns.TNS1})
    rule_engine = etree.SubElement(topic_set, f"{{{ns.TNS1}}}{VENDOR_BRANCH[0]}")
    branch = etree.SubElement(rule_engine, VENDOR_BRANCH[1])
    for name in sorted({topic_name(category) for category in categories}):
        leaf = etree.SubElement(branch, name)
        leaf.set(f"{_WSTOP}topic", "true")
        description = etree.SubElement(
            leaf, f"{_TT}MessageDescription", nsmap={"tt": ns.TT, "xs": ns.XSD}
        )
        description.set("IsProperty", "true")
        for tag, items in (("Source", SOURCE_ITEMS), ("Data", DATA_ITEMS)):
            holder = etree.SubElement(description, f"{_TT}{tag}")
            for item_name, item_type in items:
                etree.SubElement(
                    holder, f"{_TT}SimpleItemDescription", Name=item_name, Type=item_type
                )
    return topic_set


@dataclass(frozen=True, slots=True)
class TopicPattern:
    """One alternative of a topic expression; ``*`` matches any single element."""

    namespace: str
    parts: tuple[str, ...]
    descendants: bool  # ends with "//." (ConcreteSet): the topic and all below it

    def matches(self, topic: Topic) -> bool:
        """Whether ``topic`` is selected by this pattern."""
        if topic.namespace != self.namespace:
            return False
        if len(topic.path) < len(self.parts) or (
            not self.descendants and len(topic.path) != len(self.parts)
        ):
            return False
        return all(want in ("*", have) for want, have in zip(self.parts, topic.path, strict=False))


@dataclass(frozen=True, slots=True)
class TopicFilter:
    """A subscription's filter: topic alternatives (none: all) and an optional ItemFilter."""

    alternatives: tuple[TopicPattern, ...]
    content: etree.XPath | None = None  # ONVIF ItemFilter: XPath over the tt:Message

    def matches(self, topic: Topic) -> bool:
        """Whether ``topic`` passes the topic part of the filter."""
        return not self.alternatives or any(p.matches(topic) for p in self.alternatives)

    def accepts(self, notification: Notification) -> bool:
        """Whether the notification passes both the topic and the content filter."""
        if not self.matches(notification.topic):
            return False
        if self.content is None:
            return True
        try:
            result = self.content(build_message(notification))
        except etree.XPathError:
            return False
        return bool(result)


def parse_filter(filter_element: etree._Element | None) -> TopicFilter | None:
    """Parse a ``wsnt:Filter``; None means every topic. Unsupported filters are faults."""
    if filter_element is None:
        return None
    content = _content_filter(filter_element.findall(f"{_WSNT}MessageContent"))
    alternatives: list[TopicPattern] = []
    for expression in filter_element.iterfind(f"{_WSNT}TopicExpression"):
        dialect = expression.get("Dialect", ns.DIALECT_CONCRETE_SET).strip()
        if dialect not in SUPPORTED_DIALECTS:
            raise InvalidFilterError(
                f"topic expression dialect {dialect[:128]!r} is not supported",
                subcode="TopicExpressionDialectUnknownFault",
            )
        text = (expression.text or "").strip()
        alternatives.extend(
            parse_expression(text, expression.nsmap, allow_set=dialect == ns.DIALECT_CONCRETE_SET)
        )
    if not alternatives and content is None:
        return None
    return TopicFilter(tuple(alternatives), content)


def _content_filter(elements: list[etree._Element]) -> etree.XPath | None:
    """Compile the ItemFilter (an XPath 1.0 boolean over the tt:Message), without extensions."""
    if not elements:
        return None
    if len(elements) > 1:
        raise InvalidFilterError(
            "at most one MessageContent filter", subcode="InvalidMessageContentExpressionFault"
        )
    element = elements[0]
    dialect = element.get("Dialect", ns.DIALECT_ITEM_FILTER).strip()
    text = (element.text or "").strip()
    if dialect != ns.DIALECT_ITEM_FILTER or not text or len(text) > _MAX_EXPRESSION:
        raise InvalidFilterError(
            "only non-empty ItemFilter message content expressions are supported",
            subcode="InvalidMessageContentExpressionFault",
        )
    namespaces = {prefix: uri for prefix, uri in element.nsmap.items() if prefix}
    namespaces.setdefault("tt", ns.TT)
    try:
        return etree.XPath(text, namespaces=namespaces, regexp=False, smart_strings=False)
    except etree.XPathError as exc:
        raise InvalidFilterError(
            f"invalid message content expression: {exc}",
            subcode="InvalidMessageContentExpressionFault",
        ) from exc


def parse_expression(
    text: str, nsmap: dict[str | None, str], *, allow_set: bool = True
) -> list[TopicPattern]:
    """Parse a Concrete or ConcreteSet topic expression using the element's prefixes."""
    if not text or len(text) > _MAX_EXPRESSION:
        raise InvalidFilterError(
            "empty or oversized topic expression", subcode="InvalidTopicExpressionFault"
        )
    pieces = [piece.strip() for piece in text.split("|")]
    if len(pieces) > 1 and not allow_set:
        raise InvalidFilterError(
            "'|' needs the ConcreteSet dialect", subcode="InvalidTopicExpressionFault"
        )
    return [_parse_path(piece, nsmap) for piece in pieces]


def _parse_path(piece: str, nsmap: dict[str | None, str]) -> TopicPattern:
    descendants = piece.endswith("//.")
    if descendants:
        piece = piece[: -len("//.")]
    first, separator, rest = piece.partition("/")
    prefix, _, head = first.rpartition(":")
    path = head + separator + rest
    namespace = nsmap.get(prefix or None)
    if namespace is None:
        raise InvalidFilterError(
            f"unknown prefix in topic expression {piece[:128]!r}",
            subcode="InvalidTopicExpressionFault",
        )
    parts = tuple(part.rpartition(":")[2] for part in path.split("/"))
    if not parts or not all(part == "*" or _NCNAME.match(part) for part in parts):
        raise InvalidFilterError(
            f"invalid topic expression {piece[:128]!r}", subcode="InvalidTopicExpressionFault"
        )
    return TopicPattern(namespace, parts, descendants)
