"""Run the embedded broker on its own event-loop thread, for synchronous callers (the demo, tests)."""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

from streetsense.demo.mqtt_broker.server import EmbeddedBroker


class BrokerThread:
    """``start()`` returns the port once the broker listens; ``stop()`` shuts it down and joins."""

    def __init__(self, broker: EmbeddedBroker | None = None) -> None:
        self.broker = broker or EmbeddedBroker()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="embedded-mqtt-broker", daemon=True
        )

    @property
    def port(self) -> int:
        """The port the broker listens on."""
        return self.broker.port

    def start(self, timeout_s: float = 10.0) -> int:
        """Start the loop thread and the broker; returns the port."""
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self.broker.start(), self._loop)
        try:
            return future.result(timeout_s)
        except BaseException:
            self._shutdown_loop()
            raise

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the broker, the loop and the thread."""
        if not self._thread.is_alive():
            return
        try:
            asyncio.run_coroutine_threadsafe(self.broker.stop(), self._loop).result(timeout_s)
        finally:
            self._shutdown_loop()

    def _shutdown_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> BrokerThread:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
