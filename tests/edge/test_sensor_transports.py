"""Sensor intake over a real mosquitto and over HTTP (FastAPI TestClient)."""

from __future__ import annotations

import json
import queue
import time
import uuid
from collections.abc import Iterator

import httpx
import paho.mqtt.client as mqtt
import pytest
from fastapi import FastAPI
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import REGISTRY

from edge.sources import SensorConfig
from edge.sources.sensor_http import sensor_router
from edge.sources.sensor_mqtt import MqttSensorSubscriber
from events import SensorReading, topics
from tests.support.frames import wait_for
from tests.support.mosquitto import Mosquitto


def _rejected(transport: str, reason: str) -> float:
    labels = {"transport": transport, "reason": reason}
    return REGISTRY.get_sample_value("streetsense_sensor_rejected_total", labels) or 0.0


class _Readings:
    def __init__(self) -> None:
        self.items: queue.Queue[SensorReading] = queue.Queue()

    def __call__(self, reading: SensorReading) -> None:
        self.items.put_nowait(reading)

    def get(self, timeout: float = 10.0) -> SensorReading:
        return self.items.get(timeout=timeout)


def _ids() -> tuple[str, str]:
    return f"site-{uuid.uuid4().hex[:6]}", f"agent-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def publisher(mosquitto: Mosquitto) -> Iterator[mqtt.Client]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    try:
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.fixture
def subscriber_factory(mosquitto: Mosquitto) -> Iterator[list[MqttSensorSubscriber]]:
    made: list[MqttSensorSubscriber] = []
    try:
        yield made
    finally:
        for subscriber in made:
            subscriber.stop()


def _subscriber(
    made: list[MqttSensorSubscriber], port: int, site: str, agent: str, sink: _Readings
) -> MqttSensorSubscriber:
    subscriber = MqttSensorSubscriber(
        host="127.0.0.1", port=port, site=site, agent=agent, config=SensorConfig(), sink=sink
    )
    made.append(subscriber)
    subscriber.start()
    assert subscriber.wait_subscribed(15), "no SUBACK from the broker"
    return subscriber


def _publish(client: mqtt.Client, topic: str, payload: bytes) -> None:
    info = client.publish(topic, payload, qos=1)
    info.wait_for_publish(timeout=10)
    assert info.is_published()


def test_mqtt_readings_are_normalised_and_delivered(
    mosquitto: Mosquitto, publisher: mqtt.Client, subscriber_factory: list[MqttSensorSubscriber]
) -> None:
    site, agent = _ids()
    sink = _Readings()
    _subscriber(subscriber_factory, mosquitto.port, site, agent, sink)

    payload = {"quantity": "noise", "value": 78.5, "unit": "dB(A)"}
    _publish(publisher, topics.sensors(site, agent, "lamp-3"), json.dumps(payload).encode())
    reading = sink.get()
    assert (reading.sensor, reading.quantity, reading.value, reading.unit) == (
        "lamp-3",
        "sound_level",
        78.5,
        "dBA",
    )
    assert abs(reading.observed_at.timestamp() - time.time()) < 60

    batch = {"readings": [{"quantity": "pm25", "value": 8}, {"quantity": "button", "value": True}]}
    _publish(publisher, topics.sensors(site, agent, "lamp-4"), json.dumps(batch).encode())
    assert [sink.get().quantity, sink.get().quantity] == ["pm2_5", "call_button"]


def test_mqtt_bad_payloads_are_counted_and_the_subscriber_keeps_going(
    mosquitto: Mosquitto, publisher: mqtt.Client, subscriber_factory: list[MqttSensorSubscriber]
) -> None:
    site, agent = _ids()
    sink = _Readings()
    _subscriber(subscriber_factory, mosquitto.port, site, agent, sink)
    topic = topics.sensors(site, agent, "lamp-5")
    before = {
        reason: _rejected("mqtt", reason) for reason in ("not_json", "unknown_quantity", "oversize")
    }

    _publish(publisher, topic, b"{not json")
    _publish(publisher, topic, b'{"quantity": "radiation", "value": 1}')
    _publish(publisher, topic, b"{" + b" " * 10_000 + b"}")
    _publish(publisher, topic, b'{"quantity": "people", "value": 4}')

    reading = sink.get()  # the good one after three bad ones: nothing crashed
    assert reading.quantity == "people_count"
    for reason, count in before.items():
        wait_for(lambda r=reason, c=count: _rejected("mqtt", r) == c + 1, 10, f"{reason} counted")  # type: ignore[misc]
    assert sink.items.empty()


def test_mqtt_subscriber_reconnects_and_resubscribes_after_a_broker_restart(
    mosquitto: Mosquitto, subscriber_factory: list[MqttSensorSubscriber]
) -> None:
    site, agent = _ids()
    sink = _Readings()
    subscriber = _subscriber(subscriber_factory, mosquitto.port, site, agent, sink)

    mosquitto.kill()
    wait_for(lambda: not subscriber.connected, 15, "the subscriber to notice")
    mosquitto.start()
    wait_for(lambda: subscriber.wait_subscribed(0.1), 60, "the subscriber to resubscribe")

    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    try:
        _publish(client, topics.sensors(site, agent, "lamp-6"), b'{"quantity": "temp", "value": 9}')
        assert sink.get().quantity == "temperature"
    finally:
        client.disconnect()
        client.loop_stop()


