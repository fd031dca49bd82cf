"""MQTT wire primitives (spec 1.5 / 2.2.2): integers, variable byte integers, strings, properties.

Pure: bytes in, values out. Every violation raises ``MalformedPacketError``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import Enum

from streetsense.demo.mqtt_broker import reasons
from streetsense.demo.mqtt_broker.errors import MalformedPacketError

MAX_VARINT = 268_435_455

PropertyValue = int | str | bytes | tuple[str, str]


class PropertyType(Enum):
    """How a property's value is encoded."""

    BYTE = 1
    TWO = 2
    FOUR = 4
    VARINT = 5
    STRING = 6
    BINARY = 7
    PAIR = 8


class Prop:
    """MQTT v5 property identifiers (spec 2.2.2.2)."""

    PAYLOAD_FORMAT_INDICATOR = 0x01
    MESSAGE_EXPIRY_INTERVAL = 0x02
    CONTENT_TYPE = 0x03
    RESPONSE_TOPIC = 0x08
    CORRELATION_DATA = 0x09
    SUBSCRIPTION_IDENTIFIER = 0x0B
    SESSION_EXPIRY_INTERVAL = 0x11
    ASSIGNED_CLIENT_IDENTIFIER = 0x12
    SERVER_KEEP_ALIVE = 0x13
    AUTHENTICATION_METHOD = 0x15
    AUTHENTICATION_DATA = 0x16
    REQUEST_PROBLEM_INFORMATION = 0x17
    WILL_DELAY_INTERVAL = 0x18
    REQUEST_RESPONSE_INFORMATION = 0x19
    RESPONSE_INFORMATION = 0x1A
    SERVER_REFERENCE = 0x1C
    REASON_STRING = 0x1F
    RECEIVE_MAXIMUM = 0x21
    TOPIC_ALIAS_MAXIMUM = 0x22
    TOPIC_ALIAS = 0x23
    MAXIMUM_QOS = 0x24
    RETAIN_AVAILABLE = 0x25
    USER_PROPERTY = 0x26
    MAXIMUM_PACKET_SIZE = 0x27
    WILDCARD_SUBSCRIPTION_AVAILABLE = 0x28
    SUBSCRIPTION_IDENTIFIER_AVAILABLE = 0x29
    SHARED_SUBSCRIPTION_AVAILABLE = 0x2A


_T = PropertyType
PROPERTY_TYPES: dict[int, PropertyType] = {
    **dict.fromkeys((0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A), _T.BYTE),
    **dict.fromkeys((0x13, 0x21, 0x22, 0x23), _T.TWO),
    **dict.fromkeys((0x02, 0x11, 0x18, 0x27), _T.FOUR),
    0x0B: _T.VARINT,
    **dict.fromkeys((0x03, 0x08, 0x12, 0x15, 0x1A, 0x1C, 0x1F), _T.STRING),
    **dict.fromkeys((0x09, 0x16), _T.BINARY),
    0x26: _T.PAIR,
}
_REPEATABLE = frozenset({Prop.USER_PROPERTY, Prop.SUBSCRIPTION_IDENTIFIER})


@dataclass(frozen=True, slots=True)
class Properties:
    """An ordered MQTT v5 property list (user properties may repeat)."""

    items: tuple[tuple[int, PropertyValue], ...] = ()

    def get_int(self, prop: int) -> int | None:
        """The first integer value of ``prop``, or None."""
        for key, value in self.items:
            if key == prop and isinstance(value, int):
                return value
        return None

    def get_str(self, prop: int) -> str | None:
        """The first string value of ``prop``, or None."""
        for key, value in self.items:
            if key == prop and isinstance(value, str):
                return value
        return None

    def has(self, prop: int) -> bool:
        """Whether ``prop`` is present."""
        return any(key == prop for key, _ in self.items)

    def without(self, *props: int) -> Properties:
        """A copy without the given properties."""
        return Properties(tuple(item for item in self.items if item[0] not in props))


NO_PROPERTIES = Properties()


