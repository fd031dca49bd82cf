"""Dead letters over the API (list, requeue) and inbound legacy events round-tripping via MQTT."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from broker.config import parse_adapter_config
from broker.main import Adapter
from events import Source, SourceKind, encode, topics
from tests.broker.helpers import Receiver, eventually, make_event, sample
from tests.support.mosquitto import Mosquitto

TOKEN = "token-alice-123456"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def adapter(
    tmp_path: Path, mosquitto: Mosquitto, receiver: Receiver
) -> AsyncIterator[Adapter]:
    config = parse_adapter_config(f"""
mqtt: {{port: {mosquitto.port}, client_id: dl-adapter, shared_group: dl}}
storage: {{kind: sqlite, path: {tmp_path / "adapter.db"}}}
outputs:
  hook: {{type: webhook, url: "{receiver.url}"}}
routes: [{{name: all, outputs: [hook]}}]
api: {{port: 0, operators: {{alice: {TOKEN}}}}}
poll_interval_s: 0.05
""")  # fmt: skip
    async with Adapter(config) as running:
        assert running._ingest is not None and await running._ingest.wait_connected(20)
        yield running


@pytest.fixture
async def api(adapter: Adapter) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{adapter.port}", timeout=20) as client:
        yield client


@pytest.mark.timeout(90)
async def test_rejected_delivery_is_listed_and_requeued(
    mosquitto: Mosquitto, adapter: Adapter, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.status = 400  # the peer refuses: dead letter at once
    event = make_event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    client.publish(topics.events("s1", "a1", "fight"), encode(event), qos=1).wait_for_publish(10)
    client.loop_stop()
    client.disconnect()

    letters: list[dict[str, object]] = []

    async def dead_lettered() -> None:
        for _ in range(600):
            found = (await api.get("/v1/dead-letters", headers=AUTH)).json()["dead_letters"]
            if found:
                letters.extend(found)
                return
            await asyncio.sleep(0.05)
        raise AssertionError("no dead letter")

    await dead_lettered()
    (letter,) = letters
    assert letter["event_id"] == event.event_id and letter["attempts"] == 1
    assert letter["last_error"] == "HTTP 400"
    outputs = (await api.get("/v1/outputs", headers=AUTH)).json()
    assert outputs[0]["dead_letters"] == 1

    receiver.status = 200  # fixed on the peer's side; an operator requeues
    response = await api.post("/v1/dead-letters/requeue", headers=AUTH,
                              json={"seqs": [letter["seq"]]})  # fmt: skip
    assert response.json() == {"requeued": [letter["seq"]]}
    await eventually(lambda: receiver.event_ids() == [event.event_id], what="redelivery")
    assert (await api.get("/v1/dead-letters", headers=AUTH)).json()["dead_letters"] == []
    entries = (await api.get("/v1/audit", params={"limit": 500}, headers=AUTH)).json()["entries"]
    trail = [(e["action"], e["actor"]) for e in entries if e["subject"] == event.event_id]
    assert trail == [
        ("event.accepted", "adapter"),
        ("delivery.dead_lettered", "adapter"),
        ("delivery.requeued", "alice"),
        ("delivery.delivered", "adapter"),
    ]
    assert (await api.post("/v1/dead-letters/requeue", json={"seqs": [1]})).status_code == 401


@pytest.mark.timeout(90)
async def test_inbound_legacy_event_is_published_and_routed(
    adapter: Adapter, receiver: Receiver
) -> None:
    before = sample("streetsense_adapter_inbound_events_total", {"channel": "dc09-panels"})
    event = make_event(
        agent="dc09-panels",
        category="intrusion",
        source=Source(kind=SourceKind.PANEL, id="acct-1234"),
    )
    await adapter.core.publish_event(event)
    # it went out on MQTT and came back in through the adapter's own subscription
    await eventually(lambda: receiver.event_ids() == [event.event_id], what="round trip")
    assert receiver.received[0]["source"] == {"kind": "panel", "id": "acct-1234"}
    assert (
        sample("streetsense_adapter_inbound_events_total", {"channel": "dc09-panels"}) == before + 1
    )
