"""Fusion, table-driven with an injected clock: hysteresis, sensor rules, correlation,
cooldown, incident start / update / end, operator dismissal."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from edge.fusion import (
    CorrelationRule,
    Fusion,
    FusionConfig,
    IncidentConfig,
    SensorRule,
    SmoothingConfig,
)
from edge.metrics import OPERATOR_ACTIONS
from edge.values import Classification
from events import (
    ActionKind,
    Event,
    ModelRef,
    OperatorAction,
    Phase,
    SensorReading,
    Severity,
    SourceKind,
    decode_event,
    encode,
    new_id,
)
from models.card import LabelAlert

T0 = 1_760_000_000.0
MODEL = ModelRef(name="fight-test", version="1.0")
ALERTS = {"fight": LabelAlert(category="fight", threshold=0.7, severity="high")}


class Clock:
    """A manual clock: tests move time explicitly."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def clip(camera: str, at: float, **scores: float) -> Classification:
    return Classification(
        camera=camera,
        clip_started_at=at - 1.0,
        clip_ended_at=at,
        scores=dict(scores),
        model=MODEL,
        inference_seconds=0.01,
    )


def reading(
    sensor: str, quantity: str, value: float, at: float, unit: str = "dBA"
) -> SensorReading:
    return SensorReading(
        sensor=sensor,
        quantity=quantity,
        value=value,
        unit=unit,
        observed_at=datetime.fromtimestamp(at, UTC),
    )


def make(config: FusionConfig | None = None, clock: Clock | None = None) -> tuple[Fusion, Clock]:
    clock = clock or Clock()
    fusion = Fusion(
        config or FusionConfig(), site="oslo", agent="post-1", clock=clock, alerts=ALERTS
    )
    return fusion, clock


def feed_scores(fusion: Fusion, clock: Clock, scores: list[float], step: float = 1.0) -> list[str]:
    """One clip per ``step`` seconds; returns the phases emitted at each step ('' = none)."""
    phases = []
    for index, score in enumerate(scores):
        clock.now = T0 + index * step
        events = fusion.on_classification(clip("cam1", clock.now, fight=score, no_fight=1 - score))
        phases.append(",".join(e.phase.value for e in events))
    return phases


SMOOTH = SmoothingConfig(alpha=0.5, confirm_clips=2, clear_margin=0.1, clear_hold_s=3.0)


@pytest.mark.parametrize(
    ("case", "smoothing", "scores", "expected"),
    [
        ("one noisy clip never alerts", SMOOTH, [0.1, 0.99, 0.1, 0.1], ["", "", "", ""]),
        ("two noisy clips in a row are smoothed away", SMOOTH, [0.0, 0.95, 0.95, 0.0], [""] * 4),
        ("sustained score starts after confirm_clips", SMOOTH, [0.9, 0.9, 0.9], ["", "start", ""]),
        (
            "a dip inside the hysteresis band keeps the incident",
            SMOOTH,
            [0.9, 0.9, 0.65, 0.65, 0.65, 0.65, 0.65],
            ["", "start", "", "", "", "", ""],
        ),
        (
            "below the clear level for the hold time ends it",
            SMOOTH,
            [0.9, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1],
            ["", "start", "", "", "", "end", ""],
        ),
        (
            "recovering before the hold time cancels the end",
            SMOOTH,
            [0.9, 0.9, 0.2, 0.2, 0.95, 0.95, 0.2, 0.2],
            ["", "start", "", "", "", "", "", ""],
        ),
        (
            "alpha 1 and confirm 1: raw threshold crossing",
            SmoothingConfig(alpha=1.0, confirm_clips=1, clear_margin=0.0, clear_hold_s=0.0),
            [0.69, 0.7, 0.69],
            ["", "start", "end"],
        ),
    ],
)
def test_camera_hysteresis(
    case: str, smoothing: SmoothingConfig, scores: list[float], expected: list[str]
) -> None:
    config = FusionConfig(smoothing=smoothing, incidents=IncidentConfig(update_delta=1.0))
    fusion, clock = make(config)
    assert feed_scores(fusion, clock, scores) == expected, case


