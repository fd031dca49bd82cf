"""The MQTT payload path as a pure function: topic and bytes in, a verdict out.

An event must decode with :func:`events.decode_event` and must match the topic
it came on (site, agent and category): the broker's ACL lets an agent publish
only under its own prefix, so an event claiming another agent is rejected as
``topic_mismatch``. Agents' retained status messages feed the online gauge.
"""

from __future__ import annotations

from dataclasses import dataclass

from events import AgentStatus, Event, EventError, decode_event, decode_status, encode, topics


@dataclass(frozen=True, slots=True)
class EventIn:
    """A valid event and its canonical wire JSON (what is queued and delivered)."""

    event: Event
    payload: str


@dataclass(frozen=True, slots=True)
class StatusIn:
    """An agent's status; ``status`` is None when the retained status was cleared."""

    site: str
    agent: str
    status: AgentStatus | None


@dataclass(frozen=True, slots=True)
class Rejected:
    """A payload that was refused, with the metric reason and a detail for the log."""

    reason: str
    detail: str


Verdict = EventIn | StatusIn | Rejected

_TOPICS_MAX = 4096  # parsed topics remembered (agents publish on a few topics each)
_topics: dict[str, topics.TopicParts] = {}


def _parse(topic: str) -> topics.TopicParts:
    """:func:`events.topics.parse`, remembered per topic (a bad topic is not remembered)."""
    parts = _topics.get(topic)
    if parts is None:
        parts = topics.parse(topic)
        if len(_topics) >= _TOPICS_MAX:
            _topics.clear()
        _topics[topic] = parts
    return parts


def classify(topic: str, payload: bytes) -> Verdict:
    """Decide what an MQTT message is; never raises."""
    try:
        parts = _parse(topic)
    except ValueError as exc:
        return Rejected("bad_topic", str(exc))
    if parts.kind == "status":
        return _status(parts, payload)
    if parts.kind == "events":
        return _event(parts, payload)
    return Rejected("bad_topic", f"not an event or status topic: {topic}")


def _status(parts: topics.TopicParts, payload: bytes) -> Verdict:
    if not payload:
        return StatusIn(parts.site, parts.agent, None)
    try:
        status = decode_status(payload)
    except EventError as exc:
        return Rejected(exc.reason, str(exc))
    if (status.site, status.agent) != (parts.site, parts.agent):
        return Rejected(
            "topic_mismatch",
            f"status of {status.site}/{status.agent} on the topic of {parts.site}/{parts.agent}",
        )
    return StatusIn(parts.site, parts.agent, status)


def _event(parts: topics.TopicParts, payload: bytes) -> Verdict:
    try:
        event = decode_event(payload)
    except EventError as exc:
        return Rejected(exc.reason, str(exc))
    if (event.site, event.agent, event.category) != (parts.site, parts.agent, parts.leaf):
        return Rejected(
            "topic_mismatch",
            f"event {event.event_id} of {event.site}/{event.agent}/{event.category} on the "
            f"topic of {parts.site}/{parts.agent}/{parts.leaf}",
        )
    return EventIn(event, encode(event).decode())
