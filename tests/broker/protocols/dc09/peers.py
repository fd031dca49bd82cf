"""Test helpers: a real pysiaalarm receiving centre, a lossy UDP relay, event factories."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pysiaalarm.account import SIAAccount
from pysiaalarm.aio.client import SIAClient
from pysiaalarm.aio.server import SIAServerUDP
from pysiaalarm.event import SIAEvent
from pysiaalarm.utils.counter import Counter

from events import ActionKind, Event, Phase, Severity, Source, SourceKind, new_id


def make_event(
    category: str = "fight",
    phase: Phase = Phase.START,
    *,
    source: str = "cam-1",
    incident_id: str | None = None,
    summary: str = "two people fighting",
) -> Event:
    """A camera event as an agent would publish it."""
    now = datetime.now(UTC)
    return Event(
        event_id=new_id(),
        incident_id=incident_id or new_id(),
        phase=phase,
        site="harbour",
        agent="edge-1",
        source=Source(kind=SourceKind.CAMERA, id=source),
        category=category,
        severity=Severity.HIGH,
        confidence=0.91,
        summary=summary,
        occurred_at=now,
        published_at=now,
    )


async def wait_for(condition: Callable[[], bool], limit_s: float = 10.0) -> None:
    """Poll ``condition`` until true; fail the test after ``limit_s``."""
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {limit_s} s")
        await asyncio.sleep(0.02)


@dataclass
class Centre:
    """A running pysiaalarm receiving centre and the events it accepted."""

    port: int
    events: list[SIAEvent] = field(default_factory=list)
    client: SIAClient | None = None


class _SiaServerUdp311(SIAServerUDP):
    """pysiaalarm's UDP server, minus one assert that fails on Python 3.11.

    ``SIAServerUDP.connection_made`` asserts ``isinstance(transport,
    asyncio.DatagramTransport)``; the 3.11 selector transport does not inherit
    from that class (it does from 3.12), so the server would never answer.
    Parsing, checks and answers stay pysiaalarm's own.
    """

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]


@asynccontextmanager
async def pysia_centre(
    port: int, account: str, key: str | None = None, transport: str = "tcp"
) -> AsyncIterator[Centre]:
    """Run pysiaalarm's async server (TCP or UDP) on ``port`` for one account."""
    centre = Centre(port)

    async def on_event(event: SIAEvent) -> None:
        centre.events.append(event)

    accounts = [SIAAccount(account, key)]
    if transport == "udp":
        server = _SiaServerUdp311({a.account_id: a for a in accounts}, on_event, Counter())
        loop = asyncio.get_running_loop()
        udp, _ = await loop.create_datagram_endpoint(lambda: server, local_addr=("127.0.0.1", port))
        try:
            yield centre
        finally:
            server.shutdown_flag = True
            udp.close()
        return
    factory: Any = SIAClient  # picks its TCP subclass itself (mypy sees an abstract class)
    client: SIAClient = factory("127.0.0.1", port, accounts, on_event)
    await client.async_start()
    centre.client = client
    try:
        yield centre
    finally:
        await client.async_stop()


class LossyRelay(asyncio.DatagramProtocol):
    """A UDP relay that records every frame and drops the first ``drop`` of them."""

    def __init__(self, target: tuple[str, int], drop: int) -> None:
        self.target = target
        self.drop = drop
        self.frames: list[bytes] = []
        self.transport: asyncio.DatagramTransport | None = None
        self._upstream: asyncio.DatagramTransport | None = None
        self._client: tuple[str, int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # see _SiaServerUdp311

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.frames.append(data)
        self._client = addr
        if len(self.frames) <= self.drop:
            return
        asyncio.get_running_loop().create_task(self._forward(data))

    async def _forward(self, data: bytes) -> None:
        if self._upstream is None:
            relay = self

            class _Back(asyncio.DatagramProtocol):
                def datagram_received(self, answer: bytes, addr: tuple[str, int]) -> None:
                    if relay.transport is not None and relay._client is not None:
                        relay.transport.sendto(answer, relay._client)

            loop = asyncio.get_running_loop()
            self._upstream, _ = await loop.create_datagram_endpoint(_Back, remote_addr=self.target)
        self._upstream.sendto(data)

    def close(self) -> None:
        for transport in (self.transport, self._upstream):
            if transport is not None:
                transport.close()


@dataclass
class RecordingContext:
    """An AdapterContext that records what transports ask of the core."""

    actions: list[tuple[str, ActionKind, str, str, str]] = field(default_factory=list)
    published: list[Event] = field(default_factory=list)

    async def operator_action(
        self, alert_ref: str, action: ActionKind, *, operator: str, channel: str, note: str = ""
    ) -> bool:
        self.actions.append((alert_ref, action, operator, channel, note))
        return True

    async def publish_event(self, event: Event) -> None:
        self.published.append(event)


def pysia_frame(
    account: str,
    content: str,
    *,
    key: str | None = None,
    token: str = "SIA-DCS",
    sequence: str = "0001",
    corrupt_crc: bool = False,
) -> bytes:
    """A frame built with pysiaalarm's own CRC and AES code.

    pysiaalarm has no sender; its test suite builds panel lines this way
    (``encrypt_content`` pads with ``0`` characters in front, then encrypts).
    """
    if key is not None:
        sealed = SIAEvent(sia_account=SIAAccount(account, key)).encrypt_content(content)
        line = f'"*{token}"{sequence}R0L0#{account}[{sealed}'
    else:
        line = f'"{token}"{sequence}R0L0#{account}[{content}'
    crc = SIAEvent._crc_calc(line)
    assert crc is not None
    if corrupt_crc:
        crc = f"{int(crc, 16) ^ 0x0101:04X}"
    return f"\n{crc}{len(line):04X}{line}\r".encode("ascii")


def pysia_timestamp(offset_s: float = 0.0) -> str:
    """``_HH:MM:SS,MM-DD-YYYY`` in UTC, ``offset_s`` from now."""
    moment = datetime.now(UTC) + timedelta(seconds=offset_s)
    return moment.strftime("_%H:%M:%S,%m-%d-%Y")
