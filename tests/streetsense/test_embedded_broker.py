"""The embedded broker against real paho-mqtt 2.x clients (MQTT 3.1.1 and 5.0) and raw sockets."""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties as PahoProperties
from prometheus_client import REGISTRY

from streetsense.demo import run_demo
from streetsense.demo.mqtt_broker import BrokerThread, EmbeddedBroker, reasons
from streetsense.demo.mqtt_broker.codec import decode, decode_frame, encode
from streetsense.demo.mqtt_broker.packets import (
    MQTT_5,
    MQTT_311,
    Connack,
    Connect,
    Disconnect,
    Packet,
    Pingreq,
    Pingresp,
    Publish,
    Suback,
    Subscribe,
    SubscriptionRequest,
    Unsuback,
    Unsubscribe,
    Will,
)
from streetsense.demo.mqtt_broker.wire import Prop, Properties
from tests.support.tiny_model import build_tiny_model

TIMEOUT = 10.0
PROTOCOLS = pytest.mark.parametrize("protocol", [mqtt.MQTTv311, mqtt.MQTTv5], ids=["v311", "v5"])


@pytest.fixture
def broker() -> Iterator[BrokerThread]:
    with BrokerThread(EmbeddedBroker(max_queued=1000)) as running:
        yield running


class Peer:
    """A paho client that records what it receives."""

    def __init__(
        self,
        port: int,
        client_id: str,
        protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv5,
        *,
        clean: bool = True,
        expiry_s: int | None = None,
        receive_maximum: int | None = None,
        max_packet_size: int | None = None,
        manual_ack: bool = False,
    ) -> None:
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.session_present: bool | None = None
        self.disconnect_reason: object = None
        self._port, self._protocol, self._clean = port, protocol, clean
        self._expiry_s, self._receive_maximum = expiry_s, receive_maximum
        self._max_packet_size = max_packet_size
        self._connected = threading.Event()
        self._disconnected = threading.Event()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=protocol,
            clean_session=clean if protocol == mqtt.MQTTv311 else None,
            manual_ack=manual_ack,
        )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = lambda _c, _u, message: self.messages.put(message)

    def _on_connect(
        self, _c: mqtt.Client, _u: object, flags: mqtt.ConnectFlags, *_: object
    ) -> None:
        self.session_present = flags.session_present
        self._connected.set()

    def _on_disconnect(
        self, _c: mqtt.Client, _u: object, _f: object, reason: object, *_: object
    ) -> None:
        self.disconnect_reason = reason
        self._disconnected.set()

    def connect(self) -> Peer:
        props = None
        if self._protocol == mqtt.MQTTv5:
            props = PahoProperties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            if self._expiry_s is not None:
                props.SessionExpiryInterval = self._expiry_s
            if self._receive_maximum is not None:
                props.ReceiveMaximum = self._receive_maximum
            if self._max_packet_size is not None:
                props.MaximumPacketSize = self._max_packet_size
            self.client.connect("127.0.0.1", self._port, clean_start=self._clean, properties=props)
        else:
            self.client.connect("127.0.0.1", self._port)
        self.client.loop_start()
        assert self._connected.wait(TIMEOUT)
        return self

    def subscribe(self, topic: str, qos: int = 1) -> None:
        self._subscribed.clear()
        self.client.subscribe(topic, qos)
        assert self._subscribed.wait(TIMEOUT)

    def publish(self, topic: str, payload: bytes, qos: int = 1, *, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(TIMEOUT)

    def get(self) -> mqtt.MQTTMessage:
        return self.messages.get(timeout=TIMEOUT)

    def received(self, count: int) -> list[mqtt.MQTTMessage]:
        return [self.get() for _ in range(count)]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def peers(broker: BrokerThread) -> Iterator[list[Peer]]:
    made: list[Peer] = []
    yield made
    for peer in made:
        peer.close()


def _peer(
    peers: list[Peer],
    broker: BrokerThread,
    client_id: str,
    protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv5,
    *,
    clean: bool = True,
    expiry_s: int | None = None,
) -> Peer:
    peer = Peer(broker.port, client_id, protocol, clean=clean, expiry_s=expiry_s)
    peers.append(peer)
    return peer.connect()


class Raw:
    """A raw TCP client speaking through the codec (to misbehave precisely)."""

    def __init__(self, port: int, level: int = MQTT_5) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.level = level
        self._buffer = b""

    def send(self, packet: Packet) -> None:
        self.sock.sendall(encode(packet, self.level))

    def read(self) -> Packet | None:
        while (frame := decode_frame(self._buffer)) is None:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self._buffer += chunk
        self._buffer = self._buffer[frame.size :]
        return decode(frame.header, frame.body, self.level)

    def kill(self) -> None:
        """Reset the connection without a DISCONNECT."""
        self.sock.setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
        )
        self.sock.close()