def test_mqtt_full_sink_and_bad_topics_are_counted() -> None:
    def full(_reading: SensorReading) -> None:
        raise queue.Full

    subscriber = MqttSensorSubscriber(
        host="127.0.0.1", port=1, site="s", agent="a", config=SensorConfig(), sink=full
    )
    full_before = _rejected("mqtt", "queue_full")
    topic_before = _rejected("mqtt", "bad_topic")
    good = b'{"quantity": "noise", "value": 60}'
    assert subscriber.handle(topics.sensors("s", "a", "lamp"), good)  # accepted, then dropped
    assert subscriber.handle("somewhere/else", good) == []
    assert subscriber.handle(topics.status("s", "a"), good) == []
    assert _rejected("mqtt", "queue_full") == full_before + 1
    assert _rejected("mqtt", "bad_topic") == topic_before + 2


def _client(config: SensorConfig, sink: object) -> httpx.AsyncClient:
    """An httpx client talking to the router in-process over ASGI."""
    app = FastAPI()
    app.include_router(sensor_router(config, sink))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://agent")


async def test_http_push_returns_202_with_the_normalised_reading() -> None:
    sink = _Readings()
    async with _client(SensorConfig(), sink) as client:
        response = await client.post(
            "/v1/sensors/callpoint-1", json={"quantity": "sos", "value": "pressed"}
        )
    assert response.status_code == 202
    [body] = response.json()["readings"]
    assert body["sensor"] == "callpoint-1"
    assert (body["quantity"], body["value"], body["unit"]) == ("call_button", 1.0, "bool")
    assert body["observed_at"].endswith("Z")
    assert sink.get(1).quantity == "call_button"


@pytest.mark.parametrize(
    ("path", "content", "status", "reason"),
    [
        ("/v1/sensors/m1", b"{oops", 400, "not_json"),
        ("/v1/sensors/m1", b"[]", 422, "not_object"),
        ("/v1/sensors/m1", b'{"quantity": "noise", "value": 999}', 422, "out_of_range"),
        (
            "/v1/sensors/m1",
            b'{"quantity": "noise", "value": 60, "unit": "dB"}',
            422,
            "unknown_unit",
        ),
        ("/v1/sensors/m1", b'{"quantity": "gamma", "value": 1}', 422, "unknown_quantity"),
        ("/v1/sensors/BAD%20ID", b'{"quantity": "noise", "value": 60}', 422, "bad_sensor_id"),
        (
            "/v1/sensors/m1",
            b'{"quantity": "noise", "value": 6' + b"0" * 9000 + b"}",
            413,
            "oversize",
        ),
    ],
)
async def test_http_rejections_have_a_specific_status_and_reason(
    path: str, content: bytes, status: int, reason: str
) -> None:
    sink = _Readings()
    before = _rejected("http", reason)
    async with _client(SensorConfig(), sink) as client:
        response = await client.post(
            path, content=content, headers={"content-type": "application/json"}
        )
    assert response.status_code == status
    assert response.json()["error"] == reason
    assert response.json()["detail"]
    assert _rejected("http", reason) == before + 1
    assert sink.items.empty()


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"authorization": "Bearer wrong-token"}, 401),
        ({"authorization": "Basic czNjcjN0"}, 401),
        ({"authorization": "Bearer s3cr3t-t0ken"}, 202),
        ({"authorization": "bearer s3cr3t-t0ken"}, 202),
    ],
)
async def test_http_bearer_token(headers: dict[str, str], status: int) -> None:
    config = SensorConfig.model_validate({"http_token": "s3cr3t-t0ken"})
    async with _client(config, _Readings()) as client:
        response = await client.post(
            "/v1/sensors/m1", json={"quantity": "noise", "value": 60}, headers=headers
        )
    assert response.status_code == status
    if status == 401:
        assert response.json()["error"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"


async def test_http_allow_list_and_full_queue() -> None:
    def full(_reading: SensorReading) -> None:
        raise queue.Full

    async with _client(SensorConfig(allowed_sensors=("m1",)), full) as client:
        stranger = await client.post("/v1/sensors/m2", json={"quantity": "noise", "value": 60})
        busy = await client.post("/v1/sensors/m1", json={"quantity": "noise", "value": 60})
    assert (stranger.status_code, stranger.json()["error"]) == (403, "unknown_sensor")
    assert (busy.status_code, busy.json()["error"]) == (503, "queue_full")
    assert busy.headers["retry-after"] == "1"


def test_sensor_config_rejects_unknown_keys_and_describes_fields() -> None:
    with pytest.raises(ValueError, match="extra"):
        SensorConfig.model_validate({"mqtt": True, "htpp": False})
    for name, field in SensorConfig.model_fields.items():
        assert field.description, f"{name} has no description"
