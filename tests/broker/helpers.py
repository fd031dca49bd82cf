"""Shared helpers of the adapter tests: events, a real HTTP receiver, polling."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from prometheus_client import REGISTRY

from events import Event, Phase, Severity, Source, SourceKind, new_id, utc_now
from tests.support.http_receiver import PostServer


def make_event(**overrides: Any) -> Event:
    """A valid event; any field can be overridden."""
    now = utc_now()
    fields: dict[str, Any] = {
        "event_id": new_id(),
        "incident_id": new_id(),
        "phase": Phase.START,
        "site": "s1",
        "agent": "a1",
        "source": Source(kind=SourceKind.CAMERA, id="cam1"),
        "category": "fight",
        "severity": Severity.HIGH,
        "confidence": 0.9,
        "summary": "test",
        "occurred_at": now,
        "published_at": now,
    }
    fields.update(overrides)
    return Event(**fields)


def at(text: str) -> datetime:
    """An aware UTC datetime from ISO text."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    """Current value of a Prometheus sample (0 when absent)."""
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def wait_until(condition: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    """Poll ``condition`` until true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")


async def eventually(condition: Callable[[], bool], limit_s: float = 30.0, what: str = "") -> None:
    """Async poll of ``condition``; fail after ``limit_s`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while loop.time() < deadline:
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {limit_s}s waiting for {what or condition}")


class Receiver(PostServer):
    """A webhook endpoint recording the JSON bodies and headers it accepted."""

    def __init__(self, port: int, status: int = 200) -> None:
        super().__init__(port)
        self.status = status
        self.received: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def event_ids(self) -> list[str]:
        with self.lock:
            return [item["event_id"] for item in self.received]

    def handle_post(self, body: bytes, headers: dict[str, str]) -> int:
        if self.status < 300:
            with self.lock:
                self.received.append(json.loads(body))
                self.headers.append(headers)
        return self.status


def publish_as_agent(port: int, *events: Event) -> None:
    """Publish events as an agent does: QoS 1 on each event's own topic, waiting for PUBACK."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from events import encode, topics

    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        for event in events:
            topic = topics.events(event.site, event.agent, event.category)
            client.publish(topic, encode(event), qos=1).wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()