def test_start_event_carries_everything_an_operator_and_consumer_need() -> None:
    fusion, clock = make()
    feed_scores(fusion, clock, [0.9])
    clock.now = T0 + 1.0
    captured = T0 + 0.9876
    (event,) = fusion.on_classification(clip("cam1", captured, fight=0.9, no_fight=0.1))
    assert event.phase is Phase.START
    assert (event.site, event.agent, event.category) == ("oslo", "post-1", "fight")
    assert event.source.kind is SourceKind.CAMERA and event.source.id == "cam1"
    assert event.severity is Severity.HIGH
    assert event.model == MODEL
    assert event.evidence.scores == {"fight": 0.9, "no_fight": 0.1}
    assert event.occurred_at == datetime.fromtimestamp(T0 + 0.987, UTC)  # capture time, ms
    assert event.published_at == datetime.fromtimestamp(T0 + 1.0, UTC)
    assert event.requires_review is True
    assert "fight" in event.summary and "cam1" in event.summary
    assert decode_event(encode(event)) == event  # valid on the wire


def test_labels_become_wire_identifiers() -> None:
    alerts = {"Fight Scene": LabelAlert(category="fight", threshold=0.5)}
    clock = Clock()
    config = FusionConfig(smoothing=SmoothingConfig(confirm_clips=1))
    fusion = Fusion(config, site="s", agent="a", clock=clock, alerts=alerts)
    (event,) = fusion.on_classification(clip("cam1", T0, **{"Fight Scene": 0.9, "Other": 0.1}))
    assert set(event.evidence.scores) == {"fight_scene", "other"}
    decode_event(encode(event))


def test_update_on_material_change_and_heartbeat_then_stale_end() -> None:
    config = FusionConfig(
        smoothing=SmoothingConfig(alpha=1.0, confirm_clips=1, stale_after_s=10.0),
        incidents=IncidentConfig(update_delta=0.1, heartbeat_s=30.0),
    )
    fusion, clock = make(config)
    (start,) = fusion.on_classification(clip("cam1", T0, fight=0.75))
    clock.now += 1
    assert fusion.on_classification(clip("cam1", clock.now, fight=0.8)) == []  # < delta
    clock.now += 1
    (update,) = fusion.on_classification(clip("cam1", clock.now, fight=0.95))
    assert update.phase is Phase.UPDATE and update.incident_id == start.incident_id
    assert update.confidence == pytest.approx(0.95)
    assert update.event_id != start.event_id
    clock.now += 5
    fusion.on_classification(clip("cam1", clock.now, fight=0.95))
    clock.now += 5
    assert fusion.tick() == []  # 5 s since the last clip, heartbeat not due
    clock.now += 24.5  # camera silent; 30 s since the last UPDATE
    (stale_end,) = fusion.tick()  # stale: > 10 s without clips
    assert stale_end.phase is Phase.END
    assert stale_end.occurred_at == datetime.fromtimestamp(clock.now, UTC)
    assert fusion.open_incidents() == 0


def test_heartbeat_update_while_clips_keep_the_same_score() -> None:
    config = FusionConfig(
        smoothing=SmoothingConfig(alpha=1.0, confirm_clips=1, stale_after_s=120.0),
        incidents=IncidentConfig(heartbeat_s=10.0),
    )
    fusion, clock = make(config)
    phases = []
    for _ in range(25):
        phases += [e.phase for e in fusion.on_classification(clip("cam1", clock.now, fight=0.8))]
        phases += [e.phase for e in fusion.tick()]
        clock.now += 1
    assert phases == [Phase.START, Phase.UPDATE, Phase.UPDATE]


