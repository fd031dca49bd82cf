"""Validate and normalise lamppost sensor payloads into :class:`events.SensorReading`.

Pure functions (bytes in, readings out) shared by the MQTT and HTTP intakes;
:func:`accept` adds the metrics. A payload is one reading or a batch::

    {"quantity": "pm25", "value": 12.5, "unit": "µg/m³", "observed_at": "2026-05-01T10:00:00Z"}
    {"readings": [{"quantity": "noise", "value": 71.2, "unit": "dB(A)"}, ...],
     "observed_at": 1777629600.0}

``unit`` defaults to the canonical unit; ``observed_at`` (RFC 3339 with an
offset, or Unix seconds; ``timestamp`` is accepted too) defaults to the time
of receipt. Unknown extra keys (battery, rssi) are ignored. A payload is
accepted whole or rejected whole, with a :class:`SensorRejectedError` whose
``reason`` is one of :data:`REASONS`.
"""

from __future__ import annotations

import logging
import math
import re
from datetime import UTC, datetime

import msgspec

from edge import metrics
from edge.sources.config import IDENTIFIER_PATTERN, SensorConfig
from edge.sources.errors import SensorRejectedError
from edge.sources.units import Quantity, lookup_quantity, unit_key
from events import SensorReading

logger = logging.getLogger(__name__)

REASONS = (
    "oversize",
    "not_json",
    "not_object",
    "invalid_payload",
    "too_many_readings",
    "bad_sensor_id",
    "unknown_sensor",
    "sensor_mismatch",
    "unknown_quantity",
    "unknown_unit",
    "bad_value",
    "non_finite",
    "out_of_range",
    "bad_timestamp",
    "stale",
    "future",
)
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)
_BUTTON_WORDS = {"pressed": 1.0, "released": 0.0, "on": 1.0, "off": 0.0}
_EPOCH_MS_THRESHOLD = 1e11  # larger "seconds" values are milliseconds (year 5138+ otherwise)

Timestamp = str | float | None


class _RawReading(msgspec.Struct):
    quantity: str
    value: bool | float | str
    unit: str | None = None
    observed_at: Timestamp = None
    timestamp: Timestamp = None
    sensor: str | None = None


class _RawBatch(msgspec.Struct):
    readings: list[_RawReading]
    observed_at: Timestamp = None
    timestamp: Timestamp = None
    sensor: str | None = None


def check_sensor_id(sensor: str, config: SensorConfig) -> None:
    """Reject a sensor id that is malformed or not on the allow list."""
    if not _IDENTIFIER.fullmatch(sensor):
        raise SensorRejectedError("bad_sensor_id", f"sensor id {sensor[:80]!r} is not valid")
    if config.allowed_sensors and sensor not in config.allowed_sensors:
        raise SensorRejectedError("unknown_sensor", f"sensor {sensor!r} is not allowed")


