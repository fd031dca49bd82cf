"""End to end with the real adapter and a real mosquitto: an agent's event reaches the
Milestone event server stand-ins and the radio emulator; a radio reply closes the loop;
outputs taken away queue durably and drain when they return."""

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
from events import ActionKind, OperatorAction, decode_action, topics
from streetsense.cli import main
from tests.broker.helpers import eventually, make_event, publish_as_agent
from tests.support.milestone_receiver import (
    AnalyticsEventServer,
    GenericEventRule,
    GenericEventServer,
)
from tests.support.mosquitto import Mosquitto, free_port
from tests.support.tetra_radio import TetraRadio

pytestmark = pytest.mark.timeout(120)

TOKEN = "token-ops-radio-1234"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
OFFICER = "2001"


@pytest.fixture
def radio(tmp_path: Path) -> Iterator[TetraRadio]:
    device = TetraRadio(tmp_path / "pei")
    device.start()
    try:
        yield device
    finally:
        device.stop()


@pytest.fixture
async def vms() -> AsyncIterator[tuple[GenericEventServer, AnalyticsEventServer]]:
    generic = GenericEventServer(
        free_port(), rules=(GenericEventRule("StreetSense fight", "StreetSense AND fight"),)
    )
    analytics = AnalyticsEventServer(free_port(), registered={"StreetSense fight"})
    await generic.start()
    await analytics.start()
    try:
        yield generic, analytics
    finally:
        await generic.stop()
        await analytics.stop()


@pytest.fixture
async def adapter(
    tmp_path: Path,
    mosquitto: Mosquitto,
    radio: TetraRadio,
    vms: tuple[GenericEventServer, AnalyticsEventServer],
) -> AsyncIterator[Adapter]:
    generic, analytics = vms
    text = f"""
mqtt: {{port: {mosquitto.port}, client_id: radio-adapter, shared_group: radio}}
storage: {{kind: sqlite, path: {tmp_path / "adapter.db"}}}
outputs:
  vms: {{type: milestone_generic, host: 127.0.0.1, port: {generic.port}, timeout_s: 2}}
  vms-analytics: {{type: milestone_analytics, host: 127.0.0.1, port: {analytics.port}, timeout_s: 2}}
  radio:
    type: tetra
    port: "{radio.host_path}"
    destinations: [{{ssi: "{OFFICER}"}}]
    report_timeout_s: 3
    command_timeout_s: 3
    reconnect_min_s: 0.1
    reconnect_max_s: 0.5
routes:
  - {{name: all, outputs: [vms, vms-analytics, radio]}}
retry: {{base_s: 0.2, cap_s: 0.5, max_attempts: 200}}
api: {{port: 0, operators: {{ops: {TOKEN}}}}}
poll_interval_s: 0.05
"""
    async with Adapter(parse_adapter_config(text)) as running:
        assert running._ingest is not None and await running._ingest.wait_connected(20)
        yield running


class AckListener:
    """A real MQTT subscriber on the agent's acks topic."""

    def __init__(self, port: int) -> None:
        self.messages: queue.Queue[OperatorAction] = queue.Queue()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = lambda c, u, m: self.messages.put(decode_action(m.payload))
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(topics.acks("s1", "a1"), qos=1)
        self.client.loop_start()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


async def test_event_reaches_vms_and_radio_and_the_radio_reply_closes_the_loop(
    tmp_path: Path,
    mosquitto: Mosquitto,
    adapter: Adapter,
    radio: TetraRadio,
    vms: tuple[GenericEventServer, AnalyticsEventServer],
) -> None:
    generic, analytics = vms
    acks = AckListener(mosquitto.port)
    try:
        event = make_event()
        await asyncio.to_thread(publish_as_agent, mosquitto.port, event)
        await eventually(lambda: len(generic.records) == 1, what="generic event")
        await eventually(lambda: len(analytics.events) == 1, what="analytics event")
        await eventually(lambda: len(radio.sent) == 1, what="SDS to the officer")
        assert generic.records[0].matched == ("StreetSense fight",)
        assert event.incident_id in generic.records[0].text
        assert analytics.events[0].custom_tag == event.incident_id
        short = event.incident_id[:6]
        assert radio.sent[0].called == OFFICER
        assert f"#{short} reply ACK {short}/FALSE {short}" in (radio.sent[0].text or "")

        radio.inject_text(OFFICER, f"CONFIRM {short.upper()}")
        action = await asyncio.to_thread(acks.messages.get, True, 30)
        assert (action.action, action.channel, action.operator) == (
            ActionKind.CONFIRM,
            "tetra",
            f"tetra:{OFFICER}",
        )
        assert action.incident_id == event.incident_id
        await eventually(
            lambda: any(s.text == f"OK confirm {short}" for s in radio.sent), what="answer"
        )

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{adapter.port}") as api:
            alert = (await api.get(f"/v1/alerts/{event.incident_id}", headers=AUTH)).json()
            assert alert["state"] == "confirmed"
            entries = (await api.get("/v1/audit", params={"limit": 1000}, headers=AUTH)).json()
        radio_entries = [
            (e["action"], e["subject"])
            for e in entries["entries"]
            if e["actor"] == f"tetra:{OFFICER}"
        ]
        assert radio_entries == [("alert.confirm", event.incident_id)]  # resolved from the short id
        assert main(["broker", "audit-verify", "--db", str(tmp_path / "adapter.db")]) == 0
    finally:
        acks.close()


async def test_outputs_taken_away_queue_and_drain_when_back(
    mosquitto: Mosquitto,
    adapter: Adapter,
    radio: TetraRadio,
    vms: tuple[GenericEventServer, AnalyticsEventServer],
) -> None:
    generic, analytics = vms
    transports = adapter.transports
    await generic.stop()
    await analytics.stop()
    radio.stop()
    await eventually(lambda: not transports["radio"].health().connected, what="radio down")
    events = [make_event() for _ in range(3)]
    await asyncio.to_thread(publish_as_agent, mosquitto.port, *events)
    await eventually(
        lambda: (
            not transports["vms"].health().connected
            and not transports["vms-analytics"].health().connected
        ),
        what="VMS outputs reported down",
    )
    await asyncio.sleep(1.0)  # a few retry rounds while everything is away
    assert generic.records == [] and analytics.events == [] and radio.sent == []

    await generic.start()
    await analytics.start()
    radio.start()
    await eventually(lambda: len(generic.records) == 3, limit_s=60, what="generic drained")
    await eventually(lambda: len(analytics.events) == 3, limit_s=60, what="analytics drained")
    await eventually(lambda: len(radio.sent) >= 3, limit_s=60, what="radio drained")
    incidents = {event.incident_id for event in events}
    assert {r.text.rsplit("=", 1)[1] for r in generic.records} == incidents
    assert {e.custom_tag for e in analytics.events} == incidents
    texts = " ".join(s.text or "" for s in radio.sent)
    assert all(f"#{incident[:6]}" in texts for incident in incidents)
    for name in ("vms", "vms-analytics", "radio"):
        assert transports[name].health().connected, name
