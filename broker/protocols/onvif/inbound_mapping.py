"""Camera analytics to StreetSense events: topic rules and incident state (no I/O).

A rule with a ``state_item`` (IsMotion, IsInside, State, ...) follows the
property: false -> true starts an incident, true while active (Changed) updates
it, true -> false or Deleted ends it. A state seen again after a reconnect
(Initialized) continues the open incident instead of starting a new one.
Without a ``state_item`` every message is an incident of its own (start only).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from broker.protocols.onvif.config import OnvifCameraConfig, TopicRule
from broker.protocols.onvif.errors import InvalidArgumentError
from broker.protocols.onvif.notification import PropertyOperation, SimpleItem
from events import Event, Phase, Severity, Source, SourceKind, new_id, utc_now

_NOT_IDENTIFIER = re.compile(r"[^a-z0-9_.-]+")
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})
MAX_OPEN_INCIDENTS = 1024  # per camera; a flood of channel tokens must not grow memory


@dataclass(frozen=True, slots=True)
class CameraMessage:
    """One notification pulled from a camera."""

    topic: str  # the expression as sent, e.g. tns1:RuleEngine/CellMotionDetector/Motion
    utc_time: datetime
    operation: PropertyOperation | None
    source: tuple[SimpleItem, ...]
    data: tuple[SimpleItem, ...]


def topic_path(expression: str) -> tuple[str, ...]:
    """The topic's element names without prefixes: cameras use varying prefixes for tns1."""
    return tuple(part.rpartition(":")[2] for part in expression.strip().split("/") if part)


def identifier(text: str) -> str:
    """A lower-case identifier (events/ Identifier) made from arbitrary text."""
    cleaned = _NOT_IDENTIFIER.sub("-", text.lower()).strip("-._")
    return (cleaned or "camera")[:64].rstrip("-._") or "camera"


def _item(items: tuple[SimpleItem, ...], name: str) -> str | None:
    return next((item.value for item in items if item.name == name), None)


class TopicMapper:
    """Maps one camera's notifications to events, remembering open incidents."""

    def __init__(
        self,
        config: OnvifCameraConfig,
        *,
        ids: Callable[[], str] = new_id,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._config = config
        self._rules = {topic_path(rule.topic): rule for rule in config.topics}
        self._ids = ids
        self._clock = clock
        self._open: dict[tuple[tuple[str, ...], str], str] = {}  # (topic, channel) -> incident

    def rule_for(self, topic: str) -> TopicRule | None:
        """The rule configured for ``topic``, or None when it is not republished."""
        return self._rules.get(topic_path(topic))

    def map(self, message: CameraMessage) -> Event | None:
        """The event for ``message``; None when it is ignored or changes nothing.

        Raises :class:`InvalidArgumentError` when the state item is missing or not boolean.
        """
        rule = self.rule_for(message.topic)
        if rule is None:
            return None
        channel = (
            _item(message.source, rule.source_item)
            if rule.source_item
            else (message.source[0].value if message.source else "")
        ) or ""
        channel = channel[:128]
        if rule.state_item is None:
            return self._event(rule, message, channel, Phase.START, self._ids())
        key = (topic_path(rule.topic), channel)
        phase = self._transition(key, self._state(rule.state_item, message), message.operation)
        if phase is None:
            return None
        incident = self._open.pop(key) if phase is Phase.END else self._open[key]
        return self._event(rule, message, channel, phase, incident)

    def _transition(
        self, key: tuple[tuple[str, ...], str], active: bool, operation: PropertyOperation | None
    ) -> Phase | None:
        is_open = key in self._open
        if active and not is_open:
            if len(self._open) >= MAX_OPEN_INCIDENTS:
                raise InvalidArgumentError(
                    f"more than {MAX_OPEN_INCIDENTS} open incidents on one camera"
                )
            self._open[key] = self._ids()
            return Phase.START
        if active:
            return None if operation is PropertyOperation.INITIALIZED else Phase.UPDATE
        return Phase.END if is_open else None

    def _state(self, name: str, message: CameraMessage) -> bool:
        if message.operation is PropertyOperation.DELETED:
            return False
        value = _item(message.data, name) or _item(message.source, name)
        if value is None:
            raise InvalidArgumentError(f"state item {name} missing from {message.topic}")
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise InvalidArgumentError(f"state item {name} is not boolean: {value[:32]!r}")

    def _event(
        self, rule: TopicRule, message: CameraMessage, channel: str, phase: Phase, incident: str
    ) -> Event:
        camera = self._config.camera_id or identifier(
            f"{self._config.host}-{channel}" if channel else self._config.host
        )
        occurred = message.utc_time.astimezone(UTC)
        occurred = occurred.replace(microsecond=occurred.microsecond // 1000 * 1000)
        return Event(
            event_id=self._ids(),
            incident_id=incident,
            phase=phase,
            site=self._config.site,
            agent=self._config.agent,
            source=Source(kind=SourceKind.EXTERNAL, id=camera),
            category=rule.category,
            severity=Severity(rule.severity),
            confidence=rule.confidence,
            summary=f"ONVIF {message.topic[:120]} from {self._config.host[:64]}"[:256],
            occurred_at=occurred,
            published_at=self._clock(),
        )
