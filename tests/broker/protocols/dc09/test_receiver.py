"""The DC-09 receiver: frames built by pysiaalarm's code and by our transmitter, TCP and UDP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from pysiaalarm.account import SIAAccount
from pysiaalarm.event import SIAEvent

from broker.outputs.base import Outcome
from broker.protocols.dc09.codec import Token, decode
from broker.protocols.dc09.config import Dc09OutputConfig, Dc09ReceiverConfig
from broker.protocols.dc09.receiver import Dc09Receiver
from broker.protocols.dc09.transmitter import Dc09Transmitter
from events import Phase, Severity, SourceKind
from tests.broker.protocols.dc09.peers import (
    RecordingContext,
    make_event,
    pysia_frame,
    pysia_timestamp,
    wait_for,
)
from tests.support.mosquitto import free_port

PLAIN = "1234"
SECURE = "AAA"
SECURE_KEY = "0123456789ABCDEF"  # 16 ASCII characters: AES-128 as pysiaalarm uses it


def receiver_config(port: int, **overrides: Any) -> Dc09ReceiverConfig:
    settings: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "site": "old-town",
        "accounts": [
            {"account": PLAIN},
            {"account": SECURE, "key": SECURE_KEY, "key_encoding": "ascii", "site": "harbour"},
        ],
    }
    settings.update(overrides)
    return Dc09ReceiverConfig.model_validate(settings)


@pytest.fixture
async def running() -> AsyncIterator[tuple[Dc09Receiver, RecordingContext, int]]:
    port = free_port()
    context = RecordingContext()
    receiver = Dc09Receiver(receiver_config(port), "panels", context)
    await receiver.start()
    try:
        yield receiver, context, port
    finally:
        await receiver.close()


async def tcp_exchange(port: int, *frames: bytes, wait_s: float = 3.0) -> list[bytes | None]:
    """Send frames on one TCP connection; the answer to each (None: silence for wait_s)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answers: list[bytes | None] = []
    try:
        for frame in frames:
            writer.write(frame)
            await writer.drain()
            try:
                async with asyncio.timeout(wait_s):
                    answers.append(await reader.readuntil(b"\r"))
            except TimeoutError:
                answers.append(None)
    finally:
        writer.close()
        await writer.wait_closed()
    return answers


