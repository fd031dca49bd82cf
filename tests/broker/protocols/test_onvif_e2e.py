"""End to end with a real mosquitto and the adapter: agent -> MQTT -> ONVIF VMS, camera -> MQTT."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from onvif import ONVIFCamera
from paho.mqtt.enums import CallbackAPIVersion

from broker.config import parse_adapter_config
from broker.main import Adapter
from broker.protocols.onvif.notification import PropertyOperation
from events import Phase, SourceKind, decode_event, encode, topics
from tests.broker.helpers import eventually, make_event, sample
from tests.broker.protocols.onvif_support import PASSWORD, USER, motion, running_output
from tests.support.mosquitto import Mosquitto, free_port

pytestmark = pytest.mark.timeout(120)


def adapter_yaml(tmp_path: Path, mosquitto: Mosquitto, name: str, outputs: str, routes: str) -> str:
    return f"""
mqtt:
  port: {mosquitto.port}
  client_id: {name}
  shared_group: g-{name}
storage:
  kind: sqlite
  path: {tmp_path / "adapter.db"}
outputs:
{outputs}
routes:
{routes}
api:
  enabled: false
retry:
  base_s: 0.05
  cap_s: 0.2
  max_attempts: 1000
poll_interval_s: 0.05
"""


def mqtt_client(port: int) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


async def test_agent_events_wait_for_the_vms_then_arrive_in_order(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    port = free_port()
    outputs = f"""
  vms:
    type: onvif_events
    listen_host: 127.0.0.1
    listen_port: {port}
    users: [{{username: {USER}, password: {PASSWORD}}}]
    categories: [fight]"""
    routes = """
  - name: fights-to-vms
    categories: [fight]
    outputs: [vms]"""
    config = parse_adapter_config(adapter_yaml(tmp_path, mosquitto, "ad-onvif", outputs, routes))
    start = make_event(category="fight")
    end = make_event(category="fight", phase=Phase.END, incident_id=start.incident_id)
    retry = {"output": "vms", "result": "retry"}
    retries_before = sample("streetsense_adapter_deliveries_total", retry)
    async with Adapter(config) as adapter:
        assert await adapter._ingest.wait_connected(20)  # type: ignore[union-attr]
        await asyncio.sleep(0.3)  # let the subscription settle
        agent = mqtt_client(mosquitto.port)
        try:
            for event in (start, end):
                topic = topics.events(event.site, event.agent, event.category)
                agent.publish(topic, encode(event), qos=1).wait_for_publish(10)
        finally:
            agent.loop_stop()
            agent.disconnect()
        # No VMS yet: the deliveries wait in the durable queue.
        await eventually(
            lambda: sample("streetsense_adapter_deliveries_total", retry) > retries_before + 2
        )
        vms = ONVIFCamera("127.0.0.1", port, USER, PASSWORD, adjust_time=True)
        try:
            await vms.update_xaddrs()
            manager = await vms.create_pullpoint_manager(dt.timedelta(seconds=60), lambda: None)
            service = manager.get_service()
            received: list[object] = []
            for _ in range(10):
                result = await service.PullMessages(
                    {"MessageLimit": 10, "Timeout": dt.timedelta(seconds=5)}
                )
                received.extend(result.NotificationMessage)
                if len(received) >= 2:
                    break
            await manager.shutdown()
        finally:
            await vms.close()
    data = [
        {item.Name: item.Value for item in m.Message._value_1.Data.SimpleItem}  # type: ignore[attr-defined]
        for m in received
    ]
    assert [d["EventId"] for d in data] == [start.event_id, end.event_id]
    assert [m.Message._value_1.PropertyOperation for m in received] == [  # type: ignore[attr-defined]
        PropertyOperation.INITIALIZED.value,
        PropertyOperation.DELETED.value,
    ]


async def test_camera_analytics_are_published_over_mqtt_by_the_adapter(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    seen: list[bytes] = []
    listener = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    listener.on_message = lambda _client, _userdata, message: seen.append(bytes(message.payload))
    listener.connect("127.0.0.1", mosquitto.port)
    listener.subscribe(topics.events("depot-7", "onvif-cams", "motion"), qos=1)
    listener.loop_start()
    try:
        async with running_output("onvif-e2e-camera", require_subscriber=False) as camera:
            outputs = f"""
  lobby:
    type: onvif_camera
    host: 127.0.0.1
    port: {camera.port}
    username: {USER}
    password: {PASSWORD}
    site: depot-7
    agent: onvif-cams
    pull_timeout_s: 1
    reconnect_min_s: 0.1
    topics:
      - topic: tns1:RuleEngine/CellMotionDetector/Motion
        category: motion
        state_item: IsMotion
  journal:
    type: log
    path: {tmp_path / "journal.log"}"""
            routes = """
  - name: all-to-journal
    outputs: [journal]"""
            yaml = adapter_yaml(tmp_path, mosquitto, "ad-onvif-cam", outputs, routes)
            async with Adapter(parse_adapter_config(yaml)) as adapter:
                assert await adapter._ingest.wait_connected(20)  # type: ignore[union-attr]
                await eventually(lambda: camera.manager.active == 1, what="camera subscription")
                camera.manager.publish(motion(True, PropertyOperation.CHANGED))
                await eventually(lambda: len(seen) == 1, what="event on MQTT")
                journal = tmp_path / "journal.log"
                event = decode_event(seen[0])
                await eventually(lambda: journal.exists() and event.event_id in journal.read_text())
    finally:
        listener.loop_stop()
        listener.disconnect()
    assert (event.category, event.phase, event.source.kind) == (
        "motion",
        Phase.START,
        SourceKind.EXTERNAL,
    )
    assert event.site == "depot-7"
