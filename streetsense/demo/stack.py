"""Configs and the adapter thread for the single-box demo stack."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from broker.config import AdapterConfig
from edge.config import AgentConfig

SITE = "demo-city"
AGENT = "lamppost-1"
OPERATOR = "demo-operator"
OPERATOR_TOKEN = "demo-token-not-secret"  # noqa: S105 - a fixed token for a local demo
T = TypeVar("T")
MEDIA = Path(__file__).resolve().parent.parent / "media" / "street-demo.mp4"


def agent_config(workdir: Path, broker_port: int, card: Path) -> AgentConfig:
    """The demo agent: the bundled clip as a live camera, a microphone and a call button."""
    from models.card import load_card

    sample_fps = load_card(card).input.sample_fps  # analyse at the rate the model was trained on
    raw: dict[str, Any] = {
        "site": SITE,
        "agent": AGENT,
        "broker": {"port": broker_port, "reconnect_min_s": 0.2, "reconnect_max_s": 2},
        "outbox": {"path": str(workdir / "agent-outbox.sqlite3"), "synchronous": "normal"},
        "model": {"card": str(card), "threads": 1},
        "api": {"port": 0},
        "cameras": [
            {
                "name": "high-street",
                "url": str(MEDIA),
                "loop": True,
                "analysis_fps": sample_fps,
                "privacy_masks": [
                    {
                        "name": "shop windows",
                        "points": [[0.0, 0.0], [0.2, 0.0], [0.2, 0.3], [0.0, 0.3]],
                    }
                ],
            }
        ],
        "sensors": {"mqtt": True, "http": True, "allowed_sensors": ["mic1", "button1"]},
        "fusion": {
            "sensor_rules": [
                {
                    "name": "loud_noise",
                    "quantity": "sound_level",
                    "above": 85,
                    "clear_margin": 3,
                    "min_duration_s": 3,
                    "clear_hold_s": 4,
                    "category": "loud_noise",
                    "severity": "medium",
                },
                {
                    "name": "emergency_call",
                    "quantity": "call_button",
                    "above": 0.5,
                    "clear_hold_s": 10,
                    "category": "emergency_call",
                    "severity": "critical",
                },
            ],
            "correlations": [
                {
                    "category": "fight",
                    "quantity": "sound_level",
                    "above": 80,
                    "window_s": 10,
                    "confidence_boost": 0.15,
                    "severity": "critical",
                }
            ],
        },
    }
    return AgentConfig.model_validate(raw)


def adapter_config(workdir: Path, broker_port: int, arc_port: int) -> AdapterConfig:
    """The demo adapter: every event to a DC-09 receiving centre and a delivery log."""
    raw: dict[str, Any] = {
        "mqtt": {"port": broker_port, "client_id": "demo-adapter"},
        "storage": {"kind": "sqlite", "path": str(workdir / "adapter.db"), "synchronous": "normal"},
        "outputs": {
            "arc": {
                "type": "dc09",
                "receivers": [{"host": "127.0.0.1", "port": arc_port, "name": "demo-arc"}],
                "account": "1234",
                "format": "sia_dcs",
                "ack_timeout_s": 3,
            },
            "log": {"type": "log", "path": str(workdir / "deliveries.log")},
        },
        "routes": [{"name": "everything", "outputs": ["arc", "log"]}],
        "api": {"port": 0, "operators": {OPERATOR: OPERATOR_TOKEN}},
    }
    return AdapterConfig.model_validate(raw)


class LoopThread:
    """An asyncio event loop on a thread of its own, for the adapter and the receiving centre."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="demo-loop", daemon=True
        )
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        """Run ``coroutine`` on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def close(self) -> None:
        """Stop the loop and its thread."""
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
