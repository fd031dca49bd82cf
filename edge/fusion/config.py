"""Fusion rules as pydantic models, embedded in the agent config (``fusion:``).

Every rule has working defaults so a minimal agent config needs no ``fusion`` key.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from events import Severity

_ID = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SmoothingConfig(_Strict):
    """Per-camera temporal smoothing with hysteresis of each alert label's score."""

    alpha: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="EMA weight of the newest clip's score (1 = no smoothing).",
    )
    confirm_clips: int = Field(
        default=2,
        ge=1,
        le=100,
        description="Consecutive clips whose smoothed score is at or above the card threshold "
        "before an incident starts (one noisy clip never alerts when > 1).",
    )
    clear_margin: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Hysteresis: an incident clears only below threshold - margin.",
    )
    clear_hold_s: float = Field(
        default=4.0, ge=0, description="Seconds the smoothed score must stay below the clear level."
    )
    stale_after_s: float = Field(
        default=15.0,
        gt=0,
        description="An active camera incident ends when no clip arrived for this long.",
    )


class SensorRule(_Strict):
    """A sensor-only rule: ``quantity`` above a threshold for a minimum duration."""

    name: str = Field(pattern=_ID, description="Rule name, used in logs and summaries.")
    quantity: str = Field(pattern=_ID, description="Reading quantity, e.g. sound_level.")
    sensors: tuple[str, ...] = Field(
        default=(), description="Sensor ids the rule applies to; empty = all."
    )
    above: float = Field(description="The rule fires while the value is at or above this.")
    clear_margin: float = Field(
        default=0.0, ge=0, description="Hysteresis: the rule clears only below above - margin."
    )
    min_duration_s: float = Field(
        default=0.0,
        ge=0,
        description="Seconds the value must stay above before an incident starts.",
    )
    clear_hold_s: float = Field(
        default=0.0,
        ge=0,
        description="Seconds the value must stay below the clear level to end it.",
    )
    stale_after_s: float = Field(
        default=300.0,
        gt=0,
        description="An active incident ends when the sensor is silent this long.",
    )
    category: str = Field(pattern=_ID, description="Event category raised, e.g. loud_noise.")
    severity: Severity = Field(default=Severity.MEDIUM, description="Severity of the raised event.")
    confidence: float = Field(
        default=1.0, ge=0, le=1, description="Confidence reported (a measurement, not a guess)."
    )


class CorrelationRule(_Strict):
    """Raise a video suggestion when a sensor reading agrees with it in a time window."""

    category: str = Field(pattern=_ID, description="Video category this rule strengthens.")
    quantity: str = Field(pattern=_ID, description="Sensor quantity that corroborates it.")
    above: float = Field(description="The reading corroborates when at or above this value.")
    window_s: float = Field(
        default=10.0, gt=0, description="Max seconds between reading and clip end."
    )
    cameras: tuple[str, ...] = Field(
        default=(), description="Cameras the rule applies to; empty = all."
    )
    sensors: tuple[str, ...] = Field(default=(), description="Sensors that count; empty = all.")
    confidence_boost: float = Field(
        default=0.15, ge=0, le=1, description="Added to the smoothed confidence when corroborated."
    )
    max_confidence: float = Field(
        default=0.99, ge=0, le=1, description="Upper bound of a boosted confidence."
    )
    severity: Severity | None = Field(
        default=None, description="Raise the severity to at least this when corroborated."
    )


class IncidentConfig(_Strict):
    """Incident grouping: when UPDATEs are sent and how long after END a new START waits."""

    update_delta: float = Field(
        default=0.1, gt=0, le=1, description="Confidence change that sends an UPDATE."
    )
    heartbeat_s: float = Field(
        default=60.0, gt=0, description="An open incident sends an UPDATE at least this often."
    )
    cooldown_s: float = Field(
        default=30.0, ge=0, description="Seconds after END before a new incident of the same kind."
    )


def _default_sensor_rules() -> tuple[SensorRule, ...]:
    return (
        SensorRule(
            name="loud_noise",
            quantity="sound_level",
            above=85.0,
            clear_margin=3.0,
            min_duration_s=3.0,
            clear_hold_s=5.0,
            category="loud_noise",
            severity=Severity.MEDIUM,
        ),
        SensorRule(
            name="emergency_call",
            quantity="call_button",
            above=0.5,
            clear_hold_s=30.0,
            stale_after_s=3600.0,
            category="emergency_call",
            severity=Severity.CRITICAL,
        ),
        SensorRule(
            name="air_quality",
            quantity="pm2_5",
            above=55.0,
            clear_margin=5.0,
            min_duration_s=600.0,
            clear_hold_s=600.0,
            stale_after_s=1800.0,
            category="air_quality",
            severity=Severity.LOW,
        ),
    )


def _default_correlations() -> tuple[CorrelationRule, ...]:
    return (
        CorrelationRule(
            category="fight", quantity="sound_level", above=80.0, severity=Severity.CRITICAL
        ),
    )


class FusionConfig(_Strict):
    """Everything fusion needs besides the model card's thresholds."""

    smoothing: SmoothingConfig = Field(
        default=SmoothingConfig(), description="Camera score smoothing and hysteresis."
    )
    sensor_rules: tuple[SensorRule, ...] = Field(
        default_factory=_default_sensor_rules,
        description="Sensor-only rules (defaults: loud_noise, emergency_call, air_quality).",
    )
    correlations: tuple[CorrelationRule, ...] = Field(
        default_factory=_default_correlations,
        description="Video + sensor agreement rules (default: fight + sound_level >= 80 dBA).",
    )
    incidents: IncidentConfig = Field(
        default=IncidentConfig(), description="Incident updates, heartbeat and cooldown."
    )
    reading_window_s: float = Field(
        default=60.0, gt=0, description="How long recent readings are kept for correlation."
    )