@PROTOCOLS
def test_publish_subscribe_qos0_qos1_with_wildcards(
    broker: BrokerThread, peers: list[Peer], protocol: MQTTProtocolVersion
) -> None:
    sub = _peer(peers, broker, "sub", protocol=protocol)
    sub.subscribe("t/+/x", qos=1)
    sub.subscribe("t/#", qos=0)  # overlaps: one copy, at the higher QoS
    pub = _peer(peers, broker, "pub", protocol=protocol)
    pub.publish("u/a/x", b"no match")
    pub.publish("t/a/x", b"one", qos=1)
    pub.publish("t/b/y", b"two", qos=1)
    pub.publish("t/c/x", b"three", qos=0)
    got = sub.received(3)
    assert [(m.topic, m.payload, m.qos, m.retain) for m in got] == [
        ("t/a/x", b"one", 1, False),
        ("t/b/y", b"two", 0, False),
        ("t/c/x", b"three", 0, False),
    ]
    pub.publish("t/z/x", b"last", qos=1)
    assert sub.get().payload == b"last"  # nothing else (no duplicate of an overlap) came first


@PROTOCOLS
def test_retained_messages_are_stored_replaced_and_deleted(
    broker: BrokerThread, peers: list[Peer], protocol: MQTTProtocolVersion
) -> None:
    pub = _peer(peers, broker, "pub", protocol=protocol)
    pub.publish("r/1", b"one", retain=True)
    pub.publish("r/1", b"two", retain=True)
    pub.publish("r/2", b"gone", retain=True)
    pub.publish("r/2", b"", retain=True)
    sub = _peer(peers, broker, "sub", protocol=protocol)
    sub.subscribe("r/#")
    first = sub.get()
    assert (first.topic, first.payload, first.retain) == ("r/1", b"two", True)
    pub.publish("r/3", b"live", retain=True)
    live = sub.get()
    assert (live.topic, live.payload, live.retain) == ("r/3", b"live", False)
    assert broker.broker.retained.keys() == {"r/1", "r/3"}


def test_last_will_only_on_abnormal_disconnect_or_reason_0x04(
    broker: BrokerThread, peers: list[Peer]
) -> None:
    watcher = _peer(peers, broker, "watcher")
    watcher.subscribe("will/#")
    for client_id, level, ending in [
        ("polite", MQTT_311, Disconnect()),
        ("asks", MQTT_5, Disconnect(reasons.DISCONNECT_WITH_WILL)),
        ("killed", MQTT_311, None),
    ]:
        raw = Raw(broker.port, level)
        raw.send(
            Connect(client_id, level, True, 30, will=Will(f"will/{client_id}", b"offline", 1, True))
        )
        ack = raw.read()
        assert isinstance(ack, Connack) and ack.reason_code == 0
        if ending is None:
            raw.kill()
        else:
            raw.send(ending)
            assert raw.read() is None  # the broker closes after DISCONNECT
            raw.sock.close()
    wills = watcher.received(2)
    assert [(m.topic, m.payload) for m in wills] == [
        ("will/asks", b"offline"),
        ("will/killed", b"offline"),
    ]
    late = _peer(peers, broker, "late")
    late.subscribe("will/#")
    assert {late.get().topic, late.get().topic} == {"will/asks", "will/killed"}  # retained wills


@PROTOCOLS
def test_persistent_session_gets_what_was_published_while_offline_in_order(
    broker: BrokerThread, peers: list[Peer], protocol: MQTTProtocolVersion
) -> None:
    durable = Peer(broker.port, "durable", protocol, clean=False, expiry_s=300).connect()
    durable.subscribe("p/#")
    durable.close()
    pub = _peer(peers, broker, "pub", protocol=protocol)
    for index in range(20):
        pub.publish(f"p/{index % 3}", str(index).encode())
    pub.publish("p/q0", b"qos 0 is not queued", qos=0)
    back = _peer(peers, broker, "durable", protocol=protocol, clean=False, expiry_s=300)
    assert back.session_present is True
    assert [int(m.payload) for m in back.received(20)] == list(range(20))
    pub.publish("p/live", b"after")
    assert back.get().payload == b"after"


