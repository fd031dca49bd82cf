"""The adapter in-process against a real mosquitto: ingest, reject, dedupe, deliver."""

from __future__ import annotations

import asyncio
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from broker.config import parse_adapter_config
from broker.main import Adapter
from events import AgentState, AgentStatus, encode, topics, utc_now
from tests.broker.helpers import Receiver, eventually, make_event, sample
from tests.support.mosquitto import Mosquitto


def adapter_yaml(tmp_path: Path, mosquitto: Mosquitto, receiver: Receiver, name: str) -> str:
    return f"""
mqtt:
  port: {mosquitto.port}
  client_id: {name}
  shared_group: g-{name}
storage:
  kind: sqlite
  path: {tmp_path / "adapter.db"}
outputs:
  hook:
    type: webhook
    url: {receiver.url}
    secret: s3cret-key
  journal:
    type: log
    path: {tmp_path / "journal.log"}
routes:
  - name: all-to-journal
    outputs: [journal]
    continue: true
  - name: fights-to-hook
    categories: [fight]
    outputs: [hook]
api:
  port: 0
  operators:
    alice: token-alice-123456
retry:
  base_s: 0.05
  cap_s: 0.2
  max_attempts: 50
poll_interval_s: 0.05
"""


def publisher(port: int) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


@pytest.mark.timeout(90)
async def test_events_flow_malformed_counted_duplicates_dropped(
    tmp_path: Path, mosquitto: Mosquitto, receiver: Receiver
) -> None:
    config = parse_adapter_config(adapter_yaml(tmp_path, mosquitto, receiver, "ad-flow"))
    rejected_before = sample(
        "streetsense_adapter_rejected_total", {"source": "mqtt", "reason": "malformed"}
    )
    mismatch_before = sample(
        "streetsense_adapter_rejected_total", {"source": "mqtt", "reason": "topic_mismatch"}
    )
    dup_before = sample("streetsense_adapter_duplicates_total")
    async with Adapter(config) as adapter:
        assert await adapter._ingest.wait_connected(20)  # type: ignore[union-attr]
        await asyncio.sleep(0.3)  # let the subscription settle
        client = publisher(mosquitto.port)
        try:
            fight = make_event(category="fight")
            noise = make_event(category="noise")
            topic = topics.events("s1", "a1", "fight")
            client.publish(topic, b"{not json", qos=1).wait_for_publish(10)
            client.publish(topic, encode(fight), qos=1).wait_for_publish(10)
            client.publish(topic, encode(fight), qos=1).wait_for_publish(10)  # duplicate
            client.publish(topics.events("s1", "other", "fight"), encode(make_event()), qos=1)
            client.publish(topics.events("s1", "a1", "noise"), encode(noise), qos=1)
            status = AgentStatus(site="s1", agent="a1", state=AgentState.ONLINE, at=utc_now())
            client.publish(topics.status("s1", "a1"), encode(status), qos=1, retain=True)
            await eventually(lambda: receiver.event_ids() == [fight.event_id])
            journal = tmp_path / "journal.log"
            await eventually(
                lambda: journal.exists() and len(journal.read_text().splitlines()) == 2
            )
            await eventually(
                lambda: (
                    sample("streetsense_adapter_agent_online", {"site": "s1", "agent": "a1"}) == 1.0
                )
            )
        finally:
            client.loop_stop()
            client.disconnect()
        assert fight.event_id in journal.read_text()
        assert noise.event_id in journal.read_text()
        assert receiver.headers[0]["X-StreetSense-Signature"].startswith("sha256=")
        assert receiver.headers[0]["Idempotency-Key"] == fight.event_id
    assert (
        sample("streetsense_adapter_rejected_total", {"source": "mqtt", "reason": "malformed"})
        == rejected_before + 1
    )
    assert (
        sample("streetsense_adapter_rejected_total", {"source": "mqtt", "reason": "topic_mismatch"})
        == mismatch_before + 1
    )
    assert sample("streetsense_adapter_duplicates_total") == dup_before + 1
    assert receiver.event_ids() == [fight.event_id]
