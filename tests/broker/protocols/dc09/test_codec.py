"""DC-09 codec: published vectors, cross-checks with pysiaalarm, every rejection reason."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from pysiaalarm.account import SIAAccount
from pysiaalarm.event import SIAEvent

from broker.protocols.dc09 import crypto
from broker.protocols.dc09.codec import (
    MAX_FRAME_BYTES,
    ExtendedData,
    Message,
    Token,
    check_timestamp,
    decode,
    encode,
    format_timestamp,
    parse_frame,
)
from broker.protocols.dc09.crc import crc16
from broker.protocols.dc09.errors import EncodeError, FrameError, TimestampError

NOW = datetime(2026, 3, 14, 15, 9, 26, tzinfo=UTC)
PYSIA_KEY = b"AAAAAAAAAAAAAAAA"  # pysiaalarm's test key, used as raw ASCII bytes


def frame(body: str) -> bytes:
    """Wrap a body with a correct CRC and length (for building malformed content)."""
    data = body.encode("latin-1")
    return b"\n%04X%04X%s\r" % (crc16(data), len(data), data)


def test_crc_is_crc16_arc() -> None:
    # The catalogued check value of CRC-16/ARC (poly 0x8005 reflected, init 0).
    assert crc16(b"123456789") == 0xBB3D
    assert crc16(b"") == 0


@pytest.mark.parametrize(
    ("raw", "token", "sequence", "receiver", "prefix", "account", "data", "timestamp"),
    [
        # fioletoven/dc09 (Rust) unit-test vectors
        (
            b'\nF4D20029"SIA-DCS"0001RF3L77#1234[#1234|NRR|Atest]\r',
            Token.SIA_DCS, 1, "F3", "77", "1234", "#1234|NRR|Atest", None,
        ),
        (b'\n96ED0016"SIA-DCS"0001L0#1234[]\r', Token.SIA_DCS, 1, None, "0", "1234", "", None),
        (
            b'\nE4410025"NAK"0000R0L0A0[]_16:20:01,09-24-2025\r',
            Token.NAK, 0, "0", "0", None, "",
            datetime(2025, 9, 24, 16, 20, 1, tzinfo=UTC),
        ),
        # pysiaalarm test case (ADM-CID, receiver and 6-digit prefix), with its CRC recomputed
        (
            frame('"ADM-CID"9876R579BDFL789ABC#12345A[#12345A|1110 00 129]_14:12:04,09-25-2019'),
            Token.ADM_CID, 9876, "579BDF", "789ABC", "12345A", "#12345A|1110 00 129",
            datetime(2019, 9, 25, 14, 12, 4, tzinfo=UTC),
        ),
        # pysiaalarm opening report: no account in the header, only in the data
        (
            frame('"SIA-DCS"4738R0001L0001[#006969|Nri04/OP001NM]'),
            Token.SIA_DCS, 4738, "0001", "0001", None, "#006969|Nri04/OP001NM", None,
        ),
    ],
)  # fmt: skip
def test_decodes_published_frames(
    raw: bytes,
    token: Token,
    sequence: int,
    receiver: str | None,
    prefix: str,
    account: str | None,
    data: str,
    timestamp: datetime | None,
) -> None:
    message = decode(raw)
    assert (message.token, message.sequence, message.receiver, message.prefix) == (
        token,
        sequence,
        receiver,
        prefix,
    )
    assert (message.account, message.data, message.timestamp) == (account, data, timestamp)
    assert not message.encrypted


def test_encodes_the_published_frame_byte_for_byte() -> None:
    message = Message(Token.SIA_DCS, 1, "1234", "F3", "77", "#1234|NRR|Atest")
    assert encode(message) == b'\nF4D20029"SIA-DCS"0001RF3L77#1234[#1234|NRR|Atest]\r'
    nak_time = datetime(2025, 9, 24, 16, 20, 1, tzinfo=UTC)
    nak = Message(Token.NAK, 0, None, "0", "0", timestamp=nak_time)
    assert encode(nak) == b'\nE4410025"NAK"0000R0L0A0[]_16:20:01,09-24-2025\r'


def test_decrypts_pysiaalarm_encrypted_null() -> None:
    # pysiaalarm's recorded encrypted NULL (tests/test_sia_package_cases.py), key "AAAA...".
    raw = (
        b'\n76D80055"*NULL"0000R0L0#AAAB[B4BC8B40D0E6D959D6BEA78E88CC0B21'
        b"55741A3C44FBB96D476A3E557CAD64D9\r"
    )
    message = decode(raw, PYSIA_KEY)
    assert message.token is Token.NULL
    assert message.encrypted
    assert message.account == "AAAB"
    assert message.data == ""
    assert message.timestamp == datetime(2020, 7, 5, 18, 24, 52, tzinfo=UTC)


@pytest.mark.parametrize("key_size", [16, 24, 32])
def test_encrypted_round_trip_for_every_key_size(key_size: int) -> None:
    key = bytes(range(key_size))
    message = Message(
        Token.SIA_DCS, 42, "1234", "0", "0", "#1234|Nri1/PA001",
        (ExtendedData("I", "panic at stop 4"),), NOW, encrypted=True,
    )  # fmt: skip
    raw = encode(message, key)
    assert b'"*SIA-DCS"0042R0L0#1234[' in raw
    assert decode(raw, key) == message
    # the random pad makes two encryptions of the same message differ
    assert encode(message, key) != raw


def test_pysiaalarm_decrypts_and_checks_our_frames() -> None:
    now = datetime.now(UTC)
    message = Message(
        Token.SIA_DCS, 7, "AAA", "0", "0", "#AAA|Nri1/PA001", timestamp=now, encrypted=True
    )
    line = encode(message, PYSIA_KEY).decode("ascii").strip()
    account = SIAAccount("AAA", PYSIA_KEY.decode())
    event = SIAEvent.from_line(line, {"AAA": account})
    assert event.valid_message  # its CRC implementation agrees with ours
    assert event.code == "PA"
    assert event.ri == "1"
    assert event.valid_timestamp


def test_we_decrypt_pysiaalarm_responses() -> None:
    now = datetime.now(UTC)
    request = Message(Token.SIA_DCS, 31, "AAA", "0", "0", "#AAA|Nri1/PA001", timestamp=now)
    account = SIAAccount("AAA", PYSIA_KEY.decode())
    line = encode(replace(request, encrypted=True), PYSIA_KEY).decode().strip()
    ack = decode(SIAEvent.from_line(line, {"AAA": account}).create_response(), PYSIA_KEY)
    assert (ack.token, ack.sequence, ack.account, ack.encrypted) == (Token.ACK, 31, "AAA", True)
    assert ack.timestamp is not None
    assert abs((ack.timestamp - now).total_seconds()) < 5


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\n" + b"0" * MAX_FRAME_BYTES + b"\r", "oversize"),
        (b'96ED0016"SIA-DCS"0001L0#1234[]\r', "bad_framing"),
        (b'\n96ED0016"SIA-DCS"0001L0#1234[]', "bad_framing"),
        (b"\n\r", "bad_framing"),
        (b'\n96EE0016"SIA-DCS"0001L0#1234[]\r', "bad_crc"),
        (b'\n96ED0017"SIA-DCS"0001L0#1234[]\r', "bad_length"),
        (b'\nZZZZ0016"SIA-DCS"0001L0#1234[]\r', "bad_format"),
        (frame('"SIA-DCS"001L0#1234[]'), "bad_format"),
        (frame('"SIA-DCS"0001#1234[]'), "bad_format"),
        (frame('"SIA-DCS"0001L0#12[]'), "bad_format"),
        (frame('"SIA-DCS"0001L0#1234[#1234|Nri1/BA001'), "bad_format"),
        (frame('"SIA-DCS"0001L0#1234[]_25:00:00,01-01-2026'), "bad_format"),
        (frame('"SIA-DCS"0001L0#1234[]_14:12:04,09-25-201'), "bad_format"),
        (frame('"SIA-DCS"0001L0#1234[][X]junk'), "bad_format"),
        (frame('"SIA-DCS"0001L0#1234[][]'), "bad_format"),
        (frame('"SIA-DCS"0001L0#1234[]\xe9'), "bad_format"),
        (frame('"SIA-DCX"0001L0#1234[]'), "unsupported_id"),
        (frame('"RSP"0001L0#1234[]'), "unsupported_id"),
        (frame('"*SIA-DCS"0001L0#1234[ABCD]'), "decrypt_failed"),
        (frame('"*SIA-DCS"0001L0#1234[' + "00" * 16 + "]"), "decrypt_failed"),
    ],
)
def test_every_malformed_frame_gets_its_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(FrameError) as caught:
        decode(raw, PYSIA_KEY)
    assert caught.value.reason == reason


def test_wrong_key_is_decrypt_failed_and_keeps_the_header() -> None:
    message = Message(Token.NULL, 12, "1234", "0", "0", timestamp=NOW, encrypted=True)
    raw = encode(message, b"K" * 16)
    with pytest.raises(FrameError) as caught:
        decode(raw, b"L" * 16)
    assert caught.value.reason == "decrypt_failed"
    assert caught.value.frame is not None
    assert (caught.value.frame.sequence, caught.value.frame.account) == (12, "1234")
    with pytest.raises(FrameError, match="no key"):
        decode(raw, None)


def test_unsupported_id_keeps_the_header_for_a_duh() -> None:
    with pytest.raises(FrameError) as caught:
        parse_frame(frame('"SIA-DCX"0077R1L2#1234[]'))
    assert caught.value.frame is not None
    assert (caught.value.frame.sequence, caught.value.frame.receiver) == (77, "1")


@pytest.mark.parametrize(
    ("offset_s", "reason"),
    [(0, None), (20, None), (-40, None), (21, "future_timestamp"), (-41, "stale_timestamp")],
)
def test_timestamp_window_is_plus_20_minus_40(offset_s: int, reason: str | None) -> None:
    message = Message(Token.NULL, 1, "1234", timestamp=NOW + timedelta(seconds=offset_s))
    if reason is None:
        check_timestamp(message, NOW)
        return
    with pytest.raises(TimestampError) as caught:
        check_timestamp(message, NOW)
    assert caught.value.reason == reason
    assert caught.value.skew_s == offset_s


def test_encrypted_message_needs_a_timestamp() -> None:
    with pytest.raises(TimestampError) as caught:
        check_timestamp(Message(Token.NULL, 1, "1234", encrypted=True), NOW)
    assert caught.value.reason == "missing_timestamp"
    check_timestamp(Message(Token.NULL, 1, "1234"), NOW)  # plain: optional


def test_timestamp_is_utc() -> None:
    local = datetime(2026, 3, 14, 17, 9, 26, tzinfo=UTC).astimezone()
    assert format_timestamp(local) == "_17:09:26,03-14-2026"


@pytest.mark.parametrize(
    "message",
    [
        Message(Token.SIA_DCS, 10000, "1234"),
        Message(Token.SIA_DCS, 1, "12"),
        Message(Token.SIA_DCS, 1, "1234", receiver="XYZ"),
        Message(Token.SIA_DCS, 1, "1234", prefix="1234567"),
        Message(Token.SIA_DCS, 1, "1234", data="a]b"),
        Message(Token.SIA_DCS, 1, "1234", data="caf\xe9"),
        Message(Token.SIA_DCS, 1, "1234", extended=(ExtendedData("II", "x"),)),
        Message(Token.SIA_DCS, 1, "1234", data="A" * 5000),
        Message(Token.SIA_DCS, 1, "1234", encrypted=True),
    ],
)
def test_encode_refuses_what_cannot_be_framed(message: Message) -> None:
    with pytest.raises(EncodeError):
        encode(message)


def test_pad_never_uses_delimiters() -> None:
    pad = crypto.make_pad(4000)
    assert not {"|", "[", "]"} & set(pad)
    assert [crypto.pad_length(n) for n in (0, 1, 15, 16, 17)] == [16, 15, 1, 16, 15]
