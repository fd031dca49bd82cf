"""The onvif_camera source against our own event service acting as the camera (real SOAP)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from broker.protocols.onvif import namespaces as ns
from broker.protocols.onvif.config import OnvifCameraConfig
from broker.protocols.onvif.errors import InvalidArgumentError
from broker.protocols.onvif.inbound import OnvifCameraSource
from broker.protocols.onvif.inbound_mapping import CameraMessage, TopicMapper, identifier
from broker.protocols.onvif.notification import (
    Notification,
    PropertyOperation,
    SimpleItem,
    Topic,
)
from broker.protocols.onvif.output import OnvifEventsOutput
from events import Phase, SourceKind
from tests.broker.protocols.onvif_support import (
    PASSWORD,
    USER,
    Collector,
    events_config,
    make_event,
    motion,
    running_output,
)
from tests.support.mosquitto import free_port

pytestmark = pytest.mark.timeout(120)

INSIDE = Topic(ns.TNS1, ("RuleEngine", "FieldDetector", "ObjectsInside"))
TOO_DARK = Topic(ns.TNS1, ("VideoSource", "ImageTooDark", "AnalyticsService"))
RULES = [
    {"topic": "tns1:RuleEngine/CellMotionDetector/Motion", "category": "motion", "severity": "low",
     "state_item": "IsMotion", "source_item": "VideoSourceConfigurationToken"},
    {"topic": "tns1:RuleEngine/FieldDetector/ObjectsInside", "category": "intrusion",
     "severity": "high", "confidence": 0.8, "state_item": "IsInside"},
    {"topic": "tns1:RuleEngine/StreetSense/Fight", "category": "fight", "state_item": "State"},
]  # fmt: skip


def camera_config(port: int, password: str = PASSWORD, **overrides: Any) -> OnvifCameraConfig:
    values: dict[str, Any] = {
        "host": "127.0.0.1", "port": port, "username": USER, "password": password,
        "site": "site-1", "agent": "onvif-cams", "topics": RULES, "pull_timeout_s": 1.0,
        "reconnect_min_s": 0.1, "reconnect_max_s": 0.5,
    }  # fmt: skip
    values.update(overrides)
    return OnvifCameraConfig.model_validate(values)


@asynccontextmanager
async def source(config: OnvifCameraConfig, context: Collector) -> AsyncIterator[OnvifCameraSource]:
    inbound = OnvifCameraSource(config, "cam-in", context)
    await inbound.start()
    try:
        yield inbound
    finally:
        await inbound.close()


async def until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def subscribed(camera: OnvifEventsOutput, inbound: OnvifCameraSource) -> None:
    await until(lambda: camera.manager.active == 1 and inbound.health().connected)


async def test_camera_analytics_become_normalised_events() -> None:
    context = Collector()
    async with running_output("onvif-cam", require_subscriber=False) as camera:
        async with source(camera_config(camera.port), context) as inbound:
            await subscribed(camera, inbound)
            camera.manager.publish(motion(True, PropertyOperation.CHANGED))
            camera.manager.publish(motion(True, PropertyOperation.CHANGED))
            camera.manager.publish(
                Notification(TOO_DARK, datetime.now(UTC), None, (SimpleItem("Source", "v1"),), ())
            )
            camera.manager.publish(motion(False, PropertyOperation.CHANGED))
            camera.manager.publish(
                Notification(
                    INSIDE, datetime.now(UTC), PropertyOperation.CHANGED,
                    (SimpleItem("VideoSourceConfigurationToken", "vsc2"), SimpleItem("Rule", "Fence")),
                    (SimpleItem("IsInside", "true"),), "inside/vsc2",
                )
            )  # fmt: skip
            await until(lambda: len(context.events) == 4)
            assert inbound.health().connected
    start, update, end, intrusion = context.events
    assert [e.phase for e in (start, update, end)] == [Phase.START, Phase.UPDATE, Phase.END]
    assert start.incident_id == update.incident_id == end.incident_id
    assert {e.category for e in (start, update, end)} == {"motion"}
    assert start.source.kind is SourceKind.EXTERNAL
    assert start.source.id == "127.0.0.1-videosource_1"
    assert (start.site, start.agent, start.severity.value) == ("site-1", "onvif-cams", "low")
    assert (intrusion.category, intrusion.phase, intrusion.confidence) == (
        "intrusion",
        Phase.START,
        0.8,
    )
    assert intrusion.source.id == "127.0.0.1-vsc2"
    assert intrusion.incident_id != start.incident_id


async def test_streetsense_events_loop_back_through_an_onvif_subscription() -> None:
    context = Collector()
    async with running_output("onvif-loop") as camera:
        async with source(camera_config(camera.port), context) as inbound:
            await subscribed(camera, inbound)
            first = make_event(Phase.START, camera="cam-east")
            await camera.deliver(first)
            await camera.deliver(
                make_event(Phase.END, incident_id=first.incident_id, camera="cam-east")
            )
            await until(lambda: len(context.events) == 2)
    assert [e.phase for e in context.events] == [Phase.START, Phase.END]
    assert {e.category for e in context.events} == {"fight"}
    assert context.events[0].source.id == "127.0.0.1-cam-east"
    assert context.events[0].occurred_at == first.occurred_at


async def test_reconnects_after_the_camera_restarts() -> None:
    context = Collector()
    port = free_port()
    first = OnvifEventsOutput(
        "onvif-restart", events_config(listen_port=port, require_subscriber=False)
    )
    await first.start()
    inbound = OnvifCameraSource(camera_config(port), "cam-in", context)
    await inbound.start()
    second: OnvifEventsOutput | None = None
    try:
        await subscribed(first, inbound)
        await first.close()
        await until(lambda: not inbound.health().connected)
        assert inbound.health().last_error
        second = OnvifEventsOutput(
            "onvif-restart", events_config(listen_port=port, require_subscriber=False)
        )
        await second.start()
        await subscribed(second, inbound)
        second.manager.publish(motion(True, PropertyOperation.CHANGED, token="vs9"))
        await until(lambda: len(context.events) == 1)
        assert context.events[0].source.id == "127.0.0.1-vs9"
    finally:
        await inbound.close()
        await first.close()
        if second is not None:
            await second.close()


async def test_wrong_password_is_reported_and_retried() -> None:
    context = Collector()
    async with running_output("onvif-cam-auth", require_subscriber=False) as camera:
        async with source(camera_config(camera.port, password="nope"), context) as inbound:
            await until(lambda: "NotAuthorized" in (inbound.health().last_error or ""))
            assert not inbound.health().connected
            assert camera.manager.active == 0
    assert context.events == []


async def test_failed_publishes_are_retried_not_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("https_proxy", "http://proxy.invalid:3128")  # must survive the client
    context = Collector(failures=2)
    async with running_output("onvif-cam-retry", require_subscriber=False) as camera:
        async with source(camera_config(camera.port), context) as inbound:
            await subscribed(camera, inbound)
            camera.manager.publish(motion(True, PropertyOperation.CHANGED))
            await until(lambda: len(context.events) == 1)
            assert inbound.published == 1
    assert context.failures == 0
    assert os.environ["https_proxy"] == "http://proxy.invalid:3128"


def _message(topic: str, state: str | None, operation: PropertyOperation | None) -> CameraMessage:
    data = (SimpleItem("IsMotion", state),) if state is not None else ()
    return CameraMessage(topic, datetime.now(UTC), operation, (SimpleItem("Token", "ch1"),), data)


def test_mapper_follows_the_property_across_a_reconnect() -> None:
    mapper = TopicMapper(camera_config(80))
    topic = "tt:RuleEngine/CellMotionDetector/Motion"  # another prefix for the same topic
    started = mapper.map(_message(topic, "true", PropertyOperation.INITIALIZED))
    assert started is not None and started.phase is Phase.START
    assert mapper.map(_message(topic, "true", PropertyOperation.INITIALIZED)) is None
    ended = mapper.map(_message(topic, "1", PropertyOperation.DELETED))
    assert ended is not None and (ended.phase, ended.incident_id) == (
        Phase.END,
        started.incident_id,
    )
    assert mapper.map(_message(topic, "false", PropertyOperation.CHANGED)) is None
    assert mapper.map(_message("tns1:Device/Trigger/DigitalInput", "true", None)) is None


@pytest.mark.parametrize("state", [None, "maybe"])
def test_mapper_rejects_missing_or_non_boolean_state(state: str | None) -> None:
    mapper = TopicMapper(camera_config(80))
    with pytest.raises(InvalidArgumentError):
        mapper.map(_message("tns1:RuleEngine/CellMotionDetector/Motion", state, None))


def test_pulse_rules_make_one_incident_per_message() -> None:
    rules = [{"topic": "tns1:RuleEngine/LineDetector/Crossed", "category": "line_crossing"}]
    mapper = TopicMapper(camera_config(80, topics=rules, camera_id="gate-cam"))
    events = [
        mapper.map(_message("tns1:RuleEngine/LineDetector/Crossed", None, None)) for _ in range(2)
    ]
    assert all(
        e is not None and e.phase is Phase.START and e.source.id == "gate-cam" for e in events
    )
    assert events[0] is not None and events[1] is not None
    assert events[0].incident_id != events[1].incident_id


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Cam 1/Main", "cam-1-main"),
        ("192.168.0.9-VideoSource_1", "192.168.0.9-videosource_1"),
        ("___", "camera"),
    ],
)
def test_identifiers(text: str, expected: str) -> None:
    assert identifier(text) == expected
