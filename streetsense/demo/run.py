"""`streetsense demo`: the whole single-box pipeline on bundled media, with embedded defaults.

Starts an MQTT broker (mosquitto when installed, else an embedded one), a stand-in alarm receiving centre speaking SIA DC-09, the
broker adapter, an edge agent whose camera is the bundled street clip, and a
simulated lamppost (sound level on MQTT, call button over HTTP). Prints alerts
as an operator would see them, has a demo operator confirm one and dismiss
another through the adapter's API, and ends with a summary.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import REGISTRY

from events import Event, EventError, OperatorAction, decode_action, decode_event, topics
from models import shipped_card_path
from streetsense.demo.arc import DemoReceivingCentre
from streetsense.demo.broker import BrokerKind, BrokerUnavailableError, start_broker
from streetsense.demo.console import Console
from streetsense.demo.sensor import SimulatedLamppost
from streetsense.demo.stack import (
    AGENT,
    OPERATOR_TOKEN,
    SITE,
    LoopThread,
    adapter_config,
    agent_config,
)

logger = logging.getLogger(__name__)


class Watcher:
    """Subscribes like a console would: every event, and the operator actions sent back."""

    def __init__(self, port: int, console: Console) -> None:
        self.events: list[Event] = []
        self.actions: list[OperatorAction] = []
        self._console = console
        self._lock = threading.Lock()
        subscribed = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="demo-console")
        self._client.on_connect = lambda client, *_: client.subscribe(
            [(topics.ALL_EVENTS, 1), (topics.acks(SITE, AGENT), 1)]
        )
        self._client.on_subscribe = lambda *_: subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        subscribed.wait(10)

    def _on_message(
        self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage
    ) -> None:
        try:
            if message.topic.endswith("/acks"):
                action = decode_action(message.payload)
                with self._lock:
                    self.actions.append(action)
                self._console.action(action)
            else:
                event = decode_event(message.payload)
                with self._lock:
                    self.events.append(event)
                self._console.alert(event)
        except EventError as exc:
            logger.warning("demo console ignored a bad payload on %s: %s", message.topic, exc)

    def close(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()


class DemoOperator:
    """Answers alerts through the adapter's HTTP API, as a control-room operator would."""

    def __init__(self, api: str) -> None:
        self._client = httpx.Client(
            base_url=api, headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}, timeout=10
        )
        self.answered: dict[str, str] = {}

    def answer_open_alerts(self) -> None:
        """Confirm emergency calls, dismiss noise as a false alarm; each alert once."""
        try:
            alerts = self._client.get("/v1/alerts", params={"state": "open"}).json()["alerts"]
        except (httpx.HTTPError, KeyError, ValueError):
            return
        for alert in alerts:
            verb = {"emergency_call": "confirm", "loud_noise": "dismiss"}.get(alert["category"])
            if verb is None or alert["id"] in self.answered:
                continue
            note = (
                "call point answered, patrol sent" if verb == "confirm" else "street music, no risk"
            )
            response = self._client.post(f"/v1/alerts/{alert['id']}/{verb}", json={"note": note})
            if response.status_code == 200:
                self.answered[alert["id"]] = verb

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()


def _metric(name: str, **labels: str) -> float:
    total = 0.0
    for family in REGISTRY.collect():
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def run_demo(
    duration: float = 45.0,
    *,
    quiet: bool = False,
    card: Path | None = None,
    broker: BrokerKind = "auto",
) -> int:
    """Run the demo for ``duration`` seconds; 0 on success, 2 when it cannot start.

    ``broker``: ``auto`` uses mosquitto when installed, else the embedded Python broker.
    """
    console = Console(quiet=quiet)
    card_path = card or shipped_card_path()
    if not card_path.is_file():
        console.info(f"the model card {card_path} is missing: run `make model` first")
        return 2
    with tempfile.TemporaryDirectory(prefix="streetsense-demo-") as tmp:
        return _run(Path(tmp), duration, console, card_path, broker)