class Reader:
    """A cursor over one packet's bytes."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    @property
    def remaining(self) -> int:
        """Bytes not read yet."""
        return len(self._data) - self._pos

    def take(self, count: int) -> bytes:
        """The next ``count`` bytes."""
        if count > self.remaining:
            raise MalformedPacketError(
                f"packet truncated: wanted {count} bytes, {self.remaining} left"
            )
        chunk = self._data[self._pos : self._pos + count]
        self._pos += count
        return chunk

    def rest(self) -> bytes:
        """Everything not read yet."""
        return self.take(self.remaining)

    def u8(self) -> int:
        """A byte."""
        return self.take(1)[0]

    def u16(self) -> int:
        """A two byte integer."""
        value: int = struct.unpack(">H", self.take(2))[0]
        return value

    def u32(self) -> int:
        """A four byte integer."""
        value: int = struct.unpack(">I", self.take(4))[0]
        return value

    def varint(self) -> int:
        """A variable byte integer (at most four bytes)."""
        value = 0
        for shift in range(0, 28, 7):
            byte = self.u8()
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
        raise MalformedPacketError("variable byte integer longer than four bytes")

    def binary(self) -> bytes:
        """Two byte length + bytes."""
        return self.take(self.u16())

    def string(self) -> str:
        """A UTF-8 encoded string (spec 1.5.4: well-formed, no U+0000)."""
        raw = self.binary()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedPacketError(f"string is not valid UTF-8: {exc}") from exc
        if "\x00" in text:
            raise MalformedPacketError("string contains U+0000")
        return text

    def properties(self) -> Properties:
        """A v5 property list (length, then identifier/value pairs)."""
        length = self.varint()
        sub = Reader(self.take(length))
        items: list[tuple[int, PropertyValue]] = []
        seen: set[int] = set()
        while sub.remaining:
            prop = sub.varint()
            kind = PROPERTY_TYPES.get(prop)
            if kind is None:
                raise MalformedPacketError(f"unknown property 0x{prop:02X}")
            if prop in seen and prop not in _REPEATABLE:
                raise MalformedPacketError(
                    f"property 0x{prop:02X} repeated", reasons.PROTOCOL_ERROR
                )
            seen.add(prop)
            items.append((prop, sub.property_value(kind)))
        return Properties(tuple(items))

    def property_value(self, kind: PropertyType) -> PropertyValue:  # noqa: PLR0911 (one per type)
        """One property value of the given encoding."""
        match kind:
            case PropertyType.BYTE:
                return self.u8()
            case PropertyType.TWO:
                return self.u16()
            case PropertyType.FOUR:
                return self.u32()
            case PropertyType.VARINT:
                return self.varint()
            case PropertyType.STRING:
                return self.string()
            case PropertyType.BINARY:
                return self.binary()
            case PropertyType.PAIR:
                return (self.string(), self.string())


def varint(value: int) -> bytes:
    """Encode a variable byte integer."""
    if not 0 <= value <= MAX_VARINT:
        raise ValueError(f"{value} does not fit a variable byte integer")
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def binary(data: bytes) -> bytes:
    """Encode two byte length + bytes."""
    if len(data) > 0xFFFF:
        raise ValueError("binary data longer than 65535 bytes")
    return struct.pack(">H", len(data)) + data


def string(text: str) -> bytes:
    """Encode a UTF-8 string."""
    return binary(text.encode("utf-8"))


def _value(kind: PropertyType, value: PropertyValue) -> bytes:  # noqa: PLR0911 (one per type)
    match kind, value:
        case PropertyType.BYTE, int():
            return bytes([value])
        case PropertyType.TWO, int():
            return struct.pack(">H", value)
        case PropertyType.FOUR, int():
            return struct.pack(">I", value)
        case PropertyType.VARINT, int():
            return varint(value)
        case PropertyType.STRING, str():
            return string(value)
        case PropertyType.BINARY, bytes():
            return binary(value)
        case PropertyType.PAIR, (str() as key, str() as val):
            return string(key) + string(val)
    raise ValueError(f"property value {value!r} does not fit {kind.name}")


def properties(props: Properties) -> bytes:
    """Encode a v5 property list with its length."""
    body = b"".join(
        varint(prop) + _value(PROPERTY_TYPES[prop], value) for prop, value in props.items
    )
    return varint(len(body)) + body
