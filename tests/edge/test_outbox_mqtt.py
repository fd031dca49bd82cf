"""The outbox against a real mosquitto: order, broker crash, agent crash, Last Will, acks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.metrics import EVENT_LATENCY, OUTBOX_PUBLISHED
from edge.outbox import BrokerConfig, Outbox, OutboxConfig
from edge.outbox.metrics import INBOUND_REJECTED
from events import (
    ActionKind,
    AgentState,
    Event,
    OperatorAction,
    Phase,
    Severity,
    Source,
    SourceKind,
    decode_event,
    decode_status,
    encode,
    new_id,
    topics,
)
from tests.support.mosquitto import Mosquitto

ROOT = Path(__file__).resolve().parents[2]
SITE = "lab"
WINDOW = 10


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def make_event(n: int) -> Event:
    at = datetime.now(UTC)
    return Event(
        event_id=f"evt-{n:08d}",
        incident_id="inc-00000001",
        phase=Phase.UPDATE,
        site=SITE,
        agent="agent1",
        source=Source(kind=SourceKind.CAMERA, id="cam1"),
        category="fight",
        severity=Severity.HIGH,
        confidence=0.9,
        summary=f"n={n}",
        occurred_at=at,
        published_at=at,
    )


class Subscriber:
    """A persistent-session QoS 1 subscriber that records everything it receives."""

    def __init__(self, port: int, topic: str, client_id: str) -> None:
        self.received: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self.client.reconnect_delay_set(1, 1)
        self.topic = topic
        self.subscribed = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *args: self.subscribed.set()
        self.client.on_message = self._on_message
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        self.client.connect("127.0.0.1", port, clean_start=False, properties=props)
        self.client.loop_start()
        assert self.subscribed.wait(10), "subscriber did not subscribe"

    def _on_connect(self, client: mqtt.Client, *args: object) -> None:
        client.subscribe(self.topic, qos=1)

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.received.append((message.topic, bytes(message.payload), bool(message.retain)))

    def events(self) -> list[Event]:
        with self.lock:
            return [decode_event(p) for t, p, _ in self.received if "/events/" in t]

    def unique_ids(self) -> list[str]:
        seen: dict[str, None] = {}
        for event in self.events():
            seen.setdefault(event.event_id, None)
        return list(seen)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def make_outbox(tmp_path: Path) -> Iterator[Callable[..., Outbox]]:
    made: list[Outbox] = []

    def factory(port: int, agent: str, spool: Path | None = None, **kwargs: object) -> Outbox:
        outbox = Outbox(
            OutboxConfig(path=spool or tmp_path / f"{agent}.sqlite3", max_inflight=WINDOW),
            BrokerConfig(port=port, reconnect_min_s=0.1, reconnect_max_s=0.5, keepalive_s=5),
            site=SITE,
            agent=agent,
            version="test",
            **kwargs,  # type: ignore[arg-type]
        )
        made.append(outbox)
        outbox.start()
        return outbox

    yield factory
    for outbox in made:
        outbox.stop()


@pytest.fixture
def subscribers() -> Iterator[list[Subscriber]]:
    made: list[Subscriber] = []
    yield made
    for subscriber in made:
        subscriber.close()


def test_events_arrive_in_order_with_retained_online_status(
    mosquitto: Mosquitto, make_outbox: Callable[..., Outbox], subscribers: list[Subscriber]
) -> None:
    agent = "order"
    events_sub = Subscriber(mosquitto.port, f"{topics.agent_prefix(SITE, agent)}#", "sub-order")
    subscribers.append(events_sub)
    published_before = OUTBOX_PUBLISHED._value.get()
    latency_before = EVENT_LATENCY._sum.get()
    outbox = make_outbox(mosquitto.port, agent)
    for n in range(50):
        assert outbox.submit(make_event(n), captured_at=time.time())
    wait_until(lambda: len(events_sub.events()) >= 50, 30, "50 events")
    received = events_sub.events()
    assert [e.event_id for e in received] == [f"evt-{n:08d}" for n in range(50)]
    assert all(
        t == topics.events(SITE, agent, "fight")
        for t, _, _ in events_sub.received
        if "/events/" in t
    )
    wait_until(lambda: outbox.backlog() == 0, 10, "spool drained on PUBACK")
    assert OUTBOX_PUBLISHED._value.get() >= published_before + 50
    assert EVENT_LATENCY._sum.get() > latency_before

    status_sub = Subscriber(mosquitto.port, topics.status(SITE, agent), "sub-order-status")
    subscribers.append(status_sub)
    wait_until(lambda: bool(status_sub.received), 10, "retained status")
    _, payload, retained = status_sub.received[-1]
    status = decode_status(payload)
    assert retained and status.state is AgentState.ONLINE and status.agent == agent


def test_a_batch_is_stored_once_and_arrives_in_order(
    mosquitto: Mosquitto, make_outbox: Callable[..., Outbox], subscribers: list[Subscriber]
) -> None:
    agent = "batch"
    sub = Subscriber(mosquitto.port, f"{topics.agent_prefix(SITE, agent)}events/#", "sub-batch")
    subscribers.append(sub)
    outbox = make_outbox(mosquitto.port, agent)
    batch = [(make_event(n), time.time()) for n in (4, 2, 7, 2, 9)]
    assert outbox.submit_many(batch) == [True] * 5
    assert outbox.submit_many([]) == []
    wait_until(lambda: len(sub.events()) >= 4, 30, "the batch's 4 distinct events")
    wait_until(lambda: outbox.backlog() == 0, 10, "spool drained on PUBACK")
    assert sub.unique_ids() == [f"evt-{n:08d}" for n in (4, 2, 7, 9)]


def test_broker_killed_while_events_flow_loses_nothing(
    tmp_path: Path,
    make_outbox: Callable[..., Outbox],
    subscribers: list[Subscriber],
) -> None:
    # autosave on every change: a SIGKILLed mosquitto keeps what it acknowledged
    broker = Mosquitto(
        tmp_path / "mq", extra_config="autosave_on_changes true\nautosave_interval 1"
    )
    broker.start()
    try:
        agent = "crash"
        sub = Subscriber(broker.port, f"{topics.agent_prefix(SITE, agent)}events/#", "sub-crash")
        subscribers.append(sub)
        outbox = make_outbox(broker.port, agent)
        total = 300
        stop = threading.Event()

        def produce() -> None:
            for n in range(total):
                assert outbox.submit(make_event(n), captured_at=time.time())
                time.sleep(0.005)
            stop.set()

        producer = threading.Thread(target=produce)
        producer.start()
        wait_until(lambda: len(sub.unique_ids()) >= 60, 30, "first events before the crash")
        broker.kill()
        wait_until(lambda: not outbox.connected, 10, "agent notices the broker is gone")
        time.sleep(0.5)  # events keep being spooled while the broker is down
        assert outbox.backlog() > 0
        broker.start()
        producer.join(30)
        assert stop.is_set()
        wait_until(lambda: len(sub.unique_ids()) >= total, 60, "every event after the restart")
        wait_until(lambda: outbox.backlog() == 0, 20, "spool drained")
        ids = sub.unique_ids()
        assert ids == [f"evt-{n:08d}" for n in range(total)]  # all, in spool order
        duplicates = len(sub.events()) - len(ids)
        assert duplicates <= WINDOW, f"{duplicates} duplicates exceed the in-flight window"
    finally:
        broker.kill()


def test_outbox_survives_an_agent_restart(
    tmp_path: Path, make_outbox: Callable[..., Outbox], subscribers: list[Subscriber]
) -> None:
    broker = Mosquitto(tmp_path / "mq")  # not started: the first agent run is offline
    spool = tmp_path / "restart.sqlite3"
    agent = "restart"
    first = Outbox(
        OutboxConfig(path=spool, max_inflight=WINDOW),
        BrokerConfig(port=broker.port, reconnect_min_s=0.1, reconnect_max_s=0.3),
        site=SITE,
        agent=agent,
    )
    first.start()
    for n in range(20):
        assert first.submit(make_event(n))
    assert first.backlog() == 20
    first.stop()

    broker.start()
    try:
        sub = Subscriber(broker.port, f"{topics.agent_prefix(SITE, agent)}events/#", "sub-restart")
        subscribers.append(sub)
        second = make_outbox(broker.port, agent, spool=spool)
        second.submit(make_event(20))
        wait_until(lambda: len(sub.unique_ids()) >= 21, 30, "replayed events")
        assert sub.unique_ids() == [f"evt-{n:08d}" for n in range(21)]
        wait_until(lambda: second.backlog() == 0, 10, "spool drained")
    finally:
        broker.kill()


CHILD = """
import sys, time
from pathlib import Path
from edge.outbox import BrokerConfig, Outbox, OutboxConfig
outbox = Outbox(OutboxConfig(path=Path(sys.argv[2])), BrokerConfig(port=int(sys.argv[1]), keepalive_s=5),
                site="lab", agent="willtest")
