"""A stand-in alarm receiving centre for the demo: decodes SIA DC-09 and acknowledges it.

It uses the project's own DC-09 codec, so what it prints is exactly what a real
receiving centre would receive from the adapter's transmitter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from broker.protocols.dc09 import codec
from broker.protocols.dc09.errors import Dc09Error
from broker.protocols.dc09.inbound import ack
from broker.protocols.dc09.payload import parse_sia_data

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ArcMessage:
    """One frame the receiving centre accepted."""

    received_at: datetime
    token: str
    sequence: int
    account: str | None
    codes: tuple[str, ...]  # SIA event codes, e.g. ("QA",)
    text: str  # free text the transmitter sent (|A...)


class DemoReceivingCentre:
    """A TCP DC-09 receiver on 127.0.0.1 that ACKs every valid frame."""

    def __init__(self, on_message: Callable[[ArcMessage], None]) -> None:
        self._on_message = on_message
        self._server: asyncio.Server | None = None
        self.port = 0
        self.messages: list[ArcMessage] = []

    async def start(self) -> None:
        """Listen on a free port."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    raw = await reader.readuntil(b"\r")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                answer = self._handle(raw.lstrip(b"\n\x00 "))
                if answer is not None:
                    writer.write(answer)
                    await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _handle(self, raw: bytes) -> bytes | None:
        try:
            message = codec.decode(b"\n" + raw if not raw.startswith(b"\n") else raw)
        except Dc09Error as exc:
            logger.warning("demo ARC rejected a frame: %s", exc)
            return None
        now = datetime.now(UTC)
        codes: tuple[str, ...] = ()
        text = ""
        if message.token is codec.Token.SIA_DCS:
            with contextlib.suppress(Dc09Error):
                data = parse_sia_data(message.data)
                codes = tuple(event.code for event in data.events)
                text = data.text or ""
        record = ArcMessage(
            now, message.token.value, message.sequence, message.account, codes, text
        )
        self.messages.append(record)
        self._on_message(record)
        return ack(message, None, now)