def test_unacknowledged_messages_are_resent_with_dup_on_reconnect(
    broker: BrokerThread, peers: list[Peer]
) -> None:
    consumer = Peer(broker.port, "consumer", clean=False, expiry_s=300, manual_ack=True).connect()
    consumer.subscribe("a/#")
    pub = _peer(peers, broker, "pub")
    pub.publish("a/1", b"unacked")
    first = consumer.get()
    assert (first.payload, first.dup) == (b"unacked", False)
    consumer.close()  # no PUBACK sent
    again = _peer(peers, broker, "consumer", clean=False, expiry_s=300)
    resent = again.get()
    assert (resent.payload, resent.dup, resent.mid) == (b"unacked", True, first.mid)


def test_session_expiry_removes_an_offline_session(broker: BrokerThread, peers: list[Peer]) -> None:
    short = Peer(broker.port, "short", clean=False, expiry_s=1).connect()
    short.subscribe("e/#")
    short.close()
    assert "short" in broker.broker.sessions
    deadline = time.monotonic() + TIMEOUT
    while "short" in broker.broker.sessions and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "short" not in broker.broker.sessions
    again = _peer(peers, broker, "short", clean=False, expiry_s=1)
    assert again.session_present is False


def test_unsubscribe_and_ping_over_raw_v5(broker: BrokerThread, peers: list[Peer]) -> None:
    raw = Raw(broker.port, MQTT_5)
    raw.send(Connect("raw", MQTT_5))
    assert isinstance(raw.read(), Connack)
    raw.send(Subscribe(1, (SubscriptionRequest("x/#", 1), SubscriptionRequest("y/#", 0))))
    assert raw.read() == Suback(1, (1, 0))
    raw.send(Unsubscribe(2, ("x/#", "never/subscribed")))
    assert raw.read() == Unsuback(2, (reasons.SUCCESS, reasons.NO_SUBSCRIPTION_EXISTED))
    raw.send(Pingreq())
    assert raw.read() == Pingresp()
    pub = _peer(peers, broker, "pub")
    pub.publish("x/1", b"unsubscribed")
    pub.publish("y/1", b"still subscribed")
    delivered = raw.read()
    assert isinstance(delivered, Publish) and delivered.payload == b"still subscribed"
    raw.sock.close()


def test_clean_start_discards_the_old_session(broker: BrokerThread, peers: list[Peer]) -> None:
    durable = Peer(broker.port, "c1", clean=False, expiry_s=300).connect()
    durable.subscribe("c/#")
    durable.close()
    fresh = _peer(peers, broker, "c1", clean=True)
    assert fresh.session_present is False
    assert broker.broker.sessions["c1"].subscriptions == {}


def test_shared_subscription_gives_each_message_to_one_member(
    broker: BrokerThread, peers: list[Peer]
) -> None:
    members = [_peer(peers, broker, f"adapter-{n}") for n in range(2)]
    for member in members:
        member.subscribe("$share/adapters/ev/#")
    everything = _peer(peers, broker, "console")
    everything.subscribe("ev/#")
    pub = _peer(peers, broker, "agent")
    for index in range(20):
        pub.publish(f"ev/{index}", str(index).encode())
    assert sorted(int(m.payload) for m in everything.received(20)) == list(range(20))
    split = [{int(m.payload) for m in member.received(10)} for member in members]
    assert split[0] | split[1] == set(range(20)) and not split[0] & split[1]
    for member in members:
        assert member.messages.empty()


def test_shared_messages_left_by_a_disconnected_member_go_to_a_connected_one(
    broker: BrokerThread, peers: list[Peer]
) -> None:
    slow = Peer(broker.port, "slow", clean=False, expiry_s=300, manual_ack=True).connect()
    slow.subscribe("$share/g/s/#")
    pub = _peer(peers, broker, "pub")
    pub.publish("s/1", b"held by slow")  # slow is the only member: it gets this
    assert slow.get().payload == b"held by slow"
    other = _peer(peers, broker, "other")
    other.subscribe("$share/g/s/#")
    slow.close()  # never acknowledged
    assert other.get().payload == b"held by slow"
    other.close()
    pub.publish("s/2", b"nobody online")  # queued for a persistent member
    back = _peer(peers, broker, "slow", clean=False, expiry_s=300)
    assert back.get().payload == b"nobody online"


def test_receive_maximum_limits_unacknowledged_deliveries(
    broker: BrokerThread, peers: list[Peer]
) -> None:
    consumer = Peer(broker.port, "rm", receive_maximum=2, manual_ack=True)
    peers.append(consumer)
    consumer.connect()
    consumer.subscribe("rm/#")
    pub = _peer(peers, broker, "pub")
    for index in range(6):
        pub.publish(f"rm/{index}", str(index).encode())
    first = consumer.received(2)
    session = broker.broker.sessions["rm"]
    deadline = time.monotonic() + TIMEOUT
    while len(session.queue) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(session.queue) == 4 and len(session.inflight) == 2 and consumer.messages.empty()
    got = first
    while len(got) < 6:
        consumer.client.ack(got[-2].mid, got[-2].qos)
        consumer.client.ack(got[-1].mid, got[-1].qos)
        got += consumer.received(2)
    assert [int(m.payload) for m in got] == list(range(6))


