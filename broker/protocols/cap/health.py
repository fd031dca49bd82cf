"""Health of the CAP output's peer, mirrored to ``streetsense_adapter_output_up``."""

from __future__ import annotations

import time

from broker.metrics import OUTPUT_UP
from broker.outputs.base import OutputHealth


class PeerHealth:
    """Reachability, last success and last error of one HTTP peer."""

    def __init__(self, output: str, detail: str) -> None:
        self._output = output
        self._connected = False
        self._detail = detail
        self._last_success_at: float | None = None
        self._last_error: str | None = None

    def _set(self, connected: bool, detail: str) -> None:
        self._connected = connected
        self._detail = detail
        OUTPUT_UP.labels(self._output).set(1 if connected else 0)

    def up(self, detail: str) -> None:
        """Reachable (or serving), with nothing delivered by this call."""
        self._set(True, detail)

    def delivered(self, detail: str) -> None:
        """The peer took a message."""
        self._set(True, detail)
        self._last_success_at = time.time()

    def refused(self, detail: str, error: str) -> None:
        """The peer answered but refused a message: reachable, not a success."""
        self._set(True, detail)
        self._last_error = error

    def stopped(self) -> None:
        """The output was closed (not an error)."""
        self._set(False, "stopped")

    def down(self, error: str) -> None:
        """The peer is unreachable or failing."""
        self._set(False, error)
        self._last_error = error

    def note_error(self, error: str) -> None:
        """A per-message problem that says nothing about the peer."""
        self._last_error = error

    def snapshot(self) -> OutputHealth:
        """The current :class:`OutputHealth`."""
        return OutputHealth(
            connected=self._connected,
            detail=self._detail,
            last_success_at=self._last_success_at,
            last_error=self._last_error,
        )
