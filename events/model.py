"""Typed, immutable messages that cross the wire between agents and adapters."""

from __future__ import annotations

import enum
import math
import uuid
from datetime import UTC, datetime
from typing import Annotated

import msgspec

SCHEMA_VERSION = 1

Identifier = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$",
        description="Lower-case identifier, safe as an MQTT topic level.",
    ),
]
EventId = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Za-z0-9_-]{8,64}$",
        description="Globally unique id; consumers use it as an idempotency key.",
    ),
]
UtcTime = Annotated[
    datetime,
    msgspec.Meta(tz=True, description="RFC 3339 timestamp in UTC."),
]
Probability = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
ShortText = Annotated[str, msgspec.Meta(max_length=256)]
LongText = Annotated[str, msgspec.Meta(max_length=2048)]


def utc_now() -> datetime:
    """Return the current time, timezone-aware in UTC, truncated to milliseconds."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def new_id() -> str:
    """Return a new random id (UUID4 hex) usable as an event, incident or action id."""
    return uuid.uuid4().hex


def _require_utc(name: str, value: datetime) -> None:
    offset = value.utcoffset()
    if offset is None or offset.total_seconds() != 0:
        raise ValueError(f"{name} must be in UTC")


class Phase(enum.StrEnum):
    """Where an event sits in the life of its incident."""

    START = "start"
    UPDATE = "update"
    END = "end"


class Severity(enum.StrEnum):
    """Operator-facing urgency, ordered from least to most urgent."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Position in the ordering (info = 0 ... critical = 4)."""
        return list(Severity).index(self)


class SourceKind(enum.StrEnum):
    """What produced the evidence behind an event."""

    CAMERA = "camera"
    SENSOR = "sensor"
    PANEL = "panel"  # a legacy alarm panel or call point (e.g. SIA DC-09)
    EXTERNAL = "external"  # another system's analytics (e.g. an ONVIF camera)


class Source(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The camera, sensor or panel an event is about."""

    kind: SourceKind
    id: Identifier


class ModelRef(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The classifier that produced a video suggestion."""

    name: Identifier
    version: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class SensorReading(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One normalised sensor measurement with its unit."""

    sensor: Identifier
    quantity: Identifier  # e.g. sound_level, pm2_5, call_button, people_count
    value: float
    unit: Annotated[str, msgspec.Meta(max_length=16)]  # e.g. dBA, ug/m3, bool, count
    observed_at: UtcTime

    def __post_init__(self) -> None:
        if not math.isfinite(self.value):
            raise ValueError("value must be finite")
        _require_utc("observed_at", self.observed_at)


class Evidence(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Why the event was raised: class scores, sensor readings, an optional snapshot."""

    scores: dict[Identifier, Probability] = {}
    readings: tuple[SensorReading, ...] = ()
    snapshot_ref: ShortText | None = None

    def __post_init__(self) -> None:
        if len(self.scores) > 64 or len(self.readings) > 64:
            raise ValueError("evidence holds at most 64 scores and 64 readings")


class Event(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The normalised StreetSense event (schema version 1).

    Every event is a suggestion for human review unless ``requires_review`` is
    explicitly false (for example a technical status event).
    """

    schema_version: int = SCHEMA_VERSION
    event_id: EventId
    incident_id: EventId
    phase: Phase
    site: Identifier
    agent: Identifier
    source: Source
    category: Identifier
    severity: Severity
    confidence: Probability
    model: ModelRef | None = None
    evidence: Evidence = Evidence()
    summary: ShortText = ""
    occurred_at: UtcTime
    published_at: UtcTime
    requires_review: bool = True

    def __post_init__(self) -> None:
        if self.schema_version != SCHEMA_VERSION:
            raise ValueError(f"schema_version {self.schema_version} is not supported")
        _require_utc("occurred_at", self.occurred_at)
        _require_utc("published_at", self.published_at)


class ActionKind(enum.StrEnum):
    """An operator's answer to a suggestion."""

    ACKNOWLEDGE = "acknowledge"  # seen, being handled; no verdict yet
    CONFIRM = "confirm"  # a real incident
    DISMISS = "dismiss"  # a false alarm


class OperatorAction(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An operator's answer, sent back to the agent on its ``acks`` topic."""

    schema_version: int = SCHEMA_VERSION
    action_id: EventId
    event_id: EventId
    incident_id: EventId
    action: ActionKind
    operator: ShortText
    channel: Identifier  # api, dc09, tetra, milestone, ...
    note: LongText = ""
    at: UtcTime

    def __post_init__(self) -> None:
        if self.schema_version != SCHEMA_VERSION:
            raise ValueError(f"schema_version {self.schema_version} is not supported")
        _require_utc("at", self.at)


class AgentState(enum.StrEnum):
    """Liveness of an agent as published on its retained status topic."""

    ONLINE = "online"
    OFFLINE = "offline"


class AgentStatus(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Retained agent status; the MQTT Last Will publishes the offline form."""

    schema_version: int = SCHEMA_VERSION
    site: Identifier
    agent: Identifier
    state: AgentState
    version: ShortText = ""
    at: UtcTime | None = None