async def udp_exchange(port: int, frame: bytes, wait_s: float = 3.0) -> bytes | None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes] = asyncio.Queue()

    class _Client(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            queue.put_nowait(data)

    transport, _ = await loop.create_datagram_endpoint(_Client, remote_addr=("127.0.0.1", port))
    try:
        transport.sendto(frame)
        try:
            async with asyncio.timeout(wait_s):
                return await queue.get()
        except TimeoutError:
            return None
    finally:
        transport.close()


def rejected(reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "streetsense_adapter_protocol_rejected_total", {"protocol": "dc09", "reason": reason}
    )
    return value or 0.0


async def test_plain_sia_alarm_and_restore_over_tcp(
    running: tuple[Dc09Receiver, RecordingContext, int],
) -> None:
    _, context, port = running
    alarm = pysia_frame(PLAIN, f"#{PLAIN}|Nri1/PA003]{pysia_timestamp()}", sequence="0042")
    restore = pysia_frame(PLAIN, f"#{PLAIN}|Nri1/PR003]{pysia_timestamp()}", sequence="0043")
    answers = await tcp_exchange(port, alarm, restore)
    assert all(answer is not None for answer in answers)
    acks = [decode(answer) for answer in answers if answer is not None]
    assert [(a.token, a.sequence, a.account, a.receiver, a.prefix) for a in acks] == [
        (Token.ACK, 42, PLAIN, "0", "0"),
        (Token.ACK, 43, PLAIN, "0", "0"),
    ]
    started, ended = context.published
    assert (started.category, started.severity, started.phase) == (
        "panic",
        Severity.CRITICAL,
        Phase.START,
    )
    assert (started.site, started.agent) == ("old-town", "dc09-receiver")
    assert (started.source.kind, started.source.id) == (SourceKind.PANEL, "dc09-1234")
    assert "SIA PA zone 003 area 1" in started.summary
    assert ended.phase is Phase.END
    assert ended.incident_id == started.incident_id


async def test_encrypted_frame_over_udp_gets_an_encrypted_ack(
    running: tuple[Dc09Receiver, RecordingContext, int],
) -> None:
    _, context, port = running
    frame = pysia_frame(SECURE, f"|Nri2/BA012]{pysia_timestamp()}", key=SECURE_KEY, sequence="0007")
    answer = await udp_exchange(port, frame)
    assert answer is not None
    ack = decode(answer, SECURE_KEY.encode())
    assert (ack.token, ack.sequence, ack.account, ack.encrypted) == (Token.ACK, 7, SECURE, True)
    assert ack.timestamp is not None
    assert abs((ack.timestamp - datetime.now(UTC)).total_seconds()) < 5
    # pysiaalarm's own AES code reads our ACK, and its CRC agrees
    body = answer.decode("ascii").strip()[8:]
    assert SIAEvent._crc_calc(body) == answer[1:5].decode()
    reader = SIAEvent(sia_account=SIAAccount(SECURE, SECURE_KEY))
    reader.encrypted_content = body[body.index("[") + 1 :]
    reader.decrypt_content()
    assert reader.content is not None
    assert reader.content.endswith(f"]{ack.timestamp.strftime('_%H:%M:%S,%m-%d-%Y')}")
    (event,) = context.published
    assert (event.category, event.site, event.source.id) == ("intrusion", "harbour", "dc09-aaa")


@pytest.mark.parametrize(
    ("qualifier", "phase"), [("1", Phase.START), ("3", Phase.END), ("6", Phase.UPDATE)]
)
async def test_contact_id(
    running: tuple[Dc09Receiver, RecordingContext, int], qualifier: str, phase: Phase
) -> None:
    _, context, port = running
    content = f"#{PLAIN}|{qualifier}120 01 015]{pysia_timestamp()}"
    (answer,) = await tcp_exchange(port, pysia_frame(PLAIN, content, token="ADM-CID"))
    assert answer is not None
    assert decode(answer).token is Token.ACK
    (event,) = context.published
    assert (event.category, event.phase) == ("panic", phase)
    assert "Contact ID" in event.summary


async def test_null_supervision_is_acked_and_not_published(
    running: tuple[Dc09Receiver, RecordingContext, int],
) -> None:
    _, context, port = running
    frame = pysia_frame(SECURE, f"]{pysia_timestamp()}", key=SECURE_KEY, token="NULL")
    answer = await udp_exchange(port, frame)
    assert answer is not None
    assert decode(answer, SECURE_KEY.encode()).token is Token.ACK
    assert context.published == []


@pytest.mark.parametrize(
    ("build", "answer_token", "reason"),
    [
        (lambda: pysia_frame(PLAIN, f"#{PLAIN}|Nri1/PA001]", corrupt_crc=True), None, "bad_crc"),
        (lambda: b"\n00000001" + b'"NULL"0001R0L0#1234[]\r', None, "bad_crc"),
        (lambda: pysia_frame("9999", "#9999|Nri1/PA001]"), Token.DUH, "unknown_account"),
        (lambda: pysia_frame(PLAIN, f"#{PLAIN}|Nri1/PA001]{pysia_timestamp(-100)}"), Token.NAK, "stale_timestamp"),
        (lambda: pysia_frame(PLAIN, f"#{PLAIN}|Nri1/PA001]{pysia_timestamp(100)}"), Token.NAK, "future_timestamp"),
        (lambda: pysia_frame(PLAIN, f"#{PLAIN}|Xri1/PA001]"), Token.DUH, "bad_format"),
        (lambda: pysia_frame(PLAIN, f"#{PLAIN}|Nri1/PA001", token="SIA-DCX"), Token.DUH, "unsupported_id"),
        (lambda: pysia_frame(SECURE, f"#{SECURE}|Nri1/PA001]"), Token.DUH, "encryption_required"),
        (lambda: pysia_frame(SECURE, f"|Nri1/PA001]{pysia_timestamp()}", key="FEDCBA9876543210"), Token.DUH, "decrypt_failed"),
        (lambda: pysia_frame(PLAIN, f"#{PLAIN}|Nri1/PA001]", key=SECURE_KEY), Token.DUH, "decrypt_failed"),
        (lambda: pysia_frame(PLAIN, "]", token="ACK"), None, "unsupported_id"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("transport", ["tcp", "udp"])
async def test_rejections_get_the_right_answer_and_are_counted(
    running: tuple[Dc09Receiver, RecordingContext, int],
    build: Callable[[], bytes],
    answer_token: Token | None,
    reason: str,
    transport: str,
) -> None:
    _, context, port = running
    frame = build()  # built now: the timestamps are relative to the test's run
    before = rejected(reason)
    wait_s = 3.0 if answer_token is not None else 0.7
    if transport == "tcp":
        (answer,) = await tcp_exchange(port, frame, wait_s=wait_s)
    else:
        answer = await udp_exchange(port, frame, wait_s=wait_s)
    await wait_for(lambda: rejected(reason) == before + 1)
    assert context.published == []
    if answer_token is None:
        assert answer is None
        return
    assert answer is not None
    response = decode(answer)
    assert response.token is answer_token
    if answer_token is Token.NAK:
        assert response.timestamp is not None
        assert abs((response.timestamp - datetime.now(UTC)).total_seconds()) < 5
        assert (response.sequence, response.account) == (0, None)
    else:
        assert response.sequence == 1


async def test_connection_survives_a_bad_frame(
    running: tuple[Dc09Receiver, RecordingContext, int],
) -> None:
    _, context, port = running
    bad = pysia_frame(PLAIN, f"#{PLAIN}|Nri1/PA001]", corrupt_crc=True)
    good = pysia_frame(PLAIN, f"#{PLAIN}|Nri1/PA001]{pysia_timestamp()}", sequence="0002")
    silent, answered = await tcp_exchange(port, bad, good, wait_s=0.7)
    assert silent is None
    assert answered is not None
    assert decode(answered).sequence == 2
    assert len(context.published) == 1


async def test_oversize_stream_is_cut_and_counted(
    running: tuple[Dc09Receiver, RecordingContext, int],
) -> None:
    receiver, _, port = running
    before = rejected("oversize")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"\n" + b"A" * 20_000)
    await writer.drain()
    async with asyncio.timeout(5):
        assert await reader.read() == b""  # the receiver closed the connection
    writer.close()
    await writer.wait_closed()
    assert rejected("oversize") == before + 1
    assert receiver.health().connected


async def test_a_resend_is_acked_again_but_published_once(
    running: tuple[Dc09Receiver, RecordingContext, int],
) -> None:
    _, context, port = running
    frame = pysia_frame(PLAIN, f"#{PLAIN}|Nri1/FA001]{pysia_timestamp()}", sequence="0100")
    first, second = await tcp_exchange(port, frame, frame)
    assert first is not None
    assert second is not None
    assert decode(first).sequence == decode(second).sequence == 100
    assert [event.category for event in context.published] == ["fire"]


async def test_failed_publish_is_not_acknowledged() -> None:
    class BrokenContext(RecordingContext):
        async def publish_event(self, event: Any) -> None:
            raise ConnectionError("MQTT is down")

    port = free_port()
    receiver = Dc09Receiver(receiver_config(port), "panels", BrokenContext())
    await receiver.start()
    try:
        before = rejected("publish_failed")
        frame = pysia_frame(PLAIN, f"#{PLAIN}|Nri1/PA001]{pysia_timestamp()}")
        (answer,) = await tcp_exchange(port, frame, wait_s=0.7)
        assert answer is None
        assert rejected("publish_failed") == before + 1
    finally:
        await receiver.close()


@pytest.mark.parametrize("transport", ["tcp", "udp"])
@pytest.mark.parametrize("fmt", ["sia_dcs", "adm_cid"])
async def test_our_transmitter_to_our_receiver(
    running: tuple[Dc09Receiver, RecordingContext, int], transport: str, fmt: str
) -> None:
    receiver, context, port = running
    config = Dc09OutputConfig.model_validate(
        {
            "receivers": [{"host": "127.0.0.1", "port": port, "transport": transport}],
            "account": SECURE,
            "key": SECURE_KEY,
            "key_encoding": "ascii",
            "format": fmt,
            "supervision_interval_s": 0,
        }
    )
    output = Dc09Transmitter(config, "arc", None)
    await output.start()
    try:
        start = make_event("fight")
        assert (await output.deliver(start)).outcome is Outcome.DELIVERED
        end = make_event("fight", Phase.END, incident_id=start.incident_id)
        assert (await output.deliver(end)).outcome is Outcome.DELIVERED
    finally:
        await output.close()
    first, last = context.published
    assert (first.category, first.phase, last.phase) == ("emergency", Phase.START, Phase.END)
    assert last.incident_id == first.incident_id
    assert receiver.health().last_success_at is not None
    assert (await receiver.deliver(start)).outcome is Outcome.REJECTED


def test_receiver_refuses_a_bad_key_in_config() -> None:
    with pytest.raises(ValueError, match="16, 24 or 32 bytes"):
        receiver_config(1, accounts=[{"account": PLAIN, "key": "ABCD"}])


async def test_stale_window_is_configurable() -> None:
    port = free_port()
    context = RecordingContext()
    receiver = Dc09Receiver(receiver_config(port, window_past_s=600), "panels", context)
    await receiver.start()
    try:
        frame = pysia_frame(PLAIN, f"#{PLAIN}|Nri1/PA001]{pysia_timestamp(-300)}")
        (answer,) = await tcp_exchange(port, frame)
        assert answer is not None
        assert decode(answer).token is Token.ACK
        assert context.published[0].occurred_at < datetime.now(UTC) - timedelta(seconds=200)
    finally:
        await receiver.close()