def _dropped(reason: str) -> float:
    value = REGISTRY.get_sample_value("streetsense_demo_broker_dropped_total", {"reason": reason})
    return value or 0.0


def test_a_full_offline_queue_drops_new_messages_and_counts_them() -> None:
    with BrokerThread(EmbeddedBroker(max_queued=5)) as small:
        durable = Peer(small.port, "bounded", clean=False, expiry_s=300).connect()
        durable.subscribe("b/#")
        durable.close()
        pub = Peer(small.port, "pub").connect()
        try:
            before = _dropped("queue_full")
            for index in range(8):
                pub.publish("b/x", str(index).encode())
            assert _dropped("queue_full") - before == 3
        finally:
            pub.close()
        back = Peer(small.port, "bounded", clean=False, expiry_s=300).connect()
        try:
            assert [int(m.payload) for m in back.received(5)] == [0, 1, 2, 3, 4]
        finally:
            back.close()  # before the broker stops, so paho does not reconnect into its shutdown


def test_messages_larger_than_the_clients_maximum_packet_size_are_dropped_and_counted(
    broker: BrokerThread, peers: list[Peer]
) -> None:
    tiny = Peer(broker.port, "tiny", max_packet_size=128)
    peers.append(tiny)
    tiny.connect()
    tiny.subscribe("m/#")
    pub = _peer(peers, broker, "pub")
    before = _dropped("too_large_for_client")
    pub.publish("m/big", b"x" * 500)
    pub.publish("m/small", b"fits")
    assert tiny.get().payload == b"fits"
    assert _dropped("too_large_for_client") - before == 1


@pytest.mark.parametrize(
    ("connect", "code"),
    [
        (Connect("q", MQTT_5, will=Will("w", b"x", qos=2)), reasons.QOS_NOT_SUPPORTED),
        (Connect("w", MQTT_5, will=Will("w/#", b"x")), reasons.TOPIC_NAME_INVALID),
        (
            Connect("a", MQTT_5, properties=Properties(((Prop.AUTHENTICATION_METHOD, "SCRAM"),))),
            reasons.BAD_AUTHENTICATION_METHOD,
        ),
        (
            Connect("r", MQTT_5, properties=Properties(((Prop.RECEIVE_MAXIMUM, 0),))),
            reasons.PROTOCOL_ERROR,
        ),
        (Connect("", MQTT_311, clean_start=False), reasons.V3_IDENTIFIER_REJECTED),
    ],
    ids=[
        "will-qos2",
        "will-wildcard",
        "enhanced-auth",
        "receive-maximum-0",
        "v311-empty-id-session",
    ],
)
def test_refused_connects_get_a_connack_code_and_are_closed(
    broker: BrokerThread, connect: Connect, code: int
) -> None:
    raw = Raw(broker.port, connect.protocol_level)
    raw.send(connect)
    ack = raw.read()
    assert isinstance(ack, Connack) and ack.reason_code == code
    assert raw.read() is None
    raw.sock.close()


def test_mqtt_31_gets_unacceptable_protocol_version(broker: BrokerThread) -> None:
    with socket.create_connection(("127.0.0.1", broker.port), timeout=TIMEOUT) as sock:
        sock.sendall(bytes.fromhex("100e00064d51497364700302003c0000"))  # MQIsdp level 3
        assert sock.recv(16) == bytes.fromhex("20020001")


@pytest.mark.parametrize("level", [MQTT_311, MQTT_5], ids=["v311", "v5"])
def test_qos2_publish_is_refused(broker: BrokerThread, level: int) -> None:
    """v5: DISCONNECT with 0x9B (QoS not supported); 3.1.1 has no such code: the broker closes."""
    rejected = "streetsense_demo_broker_rejected_total"
    before = REGISTRY.get_sample_value(rejected, {"reason": "qos_not_supported"}) or 0.0
    raw = Raw(broker.port, level)
    raw.send(Connect("q2", level))
    assert isinstance(raw.read(), Connack)
    raw.send(Publish("a", b"x", qos=2, packet_id=1))
    if level == MQTT_5:
        assert raw.read() == Disconnect(reasons.QOS_NOT_SUPPORTED)
    assert raw.read() is None
    raw.sock.close()
    after = REGISTRY.get_sample_value(rejected, {"reason": "qos_not_supported"})
    assert after == before + 1