def test_cooldown_delays_a_new_incident_of_the_same_kind() -> None:
    config = FusionConfig(
        smoothing=SmoothingConfig(alpha=1.0, confirm_clips=1, clear_margin=0.0, clear_hold_s=0.0),
        incidents=IncidentConfig(cooldown_s=20.0),
    )
    fusion, clock = make(config)
    (first,) = fusion.on_classification(clip("cam1", clock.now, fight=0.9))
    clock.now += 1
    (end,) = fusion.on_classification(clip("cam1", clock.now, fight=0.1))
    assert end.phase is Phase.END and end.incident_id == first.incident_id
    assert end.occurred_at == datetime.fromtimestamp(clock.now, UTC)  # the clearing clip
    for _ in range(19):
        clock.now += 1
        assert fusion.on_classification(clip("cam1", clock.now, fight=0.9)) == []
    other = fusion.on_classification(clip("cam2", clock.now, fight=0.9))
    assert [e.phase for e in other] == [Phase.START]  # cooldown is per camera and category
    clock.now += 1
    (second,) = fusion.on_classification(clip("cam1", clock.now, fight=0.9))
    assert second.phase is Phase.START and second.incident_id != first.incident_id


LOUD = SensorRule(
    name="loud",
    quantity="sound_level",
    above=85.0,
    clear_margin=3.0,
    min_duration_s=3.0,
    clear_hold_s=2.0,
    category="loud_noise",
    severity=Severity.MEDIUM,
)
CALL = SensorRule(
    name="call",
    quantity="call_button",
    above=0.5,
    category="emergency_call",
    severity=Severity.CRITICAL,
)
AIR = SensorRule(
    name="air",
    quantity="pm2_5",
    above=55.0,
    min_duration_s=600.0,
    category="air_quality",
    severity=Severity.LOW,
)


@pytest.mark.parametrize(
    ("case", "rule", "samples", "expected"),
    [
        (
            "loud for less than the minimum duration: nothing",
            LOUD,
            [(0, 90), (1, 91), (2, 92), (3, 70)],
            ["", "", "", ""],
        ),
        (
            "loud for 3 s starts, quiet for the hold time ends",
            LOUD,
            [(0, 90), (1, 91), (2, 92), (3, 90), (4, 70), (5, 70), (6, 70)],
            ["", "", "", "start", "", "", "end"],
        ),
        (
            "inside the hysteresis band stays on",
            LOUD,
            [(0, 90), (3, 90), (4, 83), (8, 83), (9, 83)],
            ["", "start", "", "", ""],
        ),
        ("call button: critical at once", CALL, [(0, 0), (1, 1), (2, 1)], ["", "start", ""]),
        (
            "pm2_5 needs ten minutes above the limit",
            AIR,
            [(0, 60), (300, 70), (599, 70), (600, 65)],
            ["", "", "", "start"],
        ),
        ("pm2_5 interrupted restarts the timer", AIR, [(0, 60), (300, 50), (700, 60)], [""] * 3),
    ],
)
def test_sensor_rules(
    case: str, rule: SensorRule, samples: list[tuple[float, float]], expected: list[str]
) -> None:
    config = FusionConfig(
        sensor_rules=(rule,), correlations=(), incidents=IncidentConfig(cooldown_s=0)
    )
    fusion, clock = make(config)
    phases = []
    for offset, value in samples:
        clock.now = T0 + offset
        events = fusion.on_reading(reading("mic1", rule.quantity, value, clock.now))
        phases.append(",".join(e.phase.value for e in events))
    assert phases == expected, case


def test_sensor_event_content_and_rules_per_sensor() -> None:
    config = FusionConfig(sensor_rules=(CALL,), correlations=())
    fusion, _ = make(config)
    (start,) = fusion.on_reading(reading("post7_button", "call_button", 1, T0, unit="bool"))
    assert start.severity is Severity.CRITICAL and start.category == "emergency_call"
    assert start.source.kind is SourceKind.SENSOR and start.source.id == "post7_button"
    assert start.model is None and start.confidence == 1.0
    assert start.evidence.readings[0].value == 1
    assert start.occurred_at == datetime.fromtimestamp(T0, UTC)
    # a second sensor is a separate situation
    (other,) = fusion.on_reading(reading("post8_button", "call_button", 1, T0, unit="bool"))
    assert other.incident_id != start.incident_id
    decode_event(encode(start))


