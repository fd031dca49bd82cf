"""Hypothesis strategies that build valid wire messages."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import strategies as st

from events import (
    Event,
    Evidence,
    ModelRef,
    Phase,
    SensorReading,
    Severity,
    Source,
    SourceKind,
)

identifiers = st.from_regex(r"\A[a-z0-9][a-z0-9_.-]{0,20}\Z")
ids = st.from_regex(r"\A[A-Za-z0-9_-]{8,40}\Z")
times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000))
probabilities = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)

readings = st.builds(
    SensorReading,
    sensor=identifiers,
    quantity=identifiers,
    value=st.floats(allow_nan=False, allow_infinity=False, width=32),
    unit=st.sampled_from(["dBA", "ug/m3", "bool", "count"]),
    observed_at=times,
)

evidence = st.builds(
    Evidence,
    scores=st.dictionaries(identifiers, probabilities, max_size=4),
    readings=st.lists(readings, max_size=3).map(tuple),
    snapshot_ref=st.none() | st.text(max_size=40),
)

events = st.builds(
    Event,
    event_id=ids,
    incident_id=ids,
    phase=st.sampled_from(Phase),
    site=identifiers,
    agent=identifiers,
    source=st.builds(Source, kind=st.sampled_from(SourceKind), id=identifiers),
    category=identifiers,
    severity=st.sampled_from(Severity),
    confidence=probabilities,
    model=st.none() | st.builds(ModelRef, name=identifiers, version=st.just("1.0.0")),
    evidence=evidence,
    summary=st.text(max_size=80),
    occurred_at=times,
    published_at=times,
    requires_review=st.booleans(),
)