def test_wildcards_in_publish_topics_disconnect_with_topic_name_invalid(
    broker: BrokerThread,
) -> None:
    raw = Raw(broker.port, MQTT_5)
    raw.send(Connect("wild", MQTT_5))
    assert isinstance(raw.read(), Connack)
    raw.send(Subscribe(1, (SubscriptionRequest("a/#/b", 1),)))
    suback = raw.read()
    assert suback is not None and getattr(suback, "reason_codes", None) == (
        reasons.TOPIC_FILTER_INVALID,
    )
    raw.send(Publish("a/+", b"x"))
    assert raw.read() == Disconnect(reasons.TOPIC_NAME_INVALID)
    raw.sock.close()


def test_empty_client_id_gets_an_assigned_one(broker: BrokerThread) -> None:
    raw = Raw(broker.port, MQTT_5)
    raw.send(Connect("", MQTT_5))
    ack = raw.read()
    assert isinstance(ack, Connack) and ack.reason_code == 0
    assigned = ack.properties.get_str(0x12)
    assert assigned is not None and assigned in broker.broker.sessions
    raw.sock.close()


def test_keepalive_expiry_disconnects_and_publishes_the_will(
    broker: BrokerThread, peers: list[Peer]
) -> None:
    watcher = _peer(peers, broker, "watcher")
    watcher.subscribe("ka/#")
    raw = Raw(broker.port, MQTT_5)
    raw.send(Connect("silent", MQTT_5, True, 1, will=Will("ka/silent", b"timed out")))
    assert isinstance(raw.read(), Connack)
    assert raw.read() == Disconnect(reasons.KEEP_ALIVE_TIMEOUT)  # after 1.5 s of silence
    assert watcher.get().payload == b"timed out"
    raw.sock.close()


_VALID = [
    encode(Connect("fuzz", MQTT_5, True, 30, "user", b"pw", Will("f/w", b"x", 1, True)), MQTT_5),
    encode(Publish("f/a", b"payload", 1, True, False, 7), MQTT_5),
    encode(Subscribe(3, (SubscriptionRequest("$share/g/f/#", 1),)), MQTT_5),
    encode(Disconnect(reasons.DISCONNECT_WITH_WILL), MQTT_5),
]
_CONNECT_V5 = encode(Connect("fuzz-prefix", MQTT_5), MQTT_5)


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(_VALID)))
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(data) - 1))
        data[index] = draw(st.integers(0, 255))
    return bytes(data)


@pytest.fixture(scope="module")
def fuzz_broker() -> Iterator[BrokerThread]:
    with BrokerThread(EmbeddedBroker(connect_timeout_s=2.0)) as running:
        yield running


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.one_of(
        st.binary(min_size=1, max_size=64),
        _mutated(),
        _mutated().map(lambda data: _CONNECT_V5 + data),
    )
)
def test_malformed_bytes_never_crash_the_broker(
    fuzz_broker: BrokerThread, caplog: pytest.LogCaptureFixture, data: bytes
) -> None:
    with (
        caplog.at_level(logging.ERROR),
        socket.create_connection(("127.0.0.1", fuzz_broker.port), timeout=TIMEOUT) as sock,
    ):
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(65536):  # the broker answers or closes; it must not hang on EOF
            pass
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_broker_serves_well_behaved_clients_after_the_fuzzing(fuzz_broker: BrokerThread) -> None:
    sub = Peer(fuzz_broker.port, "after-fuzz-sub").connect()
    pub = Peer(fuzz_broker.port, "after-fuzz-pub", mqtt.MQTTv311).connect()
    try:
        sub.subscribe("after/#")
        pub.publish("after/x", b"still serving")
        assert sub.get().payload == b"still serving"
    finally:
        sub.close()
        pub.close()


def test_the_demo_runs_end_to_end_on_the_embedded_broker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real agent (outbox, v5 persistent session, will) and adapter (shared subscription,
    manual acks, receive maximum) through the embedded broker: the checks of test_demo.py."""
    card = build_tiny_model(tmp_path / "model", frames=4, size=32, sample_fps=4.0)
    assert run_demo(duration=26, quiet=True, card=card, broker="embedded") == 0
    out = capsys.readouterr().out
    assert "embedded MQTT broker" in out
    assert "START  loud_noise" in out
    assert "START  emergency_call" in out
    assert "ARC  DC-09 SIA-DCS" in out and "PA   -> ACK" in out
    assert "AGENT received operator confirm" in out
    assert "AGENT received operator dismiss" in out
    assert "audit log hash chain: verified" in out
    assert "operator actions delivered back to the agent: 2" in out