def normalise(
    payload: bytes, *, sensor: str, config: SensorConfig, now: float
) -> list[SensorReading]:
    """Parse, validate and convert one payload from ``sensor`` received at ``now`` (Unix s)."""
    if len(payload) > config.max_payload_bytes:
        raise SensorRejectedError(
            "oversize", f"payload is {len(payload)} bytes; the limit is {config.max_payload_bytes}"
        )
    check_sensor_id(sensor, config)
    try:
        document = msgspec.json.decode(payload)
    except msgspec.DecodeError as exc:
        raise SensorRejectedError("not_json", f"payload is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise SensorRejectedError("not_object", "payload must be a JSON object")
    try:
        if "readings" in document:
            batch = msgspec.convert(document, _RawBatch)
            raws = batch.readings
            default_time = _first(batch.observed_at, batch.timestamp)
            claimed = batch.sensor
        else:
            single = msgspec.convert(document, _RawReading)
            raws = [single]
            default_time = None
            claimed = None
    except msgspec.ValidationError as exc:
        raise SensorRejectedError("invalid_payload", f"invalid payload: {exc}") from exc
    if not raws:
        raise SensorRejectedError("invalid_payload", "readings is empty")
    if len(raws) > config.max_readings_per_payload:
        raise SensorRejectedError(
            "too_many_readings",
            f"{len(raws)} readings; the limit is {config.max_readings_per_payload}",
        )
    return [
        _reading(raw, sensor=sensor, claimed=claimed, default_time=default_time, config=config,
                 now=now)
        for raw in raws
    ]  # fmt: skip


def _first(*values: Timestamp) -> Timestamp:
    return next((value for value in values if value is not None), None)


def _reading(
    raw: _RawReading,
    *,
    sensor: str,
    claimed: str | None,
    default_time: Timestamp,
    config: SensorConfig,
    now: float,
) -> SensorReading:
    for name in (claimed, raw.sensor):
        if name is not None and name != sensor:
            raise SensorRejectedError(
                "sensor_mismatch", f"payload names sensor {name[:80]!r}, sent as {sensor!r}"
            )
    quantity = lookup_quantity(raw.quantity)
    if quantity is None:
        raise SensorRejectedError("unknown_quantity", f"unknown quantity {raw.quantity[:80]!r}")
    value = _value(quantity, raw.value, raw.unit)
    observed_at = _timestamp(_first(raw.observed_at, raw.timestamp, default_time), config, now)
    return SensorReading(
        sensor=sensor,
        quantity=quantity.name,
        value=value,
        unit=quantity.unit,
        observed_at=observed_at,
    )


def _value(quantity: Quantity, raw: bool | float | str, unit: str | None) -> float:
    key = unit_key(unit) if unit is not None else ""
    if key and key not in quantity.units:
        raise SensorRejectedError(
            "unknown_unit", f"unit {str(unit)[:32]!r} is not accepted for {quantity.name}"
        )
    if quantity.boolean:
        return _button(raw)
    if isinstance(raw, bool | str):
        raise SensorRejectedError("bad_value", f"{quantity.name} needs a number, got {raw!r:.40}")
    value = quantity.units[key](raw) if key else raw
    if not math.isfinite(value):
        raise SensorRejectedError("non_finite", f"{quantity.name} value is not finite")
    if not quantity.minimum <= value <= quantity.maximum:
        raise SensorRejectedError(
            "out_of_range",
            f"{quantity.name} {value:g} {quantity.unit} is outside "
            f"[{quantity.minimum:g}, {quantity.maximum:g}]",
        )
    if quantity.integer and not value.is_integer():
        raise SensorRejectedError("bad_value", f"{quantity.name} must be a whole number")
    return float(value)


def _button(raw: bool | float | str) -> float:
    if isinstance(raw, bool):
        return 1.0 if raw else 0.0
    if isinstance(raw, str):
        word = _BUTTON_WORDS.get(raw.strip().lower())
        if word is None:
            raise SensorRejectedError("bad_value", f"call_button state {raw[:40]!r} is unknown")
        return word
    if raw in (0.0, 1.0):
        return float(raw)
    raise SensorRejectedError("bad_value", "call_button must be true/false, 1/0 or pressed")


def _timestamp(raw: Timestamp, config: SensorConfig, now: float) -> datetime:
    if raw is None:
        seconds = now
    elif isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError as exc:
            raise SensorRejectedError(
                "bad_timestamp", f"timestamp {raw[:40]!r} is not RFC 3339"
            ) from exc
        if parsed.tzinfo is None:
            raise SensorRejectedError("bad_timestamp", "timestamp needs a UTC offset")
        seconds = parsed.timestamp()
    else:
        if not math.isfinite(raw):
            raise SensorRejectedError("bad_timestamp", "timestamp is not finite")
        seconds = raw / 1000.0 if raw > _EPOCH_MS_THRESHOLD else raw
    if now - seconds > config.max_age_seconds:
        raise SensorRejectedError("stale", f"reading is {now - seconds:.0f} s old")
    if seconds - now > config.max_future_seconds:
        raise SensorRejectedError("future", f"reading is {seconds - now:.0f} s in the future")
    stamp = datetime.fromtimestamp(seconds, UTC)
    return stamp.replace(microsecond=stamp.microsecond // 1000 * 1000)


def accept(
    payload: bytes, *, sensor: str, transport: str, config: SensorConfig, now: float
) -> list[SensorReading]:
    """:func:`normalise` plus metrics: rejections by reason, acceptances by quantity."""
    try:
        readings = normalise(payload, sensor=sensor, config=config, now=now)
    except SensorRejectedError as exc:
        reject(transport, exc)
        raise
    count_accepted(readings)
    return readings


def count_accepted(readings: list[SensorReading]) -> None:
    """Count accepted readings by quantity."""
    for reading in readings:
        metrics.SENSOR_READINGS.labels(quantity=reading.quantity).inc()


def reject(transport: str, error: SensorRejectedError) -> None:
    """Count and log (at debug) one rejected payload."""
    metrics.SENSOR_REJECTED.labels(transport=transport, reason=error.reason).inc()
    logger.debug("sensor payload rejected via %s (%s): %s", transport, error.reason, error)
