"""Sensor-only threshold rules with hysteresis and a minimum duration (pure state)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from edge.fusion.config import SensorRule
from events import SensorReading

EVIDENCE_READINGS = 8


@dataclass(slots=True)
class RuleTrack:
    """One rule applied to one sensor.

    Enter: the value stays at or above ``above`` for ``min_duration_s`` (reading
    time; 0 = at the first reading). Leave: the value stays below
    ``above - clear_margin`` for ``clear_hold_s``, or the sensor is silent for
    ``stale_after_s`` (see :meth:`expire`).
    """

    rule: SensorRule
    above_since: float | None = None
    below_since: float | None = None
    active: bool = False
    last_at: float = 0.0
    peak: float = 0.0
    recent: deque[SensorReading] = field(default_factory=lambda: deque(maxlen=EVIDENCE_READINGS))

    def update(self, reading: SensorReading) -> bool:
        """Feed one reading; return whether the rule is active."""
        # out of order: keep it as evidence, never rewind time
        at = max(reading.observed_at.timestamp(), self.last_at)
        self.last_at = at
        rule = self.rule
        if reading.value >= rule.above:
            self.recent.append(reading)
            self.below_since = None
            if self.above_since is None:
                self.above_since = at
                self.peak = reading.value
            self.peak = max(self.peak, reading.value)
            if not self.active and at - self.above_since >= rule.min_duration_s:
                self.active = True
            return self.active
        self.above_since = None
        if not self.active:
            self.recent.clear()
            return False
        if reading.value < rule.above - rule.clear_margin:
            if self.below_since is None:
                self.below_since = at
            if at - self.below_since >= rule.clear_hold_s:
                self._reset()
        else:
            self.below_since = None
        return self.active

    def expire(self, now: float) -> bool:
        """Deactivate when the sensor was silent for ``stale_after_s``; True if it did."""
        if self.active and now - self.last_at >= self.rule.stale_after_s:
            self._reset()
            return True
        return False

    def idle(self, now: float) -> bool:
        """Inactive, with nothing pending, and silent for ``stale_after_s``: safe to forget."""
        return (
            not self.active
            and self.above_since is None
            and now - self.last_at >= self.rule.stale_after_s
        )

    def _reset(self) -> None:
        self.active = False
        self.above_since = None
        self.below_since = None
        self.peak = 0.0
        self.recent.clear()
