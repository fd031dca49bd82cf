"""Incident grouping: one incident per situation, with START / UPDATE / END events.

A situation is keyed by (source kind, source id, category). Detectors report
an :class:`Observation` while the situation is active and ``None`` when it is
not; the book turns that level into edges, sends an UPDATE when confidence or
severity changes materially or at a heartbeat, waits a cooldown after END, and
suppresses UPDATEs of an incident an operator dismissed (END is still sent so
consoles can close it).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from edge.fusion.config import IncidentConfig
from edge.metrics import EVENTS
from events import (
    Event,
    Evidence,
    ModelRef,
    Phase,
    SensorReading,
    Severity,
    Source,
    SourceKind,
    new_id,
)

logger = logging.getLogger(__name__)

MAX_SUMMARY = 256


class SnapshotTaker(Protocol):
    """Writes a privacy-masked snapshot for a starting camera incident; returns its ref."""

    def __call__(self, camera: str, incident_id: str) -> str | None:
        """Return a snapshot reference, or None when none could be taken."""


@dataclass(frozen=True, slots=True)
class IncidentKey:
    """Identifies one situation."""

    kind: SourceKind
    source: str
    category: str


@dataclass(frozen=True, slots=True)
class Observation:
    """What a detector sees while a situation is active."""

    confidence: float
    severity: Severity
    occurred_at: float  # capture time of the clip's last frame, or the reading's time
    summary: str
    scores: Mapping[str, float] = field(default_factory=dict)
    readings: tuple[SensorReading, ...] = ()
    model: ModelRef | None = None


@dataclass(slots=True)
class _Incident:
    incident_id: str
    last: Observation
    sent_confidence: float
    sent_severity: Severity
    sent_at: float
    snapshot_ref: str | None = None
    dismissed: bool = False


_NOT_ID = re.compile(r"[^a-z0-9_.-]+")


def score_key(label: str) -> str:
    """A model label as a wire identifier (lower case; other characters become ``_``)."""
    key = _NOT_ID.sub("_", label.lower()).lstrip("_.-")[:64]
    return key or "label"


def to_utc(timestamp: float) -> datetime:
    """Epoch seconds to an aware UTC datetime truncated to milliseconds."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class IncidentBook:
    """Open incidents and cooldowns; every method returns the events to publish."""

    def __init__(
        self,
        config: IncidentConfig,
        site: str,
        agent: str,
        clock: Callable[[], float],
        snapshots: SnapshotTaker | None = None,
    ) -> None:
        self._config = config
        self._site = site
        self._agent = agent
        self._clock = clock
        self._snapshots = snapshots
        self._open: dict[IncidentKey, _Incident] = {}
        self._cooldown_until: dict[IncidentKey, float] = {}

    def observe(
        self, key: IncidentKey, observation: Observation | None, at: float | None = None
    ) -> Event | None:
        """Reconcile one situation with the detector's latest view.

        ``at`` is when the detector saw the situation clear (the clearing clip's or
        reading's time); it becomes the END event's ``occurred_at``.
        """
        now = self._clock()
        incident = self._open.get(key)
        if observation is None:
            if incident is None:
                return None
            del self._open[key]
            self._cooldown_until[key] = now + self._config.cooldown_s
            last = incident.last
            if at is not None:
                last = dataclasses.replace(last, occurred_at=at)
            return self._emit(key, incident, Phase.END, last, now)
        if incident is None:
            return self._start(key, observation, now)
        incident.last = observation
        if incident.dismissed:
            return None
        changed = (
            abs(observation.confidence - incident.sent_confidence) >= self._config.update_delta
            or observation.severity is not incident.sent_severity
        )
        if not changed and now - incident.sent_at < self._config.heartbeat_s:
            return None
        return self._emit(key, incident, Phase.UPDATE, observation, now)

    def _start(self, key: IncidentKey, observation: Observation, now: float) -> Event | None:
        if now < self._cooldown_until.get(key, float("-inf")):
            return None
        self._cooldown_until.pop(key, None)
        incident = _Incident(
            incident_id=new_id(),
            last=observation,
            sent_confidence=observation.confidence,
            sent_severity=observation.severity,
            sent_at=now,
        )
        if key.kind is SourceKind.CAMERA and self._snapshots is not None:
            incident.snapshot_ref = self._snapshots(key.source, incident.incident_id)
        self._open[key] = incident
        return self._emit(key, incident, Phase.START, observation, now)

    def heartbeats(self) -> list[Event]:
        """UPDATEs for open, undismissed incidents whose last event is a heartbeat old."""
        now = self._clock()
        for key in [k for k, until in self._cooldown_until.items() if until <= now]:
            del self._cooldown_until[key]  # expired cooldowns: memory stays bounded
        return [
            self._emit(key, incident, Phase.UPDATE, incident.last, now)
            for key, incident in list(self._open.items())
            if not incident.dismissed and now - incident.sent_at >= self._config.heartbeat_s
        ]

    def dismiss(self, incident_id: str) -> bool:
        """Suppress further UPDATEs of an open incident; False if it is not open."""
        for incident in self._open.values():
            if incident.incident_id == incident_id:
                incident.dismissed = True
                return True
        return False

    def is_open(self, key: IncidentKey) -> bool:
        """Whether the situation has an open incident."""
        return key in self._open

    def open_count(self) -> int:
        """Number of open incidents."""
        return len(self._open)

    def _emit(
        self,
        key: IncidentKey,
        incident: _Incident,
        phase: Phase,
        observation: Observation,
        now: float,
    ) -> Event:
        incident.sent_confidence = observation.confidence
        incident.sent_severity = observation.severity
        incident.sent_at = now
        summary = observation.summary
        if phase is Phase.END:
            verdict = "dismissed by an operator, " if incident.dismissed else ""
            summary = f"Ended ({verdict}condition cleared): {summary}"
        event = Event(
            event_id=new_id(),
            incident_id=incident.incident_id,
            phase=phase,
            site=self._site,
            agent=self._agent,
            source=Source(kind=key.kind, id=key.source),
            category=key.category,
            severity=observation.severity,
            confidence=round(min(1.0, max(0.0, observation.confidence)), 4),
            model=observation.model,
            evidence=Evidence(
                scores={
                    score_key(k): round(min(1.0, max(0.0, v)), 4)
                    for k, v in list(observation.scores.items())[:64]
                },
                readings=observation.readings,
                snapshot_ref=incident.snapshot_ref if phase is Phase.START else None,
            ),
            summary=summary[:MAX_SUMMARY],
            occurred_at=to_utc(observation.occurred_at),
            published_at=to_utc(now),
        )
        EVENTS.labels(category=key.category, phase=phase.value).inc()
        logger.info(
            "incident %s %s %s on %s %s (confidence %.2f, severity %s)",
            incident.incident_id,
            phase.value,
            key.category,
            key.kind.value,
            key.source,
            event.confidence,
            event.severity.value,
        )
        return event
