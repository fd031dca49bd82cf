"""The operator loop over the real HTTP API, MQTT and audit log."""

from __future__ import annotations

import asyncio
import queue
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from broker.config import parse_adapter_config
from broker.main import Adapter
from events import ActionKind, OperatorAction, Phase, decode_action, encode, topics
from streetsense.cli import main
from tests.broker.helpers import Receiver, make_event, sample
from tests.support.mosquitto import Mosquitto

TOKEN = "token-alice-123456"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def config_text(tmp_path: Path, mosquitto: Mosquitto, receiver: Receiver) -> str:
    return f"""
mqtt: {{port: {mosquitto.port}, client_id: ops-adapter, shared_group: ops}}
storage: {{kind: sqlite, path: {tmp_path / "adapter.db"}}}
outputs:
  hook: {{type: webhook, url: "{receiver.url}"}}
routes:
  - {{name: all, outputs: [hook]}}
api: {{port: 0, operators: {{alice: {TOKEN}}}}}
poll_interval_s: 0.05
"""


class AckListener:
    """A real MQTT subscriber on an agent's acks topic."""

    def __init__(self, port: int, topic: str) -> None:
        self.messages: queue.Queue[OperatorAction] = queue.Queue()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = lambda c, u, m: self.messages.put(decode_action(m.payload))
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def acks(mosquitto: Mosquitto) -> Iterator[AckListener]:
    listener = AckListener(mosquitto.port, topics.acks("s1", "a1"))
    try:
        yield listener
    finally:
        listener.close()


@pytest.fixture
async def adapter(
    tmp_path: Path, mosquitto: Mosquitto, receiver: Receiver
) -> AsyncIterator[Adapter]:
    async with Adapter(parse_adapter_config(config_text(tmp_path, mosquitto, receiver))) as running:
        assert running._ingest is not None and await running._ingest.wait_connected(20)
        yield running


@pytest.fixture
async def api(adapter: Adapter) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{adapter.port}", timeout=20) as client:
        yield client


async def publish(port: int, *events: object) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        for event in events:
            client.publish(
                topics.events("s1", "a1", event.category),
                encode(event),
                qos=1,  # type: ignore[attr-defined]
            ).wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()


async def open_alert(api: httpx.AsyncClient, incident: str) -> dict[str, object]:
    """Poll the API until the incident's alert is open."""
    for _ in range(600):
        response = await api.get("/v1/alerts", params={"state": "open"}, headers=AUTH)
        for alert in response.json()["alerts"]:
            if alert["id"] == incident:
                return dict(alert)
        await asyncio.sleep(0.05)
    raise AssertionError("alert never opened")


