"""Thin async links to one DC-09 receiver: send a frame, read answer frames.

No parsing here: a link moves bytes. TCP keeps one connection open and
reconnects on the next send after a failure; UDP sends datagrams from one
connected socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from broker.protocols.dc09.codec import MAX_FRAME_BYTES

logger = logging.getLogger(__name__)


class Link(Protocol):
    """A byte path to one receiver."""

    async def send(self, frame: bytes) -> None:
        """Send one frame (connecting first when needed); raise OSError on failure."""
        ...

    async def receive(self) -> bytes:
        """The next answer frame (the caller bounds the wait with ``asyncio.timeout``)."""
        ...

    async def close(self) -> None:
        """Drop the connection."""
        ...


class TcpLink:
    """DC-09 over one kept-open TCP connection."""

    def __init__(self, host: str, port: int, connect_timeout: float) -> None:
        self._host = host
        self._port = port
        self._connect_timeout = connect_timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def send(self, frame: bytes) -> None:
        """Write one frame, opening the connection first when there is none."""
        if self._reader is not None and self._reader.at_eof():
            await self.close()  # the receiver closed after its last answer: reconnect
        if self._writer is None or self._writer.is_closing():
            async with asyncio.timeout(self._connect_timeout):
                self._reader, self._writer = await asyncio.open_connection(
                    self._host, self._port, limit=MAX_FRAME_BYTES
                )
        assert self._writer is not None
        self._writer.write(frame)
        await self._writer.drain()

    async def receive(self) -> bytes:
        """Read up to the next <CR>; a closed connection is an OSError."""
        if self._reader is None:
            raise ConnectionError("not connected")
        try:
            chunk = await self._reader.readuntil(b"\r")
        except asyncio.IncompleteReadError as exc:
            await self.close()
            raise ConnectionResetError("the receiver closed the connection") from exc
        except asyncio.LimitOverrunError as exc:
            await self.close()
            raise ConnectionError("answer longer than a DC-09 frame") from exc
        return b"\n" + chunk.lstrip(b"\r\n\x00 ")  # tolerate stray bytes between frames

    async def close(self) -> None:
        """Close the connection (idempotent)."""
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=64)
        self.error: OSError | None = None

    def datagram_received(self, data: bytes, addr: tuple[str | bytes, int]) -> None:
        if self.queue.full():
            logger.warning("dropping a DC-09 answer: %d unread answers queued", self.queue.qsize())
            return
        self.queue.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        if isinstance(exc, OSError):
            self.error = exc  # e.g. ICMP port unreachable: nothing listens


class UdpLink:
    """DC-09 over UDP: one datagram per frame."""

    def __init__(self, host: str, port: int) -> None:
        self._host = host
        self._port = port
        self._transport: asyncio.DatagramTransport | None = None
        self._protocol: _Datagrams | None = None

    async def send(self, frame: bytes) -> None:
        """Send one datagram."""
        if self._transport is None or self._transport.is_closing():
            loop = asyncio.get_running_loop()
            self._transport, self._protocol = await loop.create_datagram_endpoint(
                _Datagrams, remote_addr=(self._host, self._port)
            )
        assert self._protocol is not None
        if self._protocol.error is not None:
            error, self._protocol.error = self._protocol.error, None
            raise error
        self._transport.sendto(frame)

    async def receive(self) -> bytes:
        """The next datagram; an ICMP error seen meanwhile is raised as OSError."""
        if self._protocol is None:
            raise ConnectionError("not connected")
        protocol = self._protocol
        while True:
            if protocol.error is not None:
                error, protocol.error = protocol.error, None
                raise error
            try:
                async with asyncio.timeout(0.2):
                    return await protocol.queue.get()
            except TimeoutError:
                continue

    async def close(self) -> None:
        """Close the socket."""
        if self._transport is not None:
            self._transport.close()
        self._transport = None
        self._protocol = None