def _run(workdir: Path, duration: float, console: Console, card: Path, kind: BrokerKind) -> int:
    from broker.main import Adapter
    from edge.agent import Agent

    try:
        broker = start_broker(workdir, kind)
    except BrokerUnavailableError as exc:
        console.info(str(exc))
        return 2
    console.info(f"{broker.description} on 127.0.0.1:{broker.port}")
    loop = LoopThread()
    arc = DemoReceivingCentre(console.arc)
    loop.run(arc.start())
    console.info(f"alarm receiving centre (SIA DC-09 over TCP) on 127.0.0.1:{arc.port}")
    adapter = Adapter(adapter_config(workdir, broker.port, arc.port))
    loop.run(adapter.start())
    console.info(f"broker adapter API on http://127.0.0.1:{adapter.port}")
    watcher = Watcher(broker.port, console)
    agent = Agent(agent_config(workdir, broker.port, card))
    agent.start()
    assert agent.api is not None
    console.info(
        f"edge agent {SITE}/{AGENT} API on http://127.0.0.1:{agent.api.port}; camera: bundled street clip"
    )
    lamppost = SimulatedLamppost(
        broker_port=broker.port,
        site=SITE,
        agent=AGENT,
        agent_api=f"http://127.0.0.1:{agent.api.port}",
    )
    lamppost.start()
    operator = DemoOperator(f"http://127.0.0.1:{adapter.port}")
    console.info("alerts appear below as an operator's console lists them (all are suggestions)")
    started = time.monotonic()
    try:
        while (elapsed := time.monotonic() - started) < duration:
            time.sleep(1.0)
            operator.answer_open_alerts()
            console.progress(
                f"[{elapsed:4.0f}/{duration:.0f}s] frames decoded {_metric('streetsense_frames_decoded_total'):.0f}"
                f" | analysed {_metric('streetsense_frames_analysed_total'):.0f}"
                f" | clips {_metric('streetsense_clips_analysed_total'):.0f}"
                f" | events {len(watcher.events)} | ARC frames {len(arc.messages)}"
                f" | operator answers {len(operator.answered)}"
            )
        time.sleep(2.0)  # let the last deliveries and acks land
    finally:
        lamppost.stop()
        agent.stop()
        operator.close()
        watcher.close()
        loop.run(adapter.stop())
        loop.run(arc.close())
        loop.close()
        broker.stop()
    chain = verify_audit(workdir)
    _summary(console, watcher=watcher, arc=arc, operator=operator, chain=chain, duration=duration)
    return 0


def verify_audit(workdir: Path) -> str:
    """Verify the adapter's audit chain after the run."""
    from broker.audit_cli import verify_command

    code = verify_command(str(workdir / "adapter.db"))
    return "verified" if code == 0 else "BROKEN"


def _summary(
    console: Console,
    *,
    watcher: Watcher,
    arc: DemoReceivingCentre,
    operator: DemoOperator,
    chain: str,
    duration: float,
) -> None:
    by_category = Counter((event.category, event.phase.value) for event in watcher.events)
    lines = [
        "",
        f"StreetSense demo summary ({duration:.0f} s)",
        f"  frames decoded {_metric('streetsense_frames_decoded_total'):.0f}, analysed "
        f"{_metric('streetsense_frames_analysed_total'):.0f}, clips classified "
        f"{_metric('streetsense_clips_analysed_total'):.0f}, analysis drops "
        f"{_metric('streetsense_drops_total'):.0f}",
        "  events: "
        + (
            ", ".join(f"{cat} {phase} x{n}" for (cat, phase), n in sorted(by_category.items()))
            or "none"
        ),
        f"  alarm receiving centre acknowledged {len(arc.messages)} DC-09 frames",
        "  operator answers: "
        + (", ".join(f"{verb} {alert[:8]}" for alert, verb in operator.answered.items()) or "none"),
        f"  operator actions delivered back to the agent: {len(watcher.actions)}",
        f"  audit log hash chain: {chain}",
        "  no fight was suggested unless the model saw one: the bundled clip shows pedestrians",
    ]
    for line in lines:
        console.info(line) if line.startswith("  ") else print(line)
