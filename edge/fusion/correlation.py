"""Recent sensor readings, kept for a while so video suggestions can be corroborated."""

from __future__ import annotations

from collections import deque

from edge.fusion.config import CorrelationRule
from events import SensorReading

MAX_READINGS_PER_QUANTITY = 512


class ReadingWindow:
    """The last ``keep_s`` seconds of readings per quantity (bounded in count too)."""

    def __init__(self, keep_s: float) -> None:
        self._keep_s = keep_s
        self._by_quantity: dict[str, deque[SensorReading]] = {}

    def add(self, reading: SensorReading) -> None:
        """Remember a reading and forget readings older than the window."""
        readings = self._by_quantity.setdefault(
            reading.quantity, deque(maxlen=MAX_READINGS_PER_QUANTITY)
        )
        readings.append(reading)
        horizon = reading.observed_at.timestamp() - self._keep_s
        while readings and readings[0].observed_at.timestamp() < horizon:
            readings.popleft()

    def corroborating(
        self, rule: CorrelationRule, camera: str, at: float
    ) -> tuple[SensorReading, ...]:
        """Readings that satisfy ``rule`` within ``window_s`` of ``at``; newest per sensor."""
        if rule.cameras and camera not in rule.cameras:
            return ()
        newest: dict[str, SensorReading] = {}
        for reading in self._by_quantity.get(rule.quantity, ()):
            if rule.sensors and reading.sensor not in rule.sensors:
                continue
            if reading.value < rule.above:
                continue
            if abs(reading.observed_at.timestamp() - at) > rule.window_s:
                continue
            newest[reading.sensor] = reading
        return tuple(sorted(newest.values(), key=lambda r: r.observed_at))