def test_silent_sensor_ends_its_incident() -> None:
    rule = CALL.model_copy(update={"stale_after_s": 60.0})
    fusion, clock = make(FusionConfig(sensor_rules=(rule,), correlations=()))
    fusion.on_reading(reading("b1", "call_button", 1, T0, unit="bool"))
    clock.now = T0 + 59
    assert fusion.tick() == []
    clock.now = T0 + 60
    assert [e.phase for e in fusion.tick()] == [Phase.END]


FIGHT_SOUND = CorrelationRule(
    category="fight",
    quantity="sound_level",
    above=80.0,
    window_s=10.0,
    confidence_boost=0.15,
    max_confidence=0.99,
    severity=Severity.CRITICAL,
)


def _correlated(readings: list[tuple[str, float, float]]) -> Event:
    config = FusionConfig(
        smoothing=SmoothingConfig(alpha=1.0, confirm_clips=1),
        sensor_rules=(),
        correlations=(FIGHT_SOUND,),
    )
    fusion, clock = make(config)
    for sensor, value, offset in readings:
        fusion.on_reading(reading(sensor, "sound_level", value, T0 + offset))
    clock.now = T0
    (event,) = fusion.on_classification(clip("cam1", T0, fight=0.8))
    return event


@pytest.mark.parametrize(
    ("case", "readings", "confidence", "severity", "evidence"),
    [
        ("no reading", [], 0.8, Severity.HIGH, 0),
        ("quiet reading does not corroborate", [("mic1", 70.0, -2)], 0.8, Severity.HIGH, 0),
        ("loud within the window", [("mic1", 92.0, -5)], 0.95, Severity.CRITICAL, 1),
        ("loud outside the window", [("mic1", 92.0, -11)], 0.8, Severity.HIGH, 0),
        (
            "newest reading per sensor, two sensors",
            [("mic1", 85.0, -6), ("mic1", 90.0, -3), ("mic2", 81.0, -1)],
            0.95,
            Severity.CRITICAL,
            2,
        ),
    ],
)
def test_correlation_raises_confidence_and_severity(
    case: str,
    readings: list[tuple[str, float, float]],
    confidence: float,
    severity: Severity,
    evidence: int,
) -> None:
    event = _correlated(readings)
    assert event.confidence == pytest.approx(confidence), case
    assert event.severity is severity, case
    assert len(event.evidence.readings) == evidence, case
    if evidence:
        assert all(r.value >= 80 for r in event.evidence.readings)
        assert "corroborated" in event.summary


def test_boost_is_bounded() -> None:
    config = FusionConfig(
        smoothing=SmoothingConfig(alpha=1.0, confirm_clips=1),
        sensor_rules=(),
        correlations=(FIGHT_SOUND,),
    )
    fusion, _ = make(config)
    fusion.on_reading(reading("mic1", "sound_level", 95, T0))
    (event,) = fusion.on_classification(clip("cam1", T0, fight=0.97))
    assert event.confidence == pytest.approx(0.99)


def test_reading_after_start_updates_the_open_incident() -> None:
    config = FusionConfig(
        smoothing=SmoothingConfig(alpha=1.0, confirm_clips=1),
        sensor_rules=(),
        correlations=(FIGHT_SOUND,),
    )
    fusion, clock = make(config)
    (start,) = fusion.on_classification(clip("cam1", T0, fight=0.8))
    clock.now = T0 + 2
    (update,) = fusion.on_reading(reading("mic1", "sound_level", 93, T0 + 2))
    assert update.phase is Phase.UPDATE and update.incident_id == start.incident_id
    assert update.severity is Severity.CRITICAL
    assert [r.sensor for r in update.evidence.readings] == ["mic1"]


