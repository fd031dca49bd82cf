"""The embedded broker's pure codec: byte vectors from the MQTT 3.1.1 / 5.0 specs, errors, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streetsense.demo.mqtt_broker import reasons, wire
from streetsense.demo.mqtt_broker.codec import decode, decode_frame, encode
from streetsense.demo.mqtt_broker.errors import MalformedPacketError
from streetsense.demo.mqtt_broker.packets import (
    MQTT_5,
    MQTT_311,
    Connack,
    Connect,
    Disconnect,
    Packet,
    Pingreq,
    Pingresp,
    Puback,
    Publish,
    Suback,
    Subscribe,
    SubscriptionRequest,
    Unsuback,
    Unsubscribe,
    Will,
)
from streetsense.demo.mqtt_broker.topics import matches, parse_filter, valid_topic_name
from streetsense.demo.mqtt_broker.wire import Prop, Properties


def _decode_all(data: bytes, level: int) -> Packet:
    frame = decode_frame(data)
    assert frame is not None and frame.size == len(data)
    return decode(frame.header, frame.body, level)


# Spec 1.5.5 / 2.2.3: the variable byte integer table's boundaries.
@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, "00"),
        (127, "7f"),
        (128, "8001"),
        (16_383, "ff7f"),
        (16_384, "808001"),
        (2_097_151, "ffff7f"),
        (2_097_152, "80808001"),
        (268_435_455, "ffffff7f"),
    ],
)
def test_variable_byte_integer(value: int, encoded: str) -> None:
    assert wire.varint(value) == bytes.fromhex(encoded)
    assert wire.Reader(bytes.fromhex(encoded)).varint() == value


VECTORS: list[tuple[str, int, Packet, str]] = [
    (
        "CONNECT 3.1.1 clean, keepalive 60, id abc",
        MQTT_311,
        Connect("abc", MQTT_311, True, 60),
        "100f00044d5154540402003c0003616263",
    ),
    (
        "CONNECT 5.0, session expiry 300, receive maximum 10, user and password",
        MQTT_5,
        Connect(
            "c",
            MQTT_5,
            False,
            30,
            "u",
            b"p",
            None,
            Properties(((Prop.SESSION_EXPIRY_INTERVAL, 300), (Prop.RECEIVE_MAXIMUM, 10))),
        ),
        "101c00044d51545405c0001e08110000012c21000a000163000175000170",
    ),
    (
        "CONNECT 3.1.1 with a retained QoS 1 will",
        MQTT_311,
        Connect("w", MQTT_311, True, 10, will=Will("s", b"off", 1, True)),
        "101500044d515454042e000a00017700017300036f6666",
    ),
    ("CONNACK 3.1.1 accepted", MQTT_311, Connack(False, 0), "20020000"),
    ("CONNACK 3.1.1 session present", MQTT_311, Connack(True, 0), "20020100"),
    ("CONNACK 5.0 QoS not supported", MQTT_5, Connack(False, 0x9B), "2003009b00"),
    (
        "PUBLISH QoS 0",
        MQTT_311,
        Publish("a/b", b"hi"),
        "30070003612f626869",
    ),
    (
        "PUBLISH QoS 1 retained, id 10 (3.1.1)",
        MQTT_311,
        Publish("a/b", b"hi", 1, True, False, 10),
        "33090003612f62000a6869",
    ),
    (
        "PUBLISH QoS 1 DUP, id 10 (5.0, empty properties)",
        MQTT_5,
        Publish("a/b", b"hi", 1, False, True, 10),
        "3a0a0003612f62000a006869",
    ),
    ("PUBACK 3.1.1", MQTT_311, Puback(10), "4002000a"),
    ("PUBACK 5.0 success is two bytes", MQTT_5, Puback(10), "4002000a"),
    ("PUBACK 5.0 no matching subscribers", MQTT_5, Puback(10, 0x10), "4003000a10"),
    (
        "SUBSCRIBE 3.1.1 a/# QoS 1",
        MQTT_311,
        Subscribe(1, (SubscriptionRequest("a/#", 1),)),
        "820800010003612f2301",
    ),
    (
        "SUBSCRIBE 5.0 shared, retain handling 2, retain as published",
        MQTT_5,
        Subscribe(2, (SubscriptionRequest("$share/g/t", 1, False, True, 2),)),
        "8210000200000a2473686172652f672f7429",
    ),
    ("SUBACK 3.1.1 granted 1, failure", MQTT_311, Suback(1, (1, 0x80)), "900400010180"),
    ("SUBACK 5.0 granted 0", MQTT_5, Suback(1, (0,)), "900400010000"),
    ("UNSUBSCRIBE 3.1.1", MQTT_311, Unsubscribe(2, ("a/#",)), "a20700020003612f23"),
    ("UNSUBACK 3.1.1 has no reason codes", MQTT_311, Unsuback(2), "b0020002"),
    ("UNSUBACK 5.0 no subscription existed", MQTT_5, Unsuback(2, (0x11,)), "b00400020011"),
    ("PINGREQ", MQTT_311, Pingreq(), "c000"),
    ("PINGRESP", MQTT_5, Pingresp(), "d000"),
    ("DISCONNECT 3.1.1", MQTT_311, Disconnect(), "e000"),
    ("DISCONNECT 5.0 normal is empty", MQTT_5, Disconnect(), "e000"),
    ("DISCONNECT 5.0 with will message", MQTT_5, Disconnect(0x04), "e0020400"),
]


@pytest.mark.parametrize(
    ("level", "packet", "hexbytes"), [v[1:] for v in VECTORS], ids=[v[0] for v in VECTORS]
)
def test_spec_vectors_encode_and_decode(level: int, packet: Packet, hexbytes: str) -> None:
    data = bytes.fromhex(hexbytes)
    assert encode(packet, level) == data
    assert _decode_all(data, level) == packet


def test_short_forms_of_v5_acks_decode() -> None:
    assert _decode_all(bytes.fromhex("4003000a10"), MQTT_5) == Puback(10, 0x10)
    assert _decode_all(bytes.fromhex("e00104"), MQTT_5) == Disconnect(0x04)


ERRORS: list[tuple[str, int, str, int]] = [
    ("PUBLISH QoS 3", MQTT_311, "36050001610001", reasons.MALFORMED_PACKET),
    ("PUBLISH QoS 0 with DUP", MQTT_311, "3803000161", reasons.MALFORMED_PACKET),
    ("PUBLISH QoS 1 packet id 0", MQTT_311, "32050001610000", reasons.PROTOCOL_ERROR),
    ("topic not UTF-8", MQTT_311, "30040002c328", reasons.MALFORMED_PACKET),
    ("topic with U+0000", MQTT_311, "300400026100", reasons.MALFORMED_PACKET),
    ("topic length past the end", MQTT_311, "3003000561", reasons.MALFORMED_PACKET),
    ("SUBSCRIBE with flags 0", MQTT_311, "800800010003612f2301", reasons.MALFORMED_PACKET),
    ("SUBSCRIBE without filters", MQTT_311, "82020001", reasons.PROTOCOL_ERROR),
    (
        "SUBSCRIBE 3.1.1 reserved option bits",
        MQTT_311,
        "8206000100016105",
        reasons.MALFORMED_PACKET,
    ),
    (
        "SUBSCRIBE 5.0 retain handling 3",
        MQTT_5,
        "820700010000016130",
        reasons.MALFORMED_PACKET,
    ),
    ("UNSUBSCRIBE without filters", MQTT_311, "a2020001", reasons.PROTOCOL_ERROR),
    ("PINGREQ with a body", MQTT_311, "c00100", reasons.MALFORMED_PACKET),
    ("PUBREL (QoS 2 flow)", MQTT_311, "62020001", reasons.PROTOCOL_ERROR),
    ("AUTH", MQTT_5, "f000", reasons.PROTOCOL_ERROR),
    ("unknown property 0x7F", MQTT_5, "e00300017f", reasons.MALFORMED_PACKET),
    (
        "repeated session expiry",
        MQTT_5,
        "e00c000a11000000011100000002",
        reasons.PROTOCOL_ERROR,
    ),
    (
        "CONNECT reserved flag",
        MQTT_311,
        "100f00044d5154540403003c0003616263",
        reasons.MALFORMED_PACKET,
    ),
    (
        "CONNECT MQTT 3.1 (MQIsdp)",
        MQTT_311,
        "100e00064d51497364700302003c0000",
        reasons.UNSUPPORTED_PROTOCOL_VERSION,
    ),
    (
        "CONNECT level 6",
        MQTT_311,
        "100c00044d5154540602003c0000",
        reasons.UNSUPPORTED_PROTOCOL_VERSION,
    ),
    (
        "CONNECT 3.1.1 password without user",
        MQTT_311,
        "100f00044d5154540442003c0000000170",
        reasons.MALFORMED_PACKET,
    ),
    ("stray bytes after PUBACK", MQTT_311, "4003000a00", reasons.MALFORMED_PACKET),
]


@pytest.mark.parametrize(
    ("level", "hexbytes", "code"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_malformed_packets_raise_with_a_reason_code(level: int, hexbytes: str, code: int) -> None:
    with pytest.raises(MalformedPacketError) as caught:
        _decode_all(bytes.fromhex(hexbytes), level)
    assert caught.value.reason_code == code


def test_frames_wait_for_complete_packets_and_refuse_oversize_ones() -> None:
    data = encode(Publish("a", b"x" * 200), MQTT_311)
    assert decode_frame(data[:1]) is None
    assert decode_frame(data[:3]) is None
    assert decode_frame(data[:-1]) is None
    frame = decode_frame(data + b"\xc0\x00")
    assert frame is not None and frame.size == len(data)
    with pytest.raises(MalformedPacketError) as caught:
        decode_frame(data[:3], max_size=100)
    assert caught.value.reason_code == reasons.PACKET_TOO_LARGE
    with pytest.raises(MalformedPacketError):
        decode_frame(bytes.fromhex("30ffffffff01"))


@pytest.mark.parametrize(
    ("pattern", "topic", "expected"),
    [
        ("a/b", "a/b", True),
        ("a/+", "a/b", True),
        ("a/+", "a/b/c", False),
        ("a/#", "a", True),
        ("a/#", "a/b/c", True),
        ("+/+", "a/b", True),
        ("+", "/a", False),
        ("+/a", "/a", True),
        ("#", "a/b", True),
        ("#", "$SYS/x", False),
        ("+/x", "$SYS/x", False),
        ("$SYS/#", "$SYS/x", True),
        ("a/b", "a/c", False),
    ],
)
def test_topic_matching(pattern: str, topic: str, expected: bool) -> None:
    assert matches(pattern, topic) is expected


@pytest.mark.parametrize(
    ("text", "pattern", "group"),
    [
        ("a/#", "a/#", None),
        ("a/+/c", "a/+/c", None),
        ("$share/g/a/+", "a/+", "g"),
        ("a/#/c", None, None),
        ("a/b#", None, None),
        ("a+/b", None, None),
        ("", None, None),
        ("$share//a", None, None),
        ("$share/g+/a", None, None),
        ("$share/g", None, None),
    ],
)
def test_topic_filters(text: str, pattern: str | None, group: str | None) -> None:
    parsed = parse_filter(text)
    if pattern is None:
        assert parsed is None
    else:
        assert parsed is not None and (parsed.pattern, parsed.group) == (pattern, group)


def test_topic_names_have_no_wildcards() -> None:
    assert valid_topic_name("a/b")
    assert not valid_topic_name("")
    assert not valid_topic_name("a/+")
    assert not valid_topic_name("a/#")


_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20)
_props = st.lists(
    st.one_of(
        st.tuples(st.just(Prop.CONTENT_TYPE), _text),
        st.tuples(st.just(Prop.MESSAGE_EXPIRY_INTERVAL), st.integers(0, 2**32 - 1)),
        st.tuples(st.just(Prop.CORRELATION_DATA), st.binary(max_size=20)),
        st.tuples(st.just(Prop.USER_PROPERTY), st.tuples(_text, _text)),
    ),
    max_size=3,
    unique_by=lambda item: item[0] if item[0] != Prop.USER_PROPERTY else object(),
).map(lambda items: Properties(tuple(items)))


@st.composite
def _publishes(draw: st.DrawFn, level: int) -> Publish:
    qos = draw(st.integers(0, 1))
    return Publish(
        draw(_text.filter(bool)),
        draw(st.binary(max_size=300)),
        qos,
        draw(st.booleans()),
        draw(st.booleans()) if qos else False,
        draw(st.integers(1, 0xFFFF)) if qos else None,
        draw(_props) if level == MQTT_5 else Properties(),
    )


@given(
    st.sampled_from([MQTT_311, MQTT_5]).flatmap(
        lambda level: st.tuples(st.just(level), _publishes(level))
    )
)
def test_publish_round_trips(case: tuple[int, Publish]) -> None:
    level, packet = case
    assert _decode_all(encode(packet, level), level) == packet


@given(
    st.lists(
        st.builds(
            SubscriptionRequest,
            _text.filter(bool),
            st.integers(0, 1),
            st.booleans(),
            st.booleans(),
            st.integers(0, 2),
        ),
        min_size=1,
        max_size=4,
    ),
    st.integers(1, 0xFFFF),
)
def test_v5_subscribe_round_trips(requests: list[SubscriptionRequest], packet_id: int) -> None:
    packet = Subscribe(packet_id, tuple(requests))
    assert _decode_all(encode(packet, MQTT_5), MQTT_5) == packet


@given(_text, st.booleans(), st.integers(0, 0xFFFF), st.one_of(st.none(), _text), _props)
def test_v5_connect_round_trips(
    client_id: str, clean: bool, keepalive: int, username: str | None, props: Properties
) -> None:
    packet = Connect(
        client_id, MQTT_5, clean, keepalive, username, b"pw", Will("w", b"x", 1, True, props), props
    )
    assert _decode_all(encode(packet, MQTT_5), MQTT_5) == packet