outbox.start()
assert outbox.publisher.wait_connected(20)
print("ready", flush=True)
time.sleep(600)
"""


def test_last_will_marks_a_killed_agent_offline(
    tmp_path: Path, mosquitto: Mosquitto, subscribers: list[Subscriber]
) -> None:
    sub = Subscriber(mosquitto.port, topics.status(SITE, "willtest"), "sub-will")
    subscribers.append(sub)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(mosquitto.port), str(tmp_path / "will.sqlite3")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == b"ready"
        wait_until(lambda: len(sub.received) >= 1, 10, "online status")
        assert decode_status(sub.received[-1][1]).state is AgentState.ONLINE
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        wait_until(
            lambda: decode_status(sub.received[-1][1]).state is AgentState.OFFLINE, 15, "Last Will"
        )
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        if child.stdout is not None:
            child.stdout.close()
    # retained: a console connecting later still sees the agent offline
    late = Subscriber(mosquitto.port, topics.status(SITE, "willtest"), "sub-will-late")
    subscribers.append(late)
    wait_until(lambda: bool(late.received), 10, "retained offline status")
    assert late.received[-1][2] and decode_status(late.received[-1][1]).state is AgentState.OFFLINE


def test_clean_stop_publishes_offline(
    mosquitto: Mosquitto, make_outbox: Callable[..., Outbox], subscribers: list[Subscriber]
) -> None:
    sub = Subscriber(mosquitto.port, topics.status(SITE, "clean"), "sub-clean")
    subscribers.append(sub)
    outbox = make_outbox(mosquitto.port, "clean")
    assert outbox.publisher.wait_connected(10)
    wait_until(lambda: bool(sub.received), 10, "online")
    outbox.stop()
    wait_until(
        lambda: decode_status(sub.received[-1][1]).state is AgentState.OFFLINE, 10, "offline"
    )


def test_operator_actions_are_delivered_and_malformed_ones_counted(
    mosquitto: Mosquitto, make_outbox: Callable[..., Outbox]
) -> None:
    got: list[OperatorAction] = []
    outbox = make_outbox(mosquitto.port, "acks", on_action=got.append)
    assert outbox.publisher.wait_connected(10)
    time.sleep(0.2)  # let the SUBSCRIBE complete
    sender = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5
    )
    sender.connect("127.0.0.1", mosquitto.port)
    sender.loop_start()
    try:
        before = INBOUND_REJECTED.labels(topic="acks", reason="malformed")._value.get()
        topic = topics.acks(SITE, "acks")
        sender.publish(topic, b"{not json", qos=1).wait_for_publish(5)
        action = OperatorAction(
            action_id=new_id(),
            event_id=new_id(),
            incident_id=new_id(),
            action=ActionKind.DISMISS,
            operator="op1",
            channel="api",
            at=datetime.now(UTC).replace(microsecond=0),
        )
        sender.publish(topic, encode(action), qos=1).wait_for_publish(5)
        wait_until(lambda: bool(got), 10, "the operator action")
        assert got == [action]
        assert INBOUND_REJECTED.labels(topic="acks", reason="malformed")._value.get() == before + 1
        assert outbox.connected  # a malformed payload is never fatal
    finally:
        sender.loop_stop()
        sender.disconnect()


def test_window_respects_the_broker_receive_maximum(
    tmp_path: Path, make_outbox: Callable[..., Outbox], subscribers: list[Subscriber]
) -> None:
    broker = Mosquitto(tmp_path / "mq", extra_config="max_inflight_messages 3")
    broker.start()
    try:
        sub = Subscriber(broker.port, f"{topics.agent_prefix(SITE, 'rmax')}events/#", "sub-rmax")
        subscribers.append(sub)
        outbox = make_outbox(broker.port, "rmax")
        assert outbox.publisher.wait_connected(10)
        for n in range(30):
            assert outbox.submit(make_event(n))
        wait_until(lambda: len(sub.unique_ids()) == 30, 20, "all events")
        assert sub.unique_ids() == [f"evt-{n:08d}" for n in range(30)]
        assert outbox.publisher._window == 3  # clamped from WINDOW (10)
    finally:
        broker.kill()