@pytest.mark.timeout(90)
async def test_acknowledge_then_dismiss_over_the_api(
    tmp_path: Path, mosquitto: Mosquitto, adapter: Adapter, api: httpx.AsyncClient,
    acks: AckListener, receiver: Receiver,
) -> None:  # fmt: skip
    start = make_event(summary="two people fighting")
    update = make_event(incident_id=start.incident_id, phase=Phase.UPDATE)
    await publish(mosquitto.port, start, update)
    alert = await open_alert(api, start.incident_id)
    assert alert["state"] == "open" and alert["category"] == "fight"
    dismissed_before = sample(
        "streetsense_adapter_operator_actions_total", {"action": "dismiss", "channel": "api"}
    )

    response = await api.post(f"/v1/alerts/{start.incident_id}/acknowledge", headers=AUTH,
                              json={"note": "looking"})  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["alert"]["state"] == "acknowledged"
    ack = acks.messages.get(timeout=20)
    assert (ack.action, ack.operator, ack.channel) == (ActionKind.ACKNOWLEDGE, "alice", "api")
    assert ack.incident_id == start.incident_id

    response = await api.post(f"/v1/alerts/{start.incident_id}/dismiss", headers=AUTH,
                              json={"note": "street theatre"})  # fmt: skip
    assert response.status_code == 200
    dismissal = acks.messages.get(timeout=20)
    assert dismissal.action is ActionKind.DISMISS and dismissal.note == "street theatre"
    assert (
        sample(
            "streetsense_adapter_operator_actions_total", {"action": "dismiss", "channel": "api"}
        )
        == dismissed_before + 1
    )

    # closed: no further actions; the details keep evidence and history
    again = await api.post(f"/v1/alerts/{start.incident_id}/confirm", headers=AUTH)
    assert again.status_code == 409
    detail = (await api.get(f"/v1/alerts/{start.incident_id}", headers=AUTH)).json()
    assert detail["state"] == "dismissed"
    assert [event["event_id"] for event in detail["events"]] == [start.event_id, update.event_id]
    kinds = [(h["kind"], h["actor"]) for h in detail["history"]]
    assert kinds == [("event", "a1"), ("event", "a1"), ("action", "alice"), ("action", "alice")]
    assert detail["history"][-1]["detail"]["note"] == "street theatre"

    # the audit log has both actions under the operator's name, and the chain holds
    entries = (await api.get("/v1/audit", params={"limit": 1000}, headers=AUTH)).json()["entries"]
    mine = [
        (e["action"], e["subject"], e["details"].get("result", "applied"))
        for e in entries
        if e["actor"] == "alice"
    ]
    assert mine == [
        ("alert.acknowledge", start.incident_id, "applied"),
        ("alert.dismiss", start.incident_id, "applied"),
        ("alert.confirm", start.incident_id, "no match"),  # the refused attempt is audited too
    ]
    assert {"config.loaded", "event.accepted", "delivery.delivered"} <= {
        e["action"] for e in entries
    }
    assert main(["broker", "audit-verify", "--db", str(tmp_path / "adapter.db")]) == 0


async def test_tokens_are_required_and_checked(adapter: Adapter, api: httpx.AsyncClient) -> None:
    assert (await api.get("/v1/alerts")).status_code == 401
    assert (await api.post("/v1/alerts/x/dismiss")).status_code == 401
    bad = {"Authorization": "Bearer not-a-known-token"}
    assert (await api.get("/v1/alerts", headers=bad)).status_code == 403
    assert (await api.get("/v1/alerts", headers=AUTH)).status_code == 200
    assert (await api.get("/healthz")).status_code == 200
    assert (await api.get("/readyz")).json()["ready"] is True
    metrics = (await api.get("/metrics")).text
    assert "streetsense_adapter_events_in_total" in metrics
    outputs = (await api.get("/v1/outputs", headers=AUTH)).json()
    assert [(o["name"], o["type"], o["active"]) for o in outputs] == [("hook", "webhook", True)]


async def test_context_resolves_prefixes_and_audits_misses(
    mosquitto: Mosquitto, adapter: Adapter, api: httpx.AsyncClient, acks: AckListener
) -> None:
    event = make_event()
    await publish(mosquitto.port, event)
    await open_alert(api, event.incident_id)
    core = adapter.core
    # a radio sends a short id: an unambiguous prefix of the event id
    assert await core.operator_action(event.event_id[:6], ActionKind.CONFIRM,
                                      operator="unit 7", channel="tetra")  # fmt: skip
    answer = acks.messages.get(timeout=20)
    assert (answer.action, answer.event_id, answer.channel) == (
        ActionKind.CONFIRM, event.event_id, "tetra",
    )  # fmt: skip
    assert not await core.operator_action("zzzzzzzz", ActionKind.DISMISS, operator="unit 7",
                                          channel="tetra")  # fmt: skip
    assert not await core.operator_action(event.event_id, ActionKind.DISMISS, operator="unit 7",
                                          channel="tetra")  # already confirmed  # fmt: skip
    entries = (await api.get("/v1/audit", params={"limit": 1000}, headers=AUTH)).json()["entries"]
    misses = [e for e in entries if e["details"].get("result") == "no match"]
    assert [m["subject"] for m in misses] == ["zzzzzzzz", event.event_id]
    assert (await api.get(f"/v1/alerts/{event.incident_id}", headers=AUTH)).json()["state"] == (
        "confirmed"
    )
