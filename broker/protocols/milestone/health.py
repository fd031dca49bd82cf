"""Per-output health bookkeeping shared by the Milestone and TETRA transports."""

from __future__ import annotations

import asyncio
import contextlib
import time

from broker.metrics import OUTPUT_UP
from broker.outputs.base import OutputHealth


class HealthTracker:
    """Remembers the last success and error of one output and mirrors it to OUTPUT_UP."""

    def __init__(self, output: str, *, connected: bool = False, detail: str = "not tried yet"):
        self.output = output
        self._connected = connected
        self._detail = detail
        self._last_success_at: float | None = None
        self._last_error: str | None = None

    def up(self, detail: str = "ok") -> None:
        """The peer answered as expected."""
        self._connected = True
        self._detail = detail
        self._last_success_at = time.time()
        OUTPUT_UP.labels(self.output).set(1)

    def down(self, error: str) -> None:
        """The peer is unreachable or misbehaving."""
        self._connected = False
        self._detail = error
        self._last_error = error
        OUTPUT_UP.labels(self.output).set(0)

    def note_error(self, error: str) -> None:
        """A per-message problem (e.g. a rejection) that says nothing about reachability."""
        self._last_error = error

    def snapshot(self) -> OutputHealth:
        """The current :class:`OutputHealth`."""
        return OutputHealth(
            connected=self._connected,
            detail=self._detail,
            last_success_at=self._last_success_at,
            last_error=self._last_error,
        )


async def probe_tcp(tracker: HealthTracker, host: str, port: int, timeout_s: float) -> None:
    """Record whether ``host:port`` accepts a TCP connection (nothing is sent)."""
    try:
        async with asyncio.timeout(timeout_s):
            _reader, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError) as exc:
        tracker.down(f"cannot connect to {host}:{port}: {exc or type(exc).__name__}")
        return
    writer.close()
    with contextlib.suppress(OSError, TimeoutError):
        async with asyncio.timeout(timeout_s):
            await writer.wait_closed()
    tracker.up(f"{host}:{port} accepts connections")
