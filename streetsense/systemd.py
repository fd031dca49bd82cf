"""systemd service notifications (sd_notify) for Type=notify units with a watchdog.

Hand-written because the protocol is one datagram on a Unix socket and the
libraries that wrap it (sdnotify, systemd-python) add nothing but a dependency.
Outside systemd (no ``NOTIFY_SOCKET``) every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Notifier:
    """Sends READY/WATCHDOG/STOPPING/STATUS to systemd when run under a notify unit."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):
            address = "\0" + address[1:]  # abstract namespace socket
        self._address = address or None
        usec = env.get("WATCHDOG_USEC", "")
        self.watchdog_interval: float | None = int(usec) / 1e6 / 2 if usec.isdigit() else None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        """True when running under systemd with a notify socket."""
        return self._address is not None

    def notify(self, state: str) -> bool:
        """Send one state string (e.g. ``READY=1``); False when not under systemd or on error."""
        if self._address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.connect(self._address)
                sock.sendall(state.encode())
        except OSError as exc:
            logger.warning("sd_notify %s failed: %s", state, exc)
            return False
        return True

    def ready(self, status: str = "") -> None:
        """Tell systemd start-up is complete."""
        self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def stopping(self) -> None:
        """Tell systemd a clean shutdown has begun."""
        self.notify("STOPPING=1")

    def start_watchdog(self, healthy: Callable[[], bool]) -> None:
        """Ping the watchdog at half its interval while ``healthy()`` is true.

        A process whose supervision loop hangs, or that reports unhealthy, stops
        pinging and systemd restarts it.
        """
        if self.watchdog_interval is None or self._address is None:
            return
        interval = self.watchdog_interval

        def loop() -> None:
            while not self._stop.wait(interval):
                if healthy():
                    self.notify("WATCHDOG=1")
                else:
                    logger.error("unhealthy: not pinging the systemd watchdog")

        self._thread = threading.Thread(target=loop, name="sd-watchdog", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the watchdog thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
