"""The syslog output: RFC 5424 encoding, and delivery to real UDP and TCP listeners."""

from __future__ import annotations

import asyncio
import re
import socket

from broker.outputs.base import Outcome
from broker.outputs.syslog import (
    BOM,
    SyslogOutput,
    SyslogOutputConfig,
    encode_syslog,
    frame_octet_counted,
    sd_escape,
)
from events import ModelRef, Severity
from tests.broker.helpers import at, make_event
from tests.support.mosquitto import free_port

RFC5424 = re.compile(
    rb"^<(?P<pri>\d{1,3})>1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<proc>\S+) (?P<msgid>\S+)"
    rb" \[(?P<sd>(?:[^\]\\]|\\.)*)\](?: (?P<msg>.*))?$",
    re.DOTALL,
)


def test_encoding_follows_rfc5424() -> None:
    event = make_event(
        severity=Severity.CRITICAL, summary='a "quoted" ] summary \\ here',
        published_at=at("2026-11-25T10:00:00.123"), model=ModelRef(name="fight", version="1.2"),
    )  # fmt: skip
    message = encode_syslog(event, facility=16, hostname="box 1", app_name="streetsense")
    match = RFC5424.match(message)
    assert match is not None, message
    assert int(match["pri"]) == 16 * 8 + 2  # local0.crit
    assert match["ts"] == b"2026-11-25T10:00:00.123Z"
    assert match["host"] == b"box1"  # spaces are not allowed in HOSTNAME
    assert match["msgid"] == b"fight"
    sd = match["sd"].decode()
    assert sd.startswith("streetsense@32473 ")
    assert f'event_id="{event.event_id}"' in sd and 'model="fight/1.2"' in sd
    assert match["msg"] == BOM + event.summary.encode()
    # the summary is in MSG, never inside the structured data, so ] and " cannot break it
    assert "summary" not in sd


def test_structured_data_values_are_escaped() -> None:
    assert sd_escape('a"b]c\\d') == 'a\\"b\\]c\\\\d'


def test_octet_counting_frame() -> None:
    assert frame_octet_counted(b"<14>1 - - - - - -") == b"17 <14>1 - - - - - -"


async def test_udp_delivery_to_a_real_socket() -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(10)
    port = server.getsockname()[1]
    output = SyslogOutput(SyslogOutputConfig(host="127.0.0.1", port=port, transport="udp"), "sl")
    try:
        event = make_event()
        assert (await output.deliver(event)).outcome is Outcome.DELIVERED
        data = await asyncio.to_thread(server.recv, 65535)
    finally:
        await output.close()
        server.close()
    assert RFC5424.match(data) is not None
    assert f'event_id="{event.event_id}"'.encode() in data


async def test_tcp_delivery_with_octet_counting_and_reconnect() -> None:
    received: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            length = await reader.readuntil(b" ")
            received.append(await reader.readexactly(int(length[:-1])))
            if len(received) == 1:
                writer.close()  # the collector restarts its connection
                return

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    output = SyslogOutput(SyslogOutputConfig(host="127.0.0.1", port=port, transport="tcp"), "sl")
    try:
        events = [make_event(), make_event()]
        assert (await output.deliver(events[0])).outcome is Outcome.DELIVERED
        for _ in range(200):
            if received:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)  # let the close reach us
        assert (await output.deliver(events[1])).outcome is Outcome.DELIVERED
        for _ in range(200):
            if len(received) == 2:
                break
            await asyncio.sleep(0.02)
    finally:
        await output.close()
        server.close()
        await server.wait_closed()
    assert [RFC5424.match(item) is not None for item in received] == [True, True]
    assert events[1].event_id.encode() in received[1]


async def test_unreachable_tcp_collector_is_a_retry() -> None:
    output = SyslogOutput(
        SyslogOutputConfig(host="127.0.0.1", port=free_port(), transport="tcp", timeout_s=2), "sl"
    )
    try:
        result = await output.deliver(make_event())
    finally:
        await output.close()
    assert result.outcome is Outcome.RETRY
    assert not output.health().connected
