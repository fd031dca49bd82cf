"""The fusion engine: classifications and sensor readings in, incident events out.

Pure logic: the clock is injected, nothing here reads the wall clock, sleeps or
does I/O (snapshots go through an injected :class:`SnapshotTaker`). Safe to
call from several threads (one lock).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

from edge.fusion.config import FusionConfig
from edge.fusion.correlation import ReadingWindow
from edge.fusion.incidents import IncidentBook, IncidentKey, Observation, SnapshotTaker
from edge.fusion.sensor_rules import RuleTrack
from edge.fusion.smoothing import LabelTrack
from edge.metrics import OPERATOR_ACTIONS
from edge.values import Classification
from events import ActionKind, Event, OperatorAction, SensorReading, Severity, SourceKind
from models.card import LabelAlert

logger = logging.getLogger(__name__)


def _max_severity(a: Severity, b: Severity | None) -> Severity:
    return a if b is None or a.rank >= b.rank else b


def _format_reading(reading: SensorReading) -> str:
    return f"{reading.quantity} {reading.value:g} {reading.unit} at {reading.sensor}"


class Fusion:
    """Turns model scores and sensor readings into incident events."""

    def __init__(
        self,
        config: FusionConfig,
        *,
        site: str,
        agent: str,
        clock: Callable[[], float],
        alerts: Mapping[str, LabelAlert] | None = None,
        snapshots: SnapshotTaker | None = None,
    ) -> None:
        self._config = config
        self._clock = clock
        self._alerts: dict[str, LabelAlert] = dict(alerts or {})
        self._book = IncidentBook(config.incidents, site, agent, clock, snapshots)
        self._window = ReadingWindow(config.reading_window_s)
        self._labels: dict[tuple[str, str], LabelTrack] = {}
        self._last: dict[tuple[str, str], Classification] = {}
        self._rules: dict[tuple[str, str], RuleTrack] = {}
        self._lock = threading.Lock()

    def set_alerts(self, alerts: Mapping[str, LabelAlert]) -> None:
        """Replace the label -> alert table (when a model card is (re)loaded)."""
        with self._lock:
            self._alerts = dict(alerts)
            self._labels.clear()

    def on_classification(self, result: Classification) -> list[Event]:
        """Feed one clip's scores; return the events it causes."""
        out: list[Event] = []
        with self._lock:
            touched: set[str] = set()
            for label, alert in self._alerts.items():
                score = result.scores.get(label)
                if score is None:
                    continue
                track = self._labels.get((result.camera, label))
                if track is None:
                    track = LabelTrack(threshold=alert.threshold, config=self._config.smoothing)
                    self._labels[(result.camera, label)] = track
                track.update(score, result.clip_ended_at)
                self._last[(result.camera, label)] = result
                touched.add(alert.category)
            for category in sorted(touched):
                self._reconcile_camera(result.camera, category, out, result.clip_ended_at)
        return out

    def on_reading(self, reading: SensorReading) -> list[Event]:
        """Feed one sensor reading; return the events it causes."""
        out: list[Event] = []
        with self._lock:
            self._window.add(reading)
            for rule in self._config.sensor_rules:
                if rule.quantity != reading.quantity:
                    continue
                if rule.sensors and reading.sensor not in rule.sensors:
                    continue
                track = self._rules.get((rule.name, reading.sensor))
                if track is None:
                    track = RuleTrack(rule=rule)
                    self._rules[(rule.name, reading.sensor)] = track
                active = track.update(reading)
                key = IncidentKey(SourceKind.SENSOR, reading.sensor, rule.category)
                observation = self._sensor_observation(track, reading) if active else None
                self._add(out, self._book.observe(key, observation, at=track.last_at))
            self._recorroborate(reading, out)
        return out

    def on_action(self, action: OperatorAction) -> bool:
        """Apply an operator's answer; True when it dismissed an open incident."""
        OPERATOR_ACTIONS.labels(action=action.action.value).inc()
        if action.action is not ActionKind.DISMISS:
            return False
        with self._lock:
            dismissed = self._book.dismiss(action.incident_id)
        logger.info(
            "operator %s dismissed incident %s via %s (open: %s)",
            action.operator,
            action.incident_id,
            action.channel,
            dismissed,
        )
        return dismissed

    def tick(self) -> list[Event]:
        """Time-driven work: end stale situations, send heartbeats. Call about once a second."""
        now = self._clock()
        out: list[Event] = []
        with self._lock:
            expired = {
                (camera, self._alerts[label].category)
                for (camera, label), track in self._labels.items()
                if track.expire(now)
            }
            for camera, category in sorted(expired):
                self._reconcile_camera(camera, category, out, now)
            for (name, sensor), rule_track in list(self._rules.items()):
                if rule_track.expire(now):
                    key = IncidentKey(SourceKind.SENSOR, sensor, rule_track.rule.category)
                    self._add(out, self._book.observe(key, None, at=now))
                elif rule_track.idle(now):  # forget silent sensors: memory stays bounded
                    del self._rules[(name, sensor)]
            out.extend(self._book.heartbeats())
        return out

    def open_incidents(self) -> int:
        """Number of incidents currently open."""
        with self._lock:
            return self._book.open_count()

    @staticmethod
    def _add(out: list[Event], event: Event | None) -> None:
        if event is not None:
            out.append(event)

    def _video_observation(
        self, result: Classification, label: str, alert: LabelAlert, track: LabelTrack
    ) -> Observation:
        confidence = track.confidence
        severity = Severity(alert.severity)
        readings: tuple[SensorReading, ...] = ()
        for rule in self._config.correlations:
            if rule.category != alert.category:
                continue
            found = self._window.corroborating(rule, result.camera, result.clip_ended_at)
            if not found:
                continue
            readings += found
            confidence = max(
                confidence, min(rule.max_confidence, confidence + rule.confidence_boost)
            )
            severity = _max_severity(severity, rule.severity)
        summary = (
            f"Possible {alert.category} on camera {result.camera} "
            f"(confidence {confidence:.2f}, model {result.model.name} {result.model.version})"
        )
        if readings:
            summary += "; corroborated by " + ", ".join(_format_reading(r) for r in readings[:3])
        return Observation(
            confidence=confidence,
            severity=severity,
            occurred_at=result.clip_ended_at,
            summary=summary + ". Suggestion for review.",
            scores=dict(result.scores),
            readings=readings[:64],
            model=result.model,
        )

    @staticmethod
    def _sensor_observation(track: RuleTrack, reading: SensorReading) -> Observation:
        rule = track.rule
        summary = (
            f"{rule.category.replace('_', ' ').capitalize()} at sensor {reading.sensor}: "
            f"{rule.quantity} peak {track.peak:g} {reading.unit} "
            f"(rule {rule.name}: >= {rule.above:g}"
            + (f" for {rule.min_duration_s:g} s" if rule.min_duration_s else "")
            + "). Suggestion for review."
        )
        return Observation(
            confidence=rule.confidence,
            severity=rule.severity,
            occurred_at=reading.observed_at.timestamp(),
            summary=summary,
            readings=tuple(track.recent),
        )

    def _recorroborate(self, reading: SensorReading, out: list[Event]) -> None:
        """A corroborating reading after the clip: re-evaluate open camera incidents."""
        categories = {
            rule.category
            for rule in self._config.correlations
            if rule.quantity == reading.quantity and reading.value >= rule.above
        }
        if not categories:
            return
        situations = {
            (camera, self._alerts[label].category)
            for (camera, label), track in self._labels.items()
            if track.active and self._alerts[label].category in categories
        }
        for camera, category in sorted(situations):
            if self._book.is_open(IncidentKey(SourceKind.CAMERA, camera, category)):
                self._reconcile_camera(camera, category, out, None)

    def _reconcile_camera(
        self, camera: str, category: str, out: list[Event], at: float | None
    ) -> None:
        """Tell the incident book the camera's state for one category.

        Several labels may share a category: the situation is active while any
        of them is, and reported with the most confident one.
        """
        best: Observation | None = None
        for label, alert in self._alerts.items():
            if alert.category != category:
                continue
            track = self._labels.get((camera, label))
            last = self._last.get((camera, label))
            if track is None or last is None or not track.active:
                continue
            observation = self._video_observation(last, label, alert, track)
            if best is None or observation.confidence > best.confidence:
                best = observation
        key = IncidentKey(SourceKind.CAMERA, camera, category)
        self._add(out, self._book.observe(key, best, at=at))
