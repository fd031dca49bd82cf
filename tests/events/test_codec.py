"""The wire contract: round trips, schema sync and specific rejections."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime

import jsonschema
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events import (
    MAX_PAYLOAD_BYTES,
    ActionKind,
    AgentState,
    AgentStatus,
    Event,
    EventError,
    InvalidFieldError,
    MalformedPayloadError,
    OperatorAction,
    OversizePayloadError,
    Phase,
    Severity,
    Source,
    SourceKind,
    UnsupportedVersionError,
    decode_action,
    decode_event,
    decode_status,
    encode,
    new_id,
    utc_now,
)
from events import schema as schema_module
from tests.events.strategies import events


def make_event(**overrides: object) -> Event:
    fields: dict[str, object] = {
        "event_id": new_id(),
        "incident_id": new_id(),
        "phase": Phase.START,
        "site": "oslo-centre",
        "agent": "post-17",
        "source": Source(kind=SourceKind.CAMERA, id="cam-1"),
        "category": "fight",
        "severity": Severity.HIGH,
        "confidence": 0.91,
        "occurred_at": utc_now(),
        "published_at": utc_now(),
    }
    fields.update(overrides)
    return Event(**fields)  # type: ignore[arg-type]


@given(events)
def test_event_round_trips(event: Event) -> None:
    assert decode_event(encode(event)) == event


@given(events)
@settings(max_examples=50)
def test_encoded_event_validates_against_published_schema(event: Event) -> None:
    schema = json.loads(schema_module.render("event"))
    jsonschema.validate(json.loads(encode(event)), schema)


@pytest.mark.parametrize("name", sorted(schema_module.MESSAGES))
def test_published_schema_is_in_sync(name: str) -> None:
    committed = (schema_module.SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8")
    assert committed == schema_module.render(name), "run `python -m events.schema`"


def test_action_and_status_round_trip() -> None:
    action = OperatorAction(
        action_id=new_id(),
        event_id=new_id(),
        incident_id=new_id(),
        action=ActionKind.DISMISS,
        operator="alice",
        channel="api",
        at=utc_now(),
    )
    status = AgentStatus(site="s1", agent="a1", state=AgentState.OFFLINE)
    assert decode_action(encode(action)) == action
    assert decode_status(encode(status)) == status


def _payload(**overrides: object) -> bytes:
    raw = msgspec.json.decode(encode(make_event()))
    raw.update(overrides)
    return msgspec.json.encode(raw)


@pytest.mark.parametrize(
    ("payload", "error", "reason"),
    [
        (b"not json", MalformedPayloadError, "malformed"),
        (b"[1, 2, 3]", MalformedPayloadError, "malformed"),
        (b'"a string"', MalformedPayloadError, "malformed"),
        (b"{}", UnsupportedVersionError, "unsupported_version"),
        (_payload(schema_version=2), UnsupportedVersionError, "unsupported_version"),
        (_payload(schema_version="1"), UnsupportedVersionError, "unsupported_version"),
        (_payload(confidence=1.5), InvalidFieldError, "invalid_field"),
        (_payload(site="Has/Slash"), InvalidFieldError, "invalid_field"),
        (_payload(phase="begin"), InvalidFieldError, "invalid_field"),
        (_payload(occurred_at="2026-01-01T00:00:00"), InvalidFieldError, "invalid_field"),
        (_payload(occurred_at="2026-01-01T00:00:00+02:00"), InvalidFieldError, "invalid_field"),
        (_payload(unexpected=True), InvalidFieldError, "invalid_field"),
        (b"{" + b" " * MAX_PAYLOAD_BYTES + b"}", OversizePayloadError, "oversize"),
    ],
)
def test_rejections_are_specific(payload: bytes, error: type[EventError], reason: str) -> None:
    with pytest.raises(error) as caught:
        decode_event(payload)
    assert caught.value.reason == reason
    assert str(caught.value)


def test_missing_field_names_the_field() -> None:
    raw = msgspec.json.decode(encode(make_event()))
    del raw["category"]
    with pytest.raises(InvalidFieldError, match="category"):
        decode_event(msgspec.json.encode(raw))


def test_naive_timestamps_are_refused_at_construction() -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(
            {**msgspec.to_builtins(make_event()), "published_at": datetime(2026, 1, 1)},
            Event,
        )


def test_severity_is_ordered() -> None:
    assert Severity.INFO.rank < Severity.MEDIUM.rank < Severity.CRITICAL.rank


@given(st.binary(max_size=2048))
def test_fuzzed_bytes_never_escape_the_error_tree(data: bytes) -> None:
    with contextlib.suppress(EventError):
        decode_event(data)


@given(
    st.recursive(
        st.none() | st.booleans() | st.floats() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
    )
)
def test_fuzzed_json_never_escapes_the_error_tree(value: object) -> None:
    with contextlib.suppress(EventError):
        decode_event(json.dumps(value).encode())


def test_timestamps_are_utc() -> None:
    assert utc_now().tzinfo is UTC
