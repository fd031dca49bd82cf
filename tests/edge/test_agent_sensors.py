"""Sensors into a running agent over HTTP push and MQTT, malformed payloads counted,
and an operator's dismissal coming back on the acks topic."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import msgspec
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edge.agent import Agent
from edge.metrics import OPERATOR_ACTIONS, SENSOR_REJECTED
from events import ActionKind, OperatorAction, Phase, Severity, encode, new_id, topics
from tests.edge.test_agent_e2e import SITE, EventSubscriber, agent_config, wait_until
from tests.support.mosquitto import Mosquitto

TOKEN = "t0ken-for-tests"


def rejected(transport: str, reason: str) -> float:
    value: float = SENSOR_REJECTED.labels(transport=transport, reason=reason)._value.get()
    return value


@pytest.fixture
def running(
    tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Agent, EventSubscriber, httpx.Client, mqtt.Client]]:
    monkeypatch.setenv("TEST_AGENT_TOKEN", TOKEN)
    from edge.config import AgentConfig
    from streetsense.configfile import parse_config

    base = agent_config(tmp_path, mosquitto.port, tmp_path / "absent" / "card.yaml")
    text = msgspec.yaml.encode(base.model_dump(mode="json", exclude={"api"})).decode()
    config = parse_config(text + "api:\n  port: 0\n  token: ${TEST_AGENT_TOKEN}\n", AgentConfig)
    subscriber = EventSubscriber(mosquitto.port, "e2e")
    agent = Agent(config)
    agent.start()
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5
    )
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    try:
        assert agent.api is not None and agent.sensor_subscriber is not None
        assert agent.sensor_subscriber.wait_subscribed(15)
        http = httpx.Client(base_url=f"http://127.0.0.1:{agent.api.port}", timeout=10)
        yield agent, subscriber, http, client
        http.close()
    finally:
        client.loop_stop()
        client.disconnect()
        agent.stop()
        subscriber.close()


def test_http_push_with_token_raises_an_emergency_call_and_rejects_garbage(
    running: tuple[Agent, EventSubscriber, httpx.Client, mqtt.Client],
) -> None:
    agent, subscriber, http, _ = running
    pressed = {"quantity": "call_button", "value": "pressed"}
    assert http.post("/v1/sensors/button1", json=pressed).status_code == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    before = rejected("http", "not_json")
    bad = http.post("/v1/sensors/button1", content=b"{nope", headers=auth)
    assert bad.status_code == 400 and bad.json()["error"] == "not_json"
    assert rejected("http", "not_json") == before + 1

    assert http.post("/v1/sensors/button1", json=pressed, headers=auth).status_code == 202
    wait_until(lambda: bool(subscriber.events()), 20, "the emergency call")
    topic, event = subscriber.events()[0]
    assert topic == topics.events(SITE, "e2e", "emergency_call")
    assert event.severity is Severity.CRITICAL and event.phase is Phase.START
    assert event.evidence.readings[0].sensor == "button1"
    assert agent.health().alive


def test_mqtt_sensors_loud_noise_after_min_duration_and_malformed_counted(
    running: tuple[Agent, EventSubscriber, httpx.Client, mqtt.Client],
) -> None:
    agent, subscriber, _, client = running
    topic = topics.sensors(SITE, "e2e", "mic1")
    before = rejected("mqtt", "not_json")
    client.publish(topic, b"\xff\xfe not json", qos=1).wait_for_publish(5)
    wait_until(lambda: rejected("mqtt", "not_json") == before + 1, 10, "the rejection count")

    start = float(int(time.time()) - 10)
    for second in range(5):  # 95 dBA for 4 s: the default loud_noise rule needs 3 s
        payload = {
            "quantity": "noise",
            "value": 95.0,
            "unit": "dB(A)",
            "observed_at": start + second,
        }
        client.publish(topic, msgspec.json.encode(payload), qos=1).wait_for_publish(5)
    wait_until(lambda: bool(subscriber.events()), 20, "the loud noise event")
    _, event = subscriber.events()[0]
    assert event.category == "loud_noise" and event.severity is Severity.MEDIUM
    assert event.occurred_at == datetime.fromtimestamp(start + 3, UTC)  # the reading's time
    assert all(r.quantity == "sound_level" and r.unit == "dBA" for r in event.evidence.readings)
    assert agent.health().alive


def test_operator_dismissal_arrives_on_the_acks_topic(
    running: tuple[Agent, EventSubscriber, httpx.Client, mqtt.Client],
) -> None:
    agent, subscriber, http, client = running
    auth = {"Authorization": f"Bearer {TOKEN}"}
    http.post("/v1/sensors/button1", json={"quantity": "sos", "value": 1}, headers=auth)
    wait_until(lambda: bool(subscriber.events()), 20, "the emergency call")
    _, start = subscriber.events()[0]
    before = OPERATOR_ACTIONS.labels(action="dismiss")._value.get()
    action = OperatorAction(
        action_id=new_id(),
        event_id=start.event_id,
        incident_id=start.incident_id,
        action=ActionKind.DISMISS,
        operator="op-1",
        channel="api",
        at=datetime.now(UTC).replace(microsecond=0),
    )
    client.publish(topics.acks(SITE, "e2e"), encode(action), qos=1).wait_for_publish(5)
    wait_until(
        lambda: OPERATOR_ACTIONS.labels(action="dismiss")._value.get() == before + 1,
        10,
        "the dismissal to be applied",
    )
    assert agent.fusion.open_incidents() == 1  # still open; END will still be sent
