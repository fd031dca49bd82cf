"""Fusion invariants over arbitrary inputs (hypothesis): whatever arrives, every event is
valid on the wire and every incident reads START, UPDATE*, END (at most once each)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.fusion import Fusion, FusionConfig, IncidentConfig, SmoothingConfig
from edge.values import Classification
from events import Event, ModelRef, Phase, SensorReading, decode_event, encode
from models.card import LabelAlert

T0 = 1_760_000_000.0
ALERTS = {
    "fight": LabelAlert(category="fight", threshold=0.6, severity="high"),
    "fall": LabelAlert(category="fall", threshold=0.8, severity="medium"),
}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


clip_step = st.tuples(
    st.just("clip"),
    st.sampled_from(["cam1", "cam2"]),
    st.floats(0, 1),
    st.floats(0, 1),
)
reading_step = st.tuples(
    st.just("reading"),
    st.sampled_from(["mic1", "button1", "air1"]),
    st.sampled_from(["sound_level", "call_button", "pm2_5", "people_count"]),
    st.floats(-1e6, 1e6, allow_nan=False),
)
tick_step = st.tuples(st.just("tick"), st.floats(0, 120), st.just(0.0), st.just(0.0))
steps = st.lists(
    st.tuples(st.floats(0, 5), st.one_of(clip_step, reading_step, tick_step)), max_size=120
)


@settings(max_examples=150, deadline=None)
@given(steps=steps, confirm=st.integers(1, 3), cooldown=st.floats(0, 30))
def test_events_are_valid_and_incidents_are_well_formed(
    steps: list[tuple[float, tuple[str, object, object, object]]], confirm: int, cooldown: float
) -> None:
    clock = Clock()
    config = FusionConfig(
        smoothing=SmoothingConfig(confirm_clips=confirm, clear_hold_s=2, stale_after_s=10),
        incidents=IncidentConfig(cooldown_s=cooldown, heartbeat_s=20),
    )
    fusion = Fusion(config, site="s", agent="a", clock=clock, alerts=ALERTS)
    model = ModelRef(name="m", version="1")
    events: list[Event] = []
    for advance, (kind, a, b, c) in steps:
        clock.now += advance
        if kind == "clip":
            assert isinstance(a, str) and isinstance(b, float) and isinstance(c, float)
            result = Classification(
                camera=a,
                clip_started_at=clock.now - 1,
                clip_ended_at=clock.now,
                scores={"fight": b, "fall": c, "other": 1 - b},
                model=model,
                inference_seconds=0.0,
            )
            events += fusion.on_classification(result)
        elif kind == "reading":
            assert isinstance(a, str) and isinstance(b, str) and isinstance(c, float)
            reading = SensorReading(
                sensor=a,
                quantity=b,
                value=c,
                unit="x",
                observed_at=datetime.fromtimestamp(clock.now, UTC),
            )
            events += fusion.on_reading(reading)
        else:
            assert isinstance(a, float)
            clock.now += a
            events += fusion.tick()

    phases: dict[str, list[Phase]] = {}
    for event in events:
        assert decode_event(encode(event)) == event
        assert 0.0 <= event.confidence <= 1.0
        phases.setdefault(event.incident_id, []).append(event.phase)
    for history in phases.values():
        assert history[0] is Phase.START
        assert Phase.START not in history[1:]
        assert Phase.END not in history[:-1]
    assert len({e.event_id for e in events}) == len(events)
    open_now = sum(1 for history in phases.values() if history[-1] is not Phase.END)
    assert open_now == fusion.open_incidents()
