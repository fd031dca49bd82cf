"""End to end with real parts: RTSP server -> agent (tiny model) -> mosquitto -> subscriber.

Also: the RTSP server is killed and restarted, and the camera's state is
followed through /metrics and /readyz.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edge.agent import Agent
from edge.config import AgentConfig
from events import Event, Phase, SourceKind, decode_event, topics
from tests.support.media import ClipSpec, make_clip
from tests.support.mosquitto import Mosquitto
from tests.support.rtsp_server import RtspServer
from tests.support.tiny_model import build_tiny_model

SITE = "lab"


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def always_alert_card(directory: Path) -> Path:
    """The tiny model with the alert threshold at 0: every clip counts (hysteresis still applies)."""
    card = build_tiny_model(directory, frames=4, size=32, sample_fps=8.0)
    raw = yaml.safe_load(card.read_text(encoding="utf-8"))
    raw["alerts"]["motion"]["threshold"] = 0.0
    card.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return card


def agent_config(tmp_path: Path, broker_port: int, card: Path, **overrides: Any) -> AgentConfig:
    raw: dict[str, Any] = {
        "site": SITE,
        "agent": "e2e",
        "broker": {"port": broker_port, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5},
        "outbox": {"path": str(tmp_path / "outbox.sqlite3")},
        "model": {"card": str(card), "max_wait_ms": 5},
        "api": {"port": 0},
        "fusion": {"incidents": {"heartbeat_s": 3600}},
        "pipeline": {"model_retry_s": 1},
    }
    raw.update(overrides)
    return AgentConfig.model_validate(raw)


class EventSubscriber:
    """Collects every event (topic, decoded) published under the agent's prefix."""

    def __init__(self, port: int, agent: str) -> None:
        self.items: list[tuple[str, Event]] = []
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5
        )
        self.client.on_connect = lambda c, *a: c.subscribe(
            f"{topics.agent_prefix(SITE, agent)}events/#", qos=1
        )
        self.client.on_subscribe = lambda *a: self.ready.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.ready.wait(10)

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        event = decode_event(message.payload)  # raises (and fails the test) on a bad payload
        with self.lock:
            self.items.append((message.topic, event))

    def events(self) -> list[tuple[str, Event]]:
        with self.lock:
            return list(self.items)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def rtsp(tmp_path: Path) -> Iterator[RtspServer]:
    clip = make_clip(tmp_path / "media", ClipSpec(seconds=120, width=320, height=180))
    server = RtspServer({"cam1": clip}, tmp_path / "rtsp.log")
    server.start()
    try:
        yield server
    finally:
        server.kill()


def metric(client: httpx.Client, name: str, **labels: str) -> float | None:
    selector = ",".join(f'{k}="{v}"' for k, v in labels.items())
    prefix = f"{name}{{{selector}}} " if labels else f"{name} "
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(prefix):
            return float(line.split()[-1])
    return None


def test_rtsp_to_broker_and_camera_outage_visible_in_metrics(
    tmp_path: Path, mosquitto: Mosquitto, rtsp: RtspServer
) -> None:
    card = always_alert_card(tmp_path / "model")
    camera = {
        "name": "cam1",
        "url": rtsp.url("cam1"),
        "analysis_fps": 8,
        "stale_after_seconds": 2,
        "reconnect_min_seconds": 0.2,
        "reconnect_max_seconds": 1,
    }
    config = agent_config(tmp_path, mosquitto.port, card, cameras=[camera])
    subscriber = EventSubscriber(mosquitto.port, "e2e")
    agent = Agent(config)
    agent.start()
    try:
        assert agent.api is not None
        http = httpx.Client(base_url=f"http://127.0.0.1:{agent.api.port}", timeout=10)
        wait_until(lambda: bool(subscriber.events()), 60, "an event on the broker")
        topic, event = subscriber.events()[0]
        assert topic == topics.events(SITE, "e2e", "motion")
        assert event.phase is Phase.START and event.category == "motion"
        assert event.source.kind is SourceKind.CAMERA and event.source.id == "cam1"
        assert event.model is not None and event.model.name == "tiny-motion"
        assert set(event.evidence.scores) == {"still", "motion"}
        assert event.requires_review
        assert abs(event.occurred_at.timestamp() - time.time()) < 60

        assert http.get("/healthz").status_code == 200
        wait_until(lambda: http.get("/readyz").status_code == 200, 20, "ready")
        assert metric(http, "streetsense_camera_up", camera="cam1") == 1.0
        assert (metric(http, "streetsense_frames_decoded_total", camera="cam1") or 0) > 0
        assert (metric(http, "streetsense_clips_analysed_total", camera="cam1") or 0) > 0
        classified = metric(http, "streetsense_classification_latency_seconds_count") or 0
        assert classified >= 1  # capture -> classified is observed per clip
        assert (metric(http, "streetsense_classification_latency_seconds_sum") or 0) > 0
        recent = http.get("/v1/events/recent").json()["events"]
        assert event.event_id in {e["event_id"] for e in recent}
        cameras = http.get("/v1/cameras").json()["cameras"]
        assert cameras[0]["name"] == "cam1" and cameras[0]["connected"] is True

        rtsp.kill()
        wait_until(
            lambda: metric(http, "streetsense_camera_up", camera="cam1") == 0.0, 15, "camera down"
        )
        ready = http.get("/readyz")
        assert ready.status_code == 503
        assert any("cam1" in reason for reason in ready.json()["reasons"])
        assert http.get("/healthz").status_code == 200  # down camera: alive, not ready

        rtsp.start()
        wait_until(
            lambda: metric(http, "streetsense_camera_up", camera="cam1") == 1.0, 30, "camera up"
        )
        assert (metric(http, "streetsense_camera_reconnects_total", camera="cam1") or 0) >= 1
        wait_until(lambda: http.get("/readyz").status_code == 200, 20, "ready again")
        http.close()
    finally:
        agent.stop()
        subscriber.close()
    assert agent.outbox.spool.path.exists()
