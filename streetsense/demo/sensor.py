"""A simulated lamppost: a sound level meter on MQTT and an emergency call button over HTTP."""

from __future__ import annotations

import json
import math
import threading
import time

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from events import topics


class SimulatedLamppost:
    """Publishes sound levels every second (a loud burst mid-run) and presses the call button once.

    The script (seconds from start): quiet street at 55-62 dBA; 94 dBA from ``burst_at``
    for ``burst_s`` seconds (e.g. shouting); the call button pressed at ``button_at``.
    """

    def __init__(
        self,
        *,
        broker_port: int,
        site: str,
        agent: str,
        agent_api: str,
        burst_at: float = 6.0,
        burst_s: float = 9.0,
        button_at: float = 20.0,
    ) -> None:
        self._topic = topics.sensors(site, agent, "mic1")
        self._api = agent_api
        self._burst = (burst_at, burst_at + burst_s)
        self._button_at = button_at
        self._stop = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"lamppost-{agent}")
        self._client.connect("127.0.0.1", broker_port)
        self._thread = threading.Thread(target=self._run, name="demo-lamppost", daemon=True)
        self.readings_sent = 0
        self.button_pressed = False

    def start(self) -> None:
        """Start publishing."""
        self._client.loop_start()
        self._thread.start()

    def stop(self) -> None:
        """Stop publishing."""
        self._stop.set()
        self._thread.join(timeout=5)
        self._client.disconnect()
        self._client.loop_stop()

    def _level(self, elapsed: float) -> float:
        if self._burst[0] <= elapsed < self._burst[1]:
            return 94.0 + 2.0 * math.sin(elapsed)
        return 58.0 + 4.0 * math.sin(elapsed / 3.0)

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(1.0):
            elapsed = time.monotonic() - started
            payload = {
                "quantity": "sound_level",
                "value": round(self._level(elapsed), 1),
                "unit": "dBA",
            }
            self._client.publish(self._topic, json.dumps(payload), qos=1)
            self.readings_sent += 1
            if not self.button_pressed and elapsed >= self._button_at:
                self._press_button()

    def _press_button(self) -> None:
        try:
            response = httpx.post(
                f"{self._api}/v1/sensors/button1",
                json={"quantity": "call_button", "value": "pressed"},
                timeout=5,
            )
            self.button_pressed = response.status_code == 202
        except httpx.HTTPError:
            self.button_pressed = False