def test_dismissed_incident_sends_no_updates_but_still_ends() -> None:
    config = FusionConfig(
        smoothing=SmoothingConfig(alpha=1.0, confirm_clips=1, clear_margin=0, clear_hold_s=0),
        incidents=IncidentConfig(update_delta=0.05, heartbeat_s=5.0),
    )
    fusion, clock = make(config)
    (start,) = fusion.on_classification(clip("cam1", T0, fight=0.75))
    before = OPERATOR_ACTIONS.labels(action="dismiss")._value.get()
    action = OperatorAction(
        action_id=new_id(),
        event_id=start.event_id,
        incident_id=start.incident_id,
        action=ActionKind.DISMISS,
        operator="op-7",
        channel="api",
        at=datetime.fromtimestamp(T0 + 1, UTC),
    )
    assert fusion.on_action(action) is True
    assert OPERATOR_ACTIONS.labels(action="dismiss")._value.get() == before + 1
    for step in range(1, 10):
        clock.now = T0 + step
        assert fusion.on_classification(clip("cam1", clock.now, fight=0.75 + step * 0.02)) == []
        assert fusion.tick() == []
    clock.now += 1
    (end,) = fusion.on_classification(clip("cam1", clock.now, fight=0.1))
    assert end.phase is Phase.END and end.incident_id == start.incident_id
    assert "dismissed" in end.summary


def test_actions_for_unknown_incidents_are_counted_and_harmless() -> None:
    fusion, _ = make()
    before = OPERATOR_ACTIONS.labels(action="acknowledge")._value.get()
    action = OperatorAction(
        action_id=new_id(),
        event_id=new_id(),
        incident_id=new_id(),
        action=ActionKind.ACKNOWLEDGE,
        operator="op",
        channel="dc09",
        at=datetime.fromtimestamp(T0, UTC),
    )
    assert fusion.on_action(action) is False
    assert OPERATOR_ACTIONS.labels(action="acknowledge")._value.get() == before + 1
    dismiss = msgspec.structs.replace(action, action=ActionKind.DISMISS)
    assert fusion.on_action(dismiss) is False


def test_unknown_labels_and_unconfigured_cameras_are_ignored() -> None:
    fusion, _ = make(FusionConfig(smoothing=SmoothingConfig(confirm_clips=1)))
    assert fusion.on_classification(clip("cam1", T0, walking=0.99)) == []
    fusion.set_alerts({})
    assert fusion.on_classification(clip("cam1", T0, fight=0.99)) == []


def test_silent_sensors_are_forgotten_so_memory_stays_bounded() -> None:
    rule = CALL.model_copy(update={"stale_after_s": 60.0})
    fusion, clock = make(FusionConfig(sensor_rules=(rule,), correlations=()))
    for n in range(100):  # many sensors, none pressed
        fusion.on_reading(reading(f"b{n}", "call_button", 0, T0, unit="bool"))
    assert len(fusion._rules) == 100
    clock.now = T0 + 61
    assert fusion.tick() == []
    assert len(fusion._rules) == 0
    # a forgotten sensor starts afresh
    assert [e.phase for e in fusion.on_reading(reading("b1", "call_button", 1, clock.now))] == [
        Phase.START
    ]


def test_labels_sharing_a_category_make_one_situation() -> None:
    alerts = {
        "punch": LabelAlert(category="fight", threshold=0.6, severity="high"),
        "kick": LabelAlert(category="fight", threshold=0.6, severity="high"),
    }
    clock = Clock()
    config = FusionConfig(
        smoothing=SmoothingConfig(alpha=1.0, confirm_clips=1, clear_margin=0, clear_hold_s=0)
    )
    fusion = Fusion(config, site="s", agent="a", clock=clock, alerts=alerts)
    phases = []
    for step, (punch, kick) in enumerate([(0.9, 0.1), (0.1, 0.9), (0.7, 0.95), (0.1, 0.1)]):
        clock.now = T0 + step
        events = fusion.on_classification(clip("cam1", clock.now, punch=punch, kick=kick))
        phases += [(e.phase, e.confidence) for e in events]
    # active while either label is; no END/START flapping when the other label takes over
    assert phases == [(Phase.START, 0.9), (Phase.END, 0.95)]
