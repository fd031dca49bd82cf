"""The PEI serial line: pyserial in a reader thread, bytes handed to asyncio, reconnects.

``serial_for_url`` opens a local device (``/dev/ttyUSB0``, a PTY) or a serial
server (``socket://host:port``, ``rfc2217://host:port``). Blocking reads run
in a daemon thread with a short timeout; every chunk is passed to the event
loop with ``call_soon_threadsafe``. When the line fails (radio switched off,
cable out, PTY gone) the link reports "down" and reopens it with a jittered,
capped exponential backoff until :meth:`SerialLink.close`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
from collections.abc import Callable
from typing import Any

import serial

from broker.protocols.tetra.errors import LinkDownError

logger = logging.getLogger(__name__)

_READ_TIMEOUT_S = 0.1


class SerialLink:
    """One PEI line; ``on_bytes`` gets received data, ``on_state`` (up, detail) changes."""

    def __init__(
        self,
        url: str,
        *,
        baudrate: int,
        on_bytes: Callable[[bytes], None],
        on_state: Callable[[bool, str], None],
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 30.0,
    ) -> None:
        self.url = url
        self.baudrate = baudrate
        self._on_bytes = on_bytes
        self._on_state = on_state
        self._min = reconnect_min_s
        self._max = reconnect_max_s
        self._port: Any = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = threading.Event()
        self._reader: threading.Thread | None = None
        self._write_lock = asyncio.Lock()

    @property
    def is_open(self) -> bool:
        """Whether the line is open right now."""
        return self._port is not None

    def start(self) -> None:
        """Start the connect/read/reconnect loop."""
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"pei {self.url}")

    async def close(self) -> None:
        """Stop reconnecting and close the line."""
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        reader, self._reader = self._reader, None
        if reader is not None:
            await asyncio.to_thread(reader.join, 2.0)
        self._close_port()

    async def write(self, data: bytes) -> None:
        """Write all of ``data``; :class:`LinkDownError` when the line is not open."""
        port = self._port
        if port is None:
            raise LinkDownError(f"PEI link {self.url} is down")
        async with self._write_lock:
            try:
                await asyncio.to_thread(self._write_all, port, data)
            except (serial.SerialException, OSError) as exc:
                raise LinkDownError(f"writing to {self.url} failed: {exc}") from exc

    @staticmethod
    def _write_all(port: Any, data: bytes) -> None:
        port.write(data)
        port.flush()

    def _close_port(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except (serial.SerialException, OSError):
                logger.debug("closing %s failed", self.url, exc_info=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        delay = self._min
        while not self._stopping.is_set():
            try:
                port = await asyncio.to_thread(
                    serial.serial_for_url, self.url, baudrate=self.baudrate, timeout=_READ_TIMEOUT_S
                )
            except (serial.SerialException, OSError, ValueError) as exc:
                self._on_state(False, f"cannot open {self.url}: {exc}")
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self._max)
                continue
            delay = self._min
            self._port = port
            logger.info("PEI link %s open", self.url)
            self._on_state(True, f"{self.url} open")
            ended: asyncio.Future[str] = loop.create_future()
            self._reader = threading.Thread(
                target=self._read_loop, args=(port, loop, ended), name="pei-reader", daemon=True
            )
            self._reader.start()
            reason = await ended
            self._reader = None
            self._close_port()
            if not self._stopping.is_set():
                logger.warning("PEI link %s lost: %s", self.url, reason)
                self._on_state(False, reason)
                await asyncio.sleep(self._min * random.uniform(0.8, 1.2))

    def _read_loop(
        self, port: Any, loop: asyncio.AbstractEventLoop, ended: asyncio.Future[str]
    ) -> None:
        reason = "closed"
        while not self._stopping.is_set():
            try:
                data = port.read(max(1, port.in_waiting))
            except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
                reason = f"read failed: {exc}"
                break
            if data:
                try:
                    loop.call_soon_threadsafe(self._on_bytes, bytes(data))
                except RuntimeError:  # the event loop is gone
                    return
        try:
            loop.call_soon_threadsafe(_settle, ended, reason)
        except RuntimeError:
            return


def _settle(future: asyncio.Future[str], reason: str) -> None:
    if not future.done():
        future.set_result(reason)
