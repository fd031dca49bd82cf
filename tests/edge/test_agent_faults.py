"""Faults the agent must survive: a missing model (later appearing), a bad checksum,
a corrupt video next to a good one, a bad config, SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edge.agent import Agent
from events import AgentState, SensorReading, Severity, decode_status, topics
from tests.edge.test_agent_e2e import (
    SITE,
    EventSubscriber,
    agent_config,
    always_alert_card,
    wait_until,
)
from tests.support.media import ClipSpec, corrupted_copy, make_clip
from tests.support.mosquitto import Mosquitto
from tests.support.tiny_model import build_tiny_model

ROOT = Path(__file__).resolve().parents[2]


def test_missing_model_keeps_sensors_running_and_recovers_when_it_appears(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    card = tmp_path / "model" / "card.yaml"  # not there yet
    subscriber = EventSubscriber(mosquitto.port, "e2e")
    agent = Agent(agent_config(tmp_path, mosquitto.port, card))
    agent.start()
    try:
        assert agent.api is not None
        http = httpx.Client(base_url=f"http://127.0.0.1:{agent.api.port}", timeout=10)
        health = agent.health()
        assert health.alive and not health.ready
        assert health.model is None and "card.yaml" in (health.model_error or "")
        ready = http.get("/readyz")
        assert ready.status_code == 503
        assert any("model not loaded" in reason for reason in ready.json()["reasons"])
        assert http.get("/healthz").status_code == 200

        # the sensor path works without a model: an emergency call goes out
        pressed = SensorReading(
            sensor="button1",
            quantity="call_button",
            value=1.0,
            unit="bool",
            observed_at=datetime.now(UTC),
        )
        assert agent.submit_reading(pressed)
        wait_until(lambda: bool(subscriber.events()), 20, "the emergency call event")
        topic, event = subscriber.events()[0]
        assert topic == topics.events(SITE, "e2e", "emergency_call")
        assert event.severity is Severity.CRITICAL and event.source.id == "button1"

        always_alert_card(card.parent)  # the model is installed while the agent runs
        wait_until(lambda: agent.health().model is not None, 20, "the model to load")
        assert agent.health().ready
        assert http.get("/readyz").status_code == 200
        http.close()
    finally:
        agent.stop()
        subscriber.close()


def test_bad_checksum_is_reported_and_the_agent_keeps_running(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    card = build_tiny_model(tmp_path / "model")
    with (card.parent / "head.onnx").open("ab") as handle:
        handle.write(b"tampered")
    agent = Agent(agent_config(tmp_path, mosquitto.port, card))
    agent.start()
    try:
        health = agent.health()
        assert health.alive and not health.ready and health.model is None
        assert "head.onnx" in (health.model_error or "")
        assert "sha256" in (health.model_error or "").lower() or "checksum" in (
            health.model_error or ""
        )
        wait_until(lambda: agent.outbox.connected, 10, "broker connection")
    finally:
        agent.stop()


def test_corrupt_video_is_counted_while_a_good_camera_keeps_alerting(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    good = make_clip(tmp_path / "media", ClipSpec(seconds=30, width=320, height=180))
    bad = corrupted_copy(good, tmp_path / "corrupt.mp4")
    cameras = [
        {"name": "bad", "url": str(bad), "pace": False},
        {"name": "good", "url": str(good), "loop": True, "analysis_fps": 8},
    ]
    card = always_alert_card(tmp_path / "model")
    subscriber = EventSubscriber(mosquitto.port, "e2e")
    agent = Agent(agent_config(tmp_path, mosquitto.port, card, cameras=cameras))
    agent.start()
    try:
        readers = agent.readers
        wait_until(lambda: readers["bad"].health().ended, 60, "the end of the corrupt file")
        assert readers["bad"].health().decode_errors >= 1
        wait_until(
            lambda: any(e.source.id == "good" for _, e in subscriber.events()),
            60,
            "an event from the good camera",
        )
        assert agent.health().alive
    finally:
        agent.stop()
        subscriber.close()


def _cli(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "streetsense.cli", "edge", "run", "--config", str(config)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_bad_config_exits_with_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text("site: s\nagent: a\nbroker:\n  prot: 1883\n", encoding="utf-8")
    child = _cli(config)
    _out, err = child.communicate(timeout=60)
    assert child.returncode == 2
    assert b"broker.prot (line 4)" in err


def test_edge_run_stops_cleanly_on_sigterm(tmp_path: Path, mosquitto: Mosquitto) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text(
        "\n".join(
            [
                "site: lab",
                "agent: cli",
                f"broker: {{port: {mosquitto.port}}}",
                f"outbox: {{path: {tmp_path / 'outbox.sqlite3'}}}",
                f"model: {{card: {tmp_path / 'absent' / 'card.yaml'}}}",
                "api: {port: 0}",
                "",
            ]
        ),
        encoding="utf-8",
    )
    states: list[AgentState] = []
    lock = threading.Lock()
    watcher = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5
    )

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with lock:
            states.append(decode_status(message.payload).state)

    watcher.on_message = on_message
    watcher.on_connect = lambda c, *a: c.subscribe(topics.status("lab", "cli"), qos=1)
    watcher.connect("127.0.0.1", mosquitto.port)
    watcher.loop_start()
    child = _cli(config)
    try:
        wait_until(lambda: AgentState.ONLINE in states, 30, "the agent online")
        child.send_signal(signal.SIGTERM)
        _out, err = child.communicate(timeout=30)
        assert child.returncode == 0, err.decode(errors="replace")
        wait_until(lambda: states[-1] is AgentState.OFFLINE, 10, "offline status")
        assert b"model unavailable" in err  # reported, not fatal
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate(timeout=10)
        watcher.loop_stop()
        watcher.disconnect()


def test_edge_run_reports_a_taken_api_port(tmp_path: Path, mosquitto: Mosquitto) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "agent.yaml"
        config.write_text(
            f"site: lab\nagent: port\nbroker: {{port: {mosquitto.port}}}\n"
            f"outbox: {{path: {tmp_path / 'o.sqlite3'}}}\n"
            f"model: {{card: {tmp_path / 'absent.yaml'}}}\napi: {{port: {port}}}\n",
            encoding="utf-8",
        )
        child = _cli(config)
        _out, err = child.communicate(timeout=60)
    assert child.returncode == 1
    assert b"agent cannot start" in err and b"in use" in err
