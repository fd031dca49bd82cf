"""MQTT 3.1.1 and 5.0 packets: typed values and their pure encode/decode (no I/O).

``decode_frame`` splits a complete packet off a byte buffer; ``decode`` turns a
fixed header byte and body into a packet value; ``encode`` does the reverse.
``protocol_level`` is 4 for MQTT 3.1.1 and 5 for MQTT 5.0; CONNECT carries its
own. QoS 2 packets (PUBREC/PUBREL/PUBCOMP) and AUTH are not decoded: the broker
does not speak them, so they raise a protocol error.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from streetsense.demo.mqtt_broker import reasons, wire
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
from streetsense.demo.mqtt_broker.wire import NO_PROPERTIES, Properties, Reader

CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK = 8, 9, 10, 11
PINGREQ, PINGRESP, DISCONNECT = 12, 13, 14
_FIXED_FLAGS = {6: 0x2, SUBSCRIBE: 0x2, UNSUBSCRIBE: 0x2}  # 6: PUBREL


@dataclass(frozen=True, slots=True)
class Frame:
    """One packet split off a byte stream: fixed header byte and body."""

    header: int
    body: bytes
    size: int  # bytes consumed from the buffer, header included


def decode_frame(buffer: bytes, max_size: int = wire.MAX_VARINT + 5) -> Frame | None:
    """Split the first complete packet off ``buffer``; None when more bytes are needed."""
    length = 0
    for index in range(1, 5):
        if index >= len(buffer):
            return None
        byte = buffer[index]
        length |= (byte & 0x7F) << (7 * (index - 1))
        if not byte & 0x80:
            size = index + 1 + length
            if size > max_size:
                raise MalformedPacketError(
                    f"packet of {size} bytes exceeds {max_size}", reasons.PACKET_TOO_LARGE
                )
            if len(buffer) < size:
                return None
            return Frame(buffer[0], bytes(buffer[index + 1 : size]), size)
    raise MalformedPacketError("remaining length longer than four bytes")


def decode(header: int, body: bytes, protocol_level: int = MQTT_5) -> Packet:
    """Decode one packet; raises ``MalformedPacketError`` on any violation."""
    kind, flags = header >> 4, header & 0x0F
    if kind != PUBLISH and flags != _FIXED_FLAGS.get(kind, 0):
        raise MalformedPacketError(f"packet type {kind} with invalid flags 0x{flags:X}")
    decoder = _DECODERS.get(kind)
    if decoder is None:
        raise MalformedPacketError(
            f"packet type {kind} is not supported (no QoS 2, no AUTH)", reasons.PROTOCOL_ERROR
        )
    reader = Reader(body)
    packet = decoder(reader, flags, protocol_level == MQTT_5)
    if reader.remaining:
        raise MalformedPacketError(f"{reader.remaining} stray bytes after packet type {kind}")
    return packet


def _props(reader: Reader, v5: bool) -> Properties:
    return reader.properties() if v5 else NO_PROPERTIES


def _decode_connack(reader: Reader, _flags: int, v5: bool) -> Connack:
    present = reader.u8()
    if present & 0xFE:
        raise MalformedPacketError("CONNACK flags reserved bits set")
    code = reader.u8()
    return Connack(bool(present), code, _props(reader, v5))


def _decode_puback(reader: Reader, _flags: int, v5: bool) -> Puback:
    packet_id = reader.u16()
    code = reader.u8() if v5 and reader.remaining else reasons.SUCCESS
    return Puback(packet_id, code, _props(reader, v5 and reader.remaining > 0))


def _decode_suback(reader: Reader, _flags: int, v5: bool) -> Suback:
    packet_id = reader.u16()
    props = _props(reader, v5)
    return Suback(packet_id, tuple(reader.rest()), props)


def _decode_unsubscribe(reader: Reader, _flags: int, v5: bool) -> Unsubscribe:
    packet_id = _packet_id(reader)
    props = _props(reader, v5)
    filters = []
    while reader.remaining:
        filters.append(reader.string())
    if not filters:
        raise MalformedPacketError("UNSUBSCRIBE without topic filters", reasons.PROTOCOL_ERROR)
    return Unsubscribe(packet_id, tuple(filters), props)


def _decode_unsuback(reader: Reader, _flags: int, v5: bool) -> Unsuback:
    packet_id = reader.u16()
    props = _props(reader, v5)
    return Unsuback(packet_id, tuple(reader.rest()) if v5 else (), props)


def _decode_disconnect(reader: Reader, _flags: int, v5: bool) -> Disconnect:
    code = reader.u8() if v5 and reader.remaining else reasons.SUCCESS
    return Disconnect(code, _props(reader, v5 and reader.remaining > 0))


def _packet_id(reader: Reader) -> int:
    packet_id = reader.u16()
    if packet_id == 0:
        raise MalformedPacketError("packet identifier 0", reasons.PROTOCOL_ERROR)
    return packet_id


def _decode_connect(reader: Reader, _flags: int, _v5: bool) -> Connect:
    name = reader.string()
    level = reader.u8()
    if name != "MQTT" or level not in (MQTT_311, MQTT_5):
        raise MalformedPacketError(
            f"protocol {name!r} level {level} is not supported (MQTT 3.1.1 and 5.0 are)",
            reasons.UNSUPPORTED_PROTOCOL_VERSION,
        )
    v5 = level == MQTT_5
    flags = reader.u8()
    will_flag, will_qos, will_retain = bool(flags & 0x04), (flags >> 3) & 0x03, bool(flags & 0x20)
    if flags & 0x01 or will_qos == 3 or (not will_flag and (will_qos or will_retain)):
        raise MalformedPacketError(f"CONNECT flags 0x{flags:02X} are invalid")
    if not v5 and flags & 0x40 and not flags & 0x80:
        raise MalformedPacketError("MQTT 3.1.1 CONNECT with a password but no user name")
    keepalive = reader.u16()
    props = reader.properties() if v5 else NO_PROPERTIES
    client_id = reader.string()
    will = None
    if will_flag:
        will_props = reader.properties() if v5 else NO_PROPERTIES
        will = Will(reader.string(), reader.binary(), will_qos, will_retain, will_props)
    username = reader.string() if flags & 0x80 else None
    password = reader.binary() if flags & 0x40 else None
    return Connect(client_id, level, bool(flags & 0x02), keepalive, username, password, will, props)


def _decode_publish(reader: Reader, flags: int, v5: bool) -> Publish:
    qos, dup = (flags >> 1) & 0x03, bool(flags & 0x08)
    if qos == 3:
        raise MalformedPacketError("PUBLISH with QoS 3")
    if qos == 0 and dup:
        raise MalformedPacketError("PUBLISH with QoS 0 and DUP set")
    topic = reader.string()
    packet_id = _packet_id(reader) if qos else None
    props = reader.properties() if v5 else NO_PROPERTIES
    return Publish(topic, reader.rest(), qos, bool(flags & 0x01), dup, packet_id, props)


def _decode_subscribe(reader: Reader, _flags: int, v5: bool) -> Subscribe:
    packet_id = _packet_id(reader)
    props = reader.properties() if v5 else NO_PROPERTIES
    requests = []
    while reader.remaining:
        topic_filter = reader.string()
        options = reader.u8()
        reserved = 0xC0 if v5 else 0xFC
        if options & reserved or options & 0x03 == 3 or (options >> 4) & 0x03 == 3:
            raise MalformedPacketError(f"subscription options 0x{options:02X} are invalid")
        requests.append(
            SubscriptionRequest(
                topic_filter,
                options & 0x03,
                bool(options & 0x04),
                bool(options & 0x08),
                (options >> 4) & 0x03,
            )
        )
    if not requests:
        raise MalformedPacketError("SUBSCRIBE without topic filters", reasons.PROTOCOL_ERROR)
    return Subscribe(packet_id, tuple(requests), props)


_DECODERS: dict[int, Callable[[Reader, int, bool], Packet]] = {
    CONNECT: _decode_connect,
    CONNACK: _decode_connack,
    PUBLISH: _decode_publish,
    PUBACK: _decode_puback,
    SUBSCRIBE: _decode_subscribe,
    SUBACK: _decode_suback,
    UNSUBSCRIBE: _decode_unsubscribe,
    UNSUBACK: _decode_unsuback,
    PINGREQ: lambda _reader, _flags, _v5: Pingreq(),
    PINGRESP: lambda _reader, _flags, _v5: Pingresp(),
    DISCONNECT: _decode_disconnect,
}


def _frame(kind: int, flags: int, body: bytes) -> bytes:
    return bytes([kind << 4 | flags]) + wire.varint(len(body)) + body


def encode(packet: Packet, protocol_level: int = MQTT_5) -> bytes:  # noqa: PLR0911, PLR0912
    """Encode one packet for a connection speaking ``protocol_level``."""
    v5 = protocol_level == MQTT_5

    def props(properties: Properties) -> bytes:
        return wire.properties(properties) if v5 else b""

    u16 = struct.Struct(">H").pack
    match packet:
        case Connect():
            return _encode_connect(packet)
        case Connack():
            body = bytes([int(packet.session_present), packet.reason_code])
            return _frame(CONNACK, 0, body + props(packet.properties))
        case Publish():
            flags = packet.dup << 3 | packet.qos << 1 | int(packet.retain)
            body = wire.string(packet.topic)
            if packet.qos:
                body += u16(packet.packet_id or 0)
            return _frame(PUBLISH, flags, body + props(packet.properties) + packet.payload)
        case Puback():
            body = u16(packet.packet_id)
            if v5 and (packet.reason_code or packet.properties.items):
                body += bytes([packet.reason_code])
                if packet.properties.items:
                    body += wire.properties(packet.properties)
            return _frame(PUBACK, 0, body)
        case Subscribe():
            body = u16(packet.packet_id) + props(packet.properties)
            for req in packet.requests:
                options = req.qos
                if v5:
                    options |= req.no_local << 2 | req.retain_as_published << 3
                    options |= req.retain_handling << 4
                body += wire.string(req.topic_filter) + bytes([options])
            return _frame(SUBSCRIBE, 0x2, body)
        case Suback():
            body = u16(packet.packet_id) + props(packet.properties)
            return _frame(SUBACK, 0, body + bytes(packet.reason_codes))
        case Unsubscribe():
            body = u16(packet.packet_id) + props(packet.properties)
            return _frame(UNSUBSCRIBE, 0x2, body + b"".join(map(wire.string, packet.topic_filters)))
        case Unsuback():
            body = u16(packet.packet_id)
            if v5:
                body += wire.properties(packet.properties) + bytes(packet.reason_codes)
            return _frame(UNSUBACK, 0, body)
        case Pingreq():
            return _frame(PINGREQ, 0, b"")
        case Pingresp():
            return _frame(PINGRESP, 0, b"")
        case Disconnect():
            body = b""
            if v5 and (packet.reason_code or packet.properties.items):
                body = bytes([packet.reason_code]) + wire.properties(packet.properties)
            return _frame(DISCONNECT, 0, body)


def _encode_connect(packet: Connect) -> bytes:
    v5 = packet.protocol_level == MQTT_5
    will = packet.will
    flags = packet.clean_start << 1
    payload = wire.string(packet.client_id)
    if will is not None:
        flags |= 0x04 | will.qos << 3 | will.retain << 5
        payload += wire.properties(will.properties) if v5 else b""
        payload += wire.string(will.topic) + wire.binary(will.payload)
    if packet.username is not None:
        flags |= 0x80
        payload += wire.string(packet.username)
    if packet.password is not None:
        flags |= 0x40
        payload += wire.binary(packet.password)
    header = wire.string("MQTT") + bytes([packet.protocol_level, flags])
    header += struct.pack(">H", packet.keepalive)
    header += wire.properties(packet.properties) if v5 else b""
    return _frame(CONNECT, 0, header + payload)
