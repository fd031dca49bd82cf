"""Fuzz the DC-09 decoder: no crash, no hang, bounded input (hypothesis)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pysiaalarm.event import SIAEvent

from broker.protocols.dc09.codec import (
    MAX_FRAME_BYTES,
    ExtendedData,
    Message,
    Token,
    decode,
    encode,
)
from broker.protocols.dc09.crc import crc16
from broker.protocols.dc09.errors import FrameError, OversizeFrameError
from broker.protocols.dc09.payload import parse_cid_data, parse_sia_data

KEY = bytes(range(16))
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_printable = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="[]"), max_size=80
)
_hex = st.text("0123456789ABCDEF", min_size=1, max_size=6)
messages = st.builds(
    Message,
    token=st.sampled_from(list(Token)),
    sequence=st.integers(0, 9999),
    account=st.none() | st.text("0123456789ABCDEF", min_size=3, max_size=16),
    receiver=st.none() | _hex,
    prefix=_hex,
    data=_printable,
    extended=st.lists(
        st.builds(ExtendedData, st.sampled_from("HIVXYZ"), _printable), max_size=3
    ).map(tuple),
    timestamp=st.none()
    | st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
    ).map(lambda moment: moment.replace(microsecond=0)),
    encrypted=st.booleans(),
)


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes_only_raise_frame_errors(raw: bytes) -> None:
    try:
        decode(raw, KEY)
    except FrameError as exc:
        assert exc.reason


@FUZZ
@given(st.binary(min_size=2, max_size=400))
def test_random_bodies_with_valid_envelope(body: bytes) -> None:
    raw = b"\n%04X%04X%s\r" % (crc16(body), len(body), body)
    try:
        decode(raw, KEY)
    except FrameError as exc:
        assert exc.reason not in {"bad_crc", "bad_length", "bad_framing"}


@FUZZ
@given(messages)
def test_round_trip(message: Message) -> None:
    if message.encrypted and message.timestamp is None:
        message = replace(message, encrypted=False)
    assert decode(encode(message, KEY), KEY) == message


@FUZZ
@given(messages, st.data())
def test_mutated_frames_never_crash(message: Message, data: st.DataObject) -> None:
    raw = bytearray(encode(message, KEY))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(raw) - 1))
        raw[position] = data.draw(st.integers(0, 255))
    try:
        decode(bytes(raw), KEY)
    except FrameError as exc:
        assert exc.reason


@FUZZ
@given(st.text(max_size=200))
def test_payload_parsers_raise_only_format_errors(text: str) -> None:
    for parse in (parse_sia_data, parse_cid_data):
        try:
            parse(text)
        except FrameError as exc:
            assert exc.reason == "bad_format"


@FUZZ
@given(st.binary(min_size=1, max_size=200))
def test_crc_agrees_with_pysiaalarm(data: bytes) -> None:
    text = data.decode("latin-1")
    expected = SIAEvent._crc_calc(text.encode("latin-1").decode("latin-1"))
    if all(byte < 0x80 for byte in data):  # pysiaalarm encodes as UTF-8
        assert f"{crc16(data):04X}" == expected


def test_oversize_input_is_refused_before_parsing() -> None:
    huge = b"\n" + b"A" * (10 * 1024 * 1024) + b"\r"
    try:
        decode(huge)
    except OversizeFrameError as exc:
        assert str(len(huge)) in str(exc)
    else:
        raise AssertionError("a 10 MiB frame was accepted")
    assert MAX_FRAME_BYTES == 4105
