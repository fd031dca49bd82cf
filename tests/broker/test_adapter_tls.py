"""The adapter over TLS with a user name and password, against a real mosquitto."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from broker.config import parse_adapter_config
from broker.main import Adapter
from events import encode, topics
from tests.broker.helpers import eventually, make_event
from tests.support.mosquitto import Mosquitto
from tests.support.tls_broker import tls_mosquitto

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[Mosquitto, int, Path]]:
    with tls_mosquitto(tmp_path, "adapter", "adapter-secret") as running:
        yield running


def config_for(tmp_path: Path, port: int, pki: Path, password: str) -> str:
    return f"""
mqtt:
  host: localhost
  port: {port}
  client_id: tls-adapter
  username: adapter
  password: "{password}"
  tls: {{ca_file: {pki / "ca.crt"}}}
  reconnect_min_s: 0.2
  reconnect_max_s: 1
storage: {{kind: sqlite, path: {tmp_path / "adapter.db"}}}
outputs: {{journal: {{type: log, path: {tmp_path / "journal.log"}, format: json}}}}
routes: [{{name: all, outputs: [journal]}}]
api: {{enabled: false}}
"""


@pytest.mark.timeout(90)
async def test_events_arrive_over_tls(
    tmp_path: Path, tls_broker: tuple[Mosquitto, int, Path]
) -> None:
    broker, tls_port, pki = tls_broker
    config = parse_adapter_config(config_for(tmp_path, tls_port, pki, "adapter-secret"))
    async with Adapter(config) as adapter:
        assert adapter._ingest is not None and await adapter._ingest.wait_connected(20)
        await asyncio.sleep(0.3)
        event = make_event()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        client.username_pw_set("adapter", "adapter-secret")
        client.connect("127.0.0.1", broker.port)  # the plain listener, same broker
        client.loop_start()
        client.publish(topics.events("s1", "a1", "fight"), encode(event), qos=1).wait_for_publish(
            10
        )
        client.loop_stop()
        client.disconnect()
        journal = tmp_path / "journal.log"
        await eventually(lambda: journal.exists() and event.event_id in journal.read_text())


@pytest.mark.timeout(60)
async def test_wrong_password_is_not_ready_and_does_not_crash(
    tmp_path: Path, tls_broker: tuple[Mosquitto, int, Path]
) -> None:
    _, tls_port, pki = tls_broker
    config = parse_adapter_config(config_for(tmp_path, tls_port, pki, "wrong"))
    async with Adapter(config) as adapter:
        assert adapter._ingest is not None
        assert not await adapter._ingest.wait_connected(3)
        ready, reasons = await asyncio.to_thread(adapter.ready)
        assert not ready and reasons == ["MQTT not connected"]
