"""Fuzz the MQTT payload path: no crash, every message either accepted or counted."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import paho.mqtt.client as mqtt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

from broker.config import parse_adapter_config
from broker.intake import EventIn, Rejected, StatusIn, classify
from broker.main import Adapter
from events import MAX_PAYLOAD_BYTES, encode, topics
from tests.broker.helpers import eventually, sample
from tests.events.strategies import events as valid_events
from tests.support.mosquitto import Mosquitto

REASONS = {
    "oversize", "malformed", "unsupported_version", "invalid_field", "invalid",
    "topic_mismatch", "bad_topic",
}  # fmt: skip

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def mutated_events(draw: st.DrawFn) -> bytes:
    """A valid event with one field replaced, removed or added."""
    document = json.loads(encode(draw(valid_events)))
    key = draw(st.sampled_from(sorted(document)))
    action = draw(st.sampled_from(["replace", "drop", "add"]))
    if action == "replace":
        document[key] = draw(json_values)
    elif action == "drop":
        del document[key]
    else:
        document[draw(st.text(min_size=1, max_size=10))] = draw(json_values)
    return json.dumps(document).encode()


payloads = (
    st.binary(max_size=300)
    | st.text(max_size=300).map(str.encode)
    | json_values.map(lambda value: json.dumps(value).encode())
    | mutated_events()
    | valid_events.map(encode)
    | st.just(b"x" * (MAX_PAYLOAD_BYTES + 1))
)
topic_names = st.sampled_from(
    [topics.events("s1", "a1", "fight"), topics.status("s1", "a1"), "streetsense/v1/x",
     "other/topic", topics.acks("s1", "a1")]
) | st.text(max_size=40)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(topic=topic_names, payload=payloads)
def test_classify_never_raises_and_names_a_known_reason(topic: str, payload: bytes) -> None:
    verdict = classify(topic, payload)
    assert isinstance(verdict, EventIn | StatusIn | Rejected)
    if isinstance(verdict, Rejected):
        assert verdict.reason in REASONS
    if isinstance(verdict, EventIn):
        assert topic == topics.events(
            verdict.event.site, verdict.event.agent, verdict.event.category
        )


@settings(max_examples=200, deadline=None)
@given(event=valid_events)
def test_valid_events_on_their_own_topic_are_accepted(event: object) -> None:
    topic = topics.events(event.site, event.agent, event.category)  # type: ignore[attr-defined]
    verdict = classify(topic, encode(event))  # type: ignore[arg-type]
    assert isinstance(verdict, EventIn) and verdict.event == event


def _rejected_total() -> float:
    return sum(sample("streetsense_adapter_rejected_total", {"source": "mqtt", "reason": r})
               for r in REASONS)  # fmt: skip


@settings(max_examples=1, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=st.lists(payloads, min_size=60, max_size=60))
def test_fuzzed_payloads_through_a_real_broker(
    batch: list[bytes], tmp_path_factory: object, mosquitto: Mosquitto
) -> None:
    workdir = tmp_path_factory.mktemp("fuzz")  # type: ignore[attr-defined]
    topic = topics.events("s1", "a1", "fight")
    expected_valid = sum(isinstance(classify(topic, payload), EventIn) for payload in batch)
    config = parse_adapter_config(f"""
mqtt: {{port: {mosquitto.port}, client_id: fuzz-adapter, shared_group: fuzz}}
storage: {{kind: sqlite, path: {Path(workdir) / "adapter.db"}}}
outputs: {{journal: {{type: log, path: {Path(workdir) / "journal.log"}}}}}
routes: [{{name: all, outputs: [journal]}}]
api: {{enabled: false}}
""")  # fmt: skip

    async def scenario() -> None:
        rejected_before = _rejected_total()
        accepted_before = sample("streetsense_adapter_events_in_total", {"category": "fight"})
        duplicates_before = sample("streetsense_adapter_duplicates_total")
        async with Adapter(config) as adapter:
            assert adapter._ingest is not None and await adapter._ingest.wait_connected(20)
            client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
            client.connect("127.0.0.1", mosquitto.port)
            client.loop_start()
            try:
                for payload in batch:
                    client.publish(topic, payload, qos=1).wait_for_publish(10)
            finally:
                client.loop_stop()
                client.disconnect()

            def settled() -> bool:
                accepted = sample("streetsense_adapter_events_in_total", {"category": "fight"})
                duplicates = sample("streetsense_adapter_duplicates_total")
                counted = (
                    (_rejected_total() - rejected_before)
                    + (accepted - accepted_before)
                    + (duplicates - duplicates_before)
                )
                return counted == len(batch)

            await eventually(settled, limit_s=60, what="every message accounted for")
            assert adapter.mqtt_connected  # nothing crashed the adapter
        accepted = sample("streetsense_adapter_events_in_total", {"category": "fight"})
        duplicates = sample("streetsense_adapter_duplicates_total")
        assert (accepted - accepted_before) + (duplicates - duplicates_before) == expected_valid

    asyncio.run(scenario())
