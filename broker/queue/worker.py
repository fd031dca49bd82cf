"""Delivery workers: one asyncio task per output drains its durable queue.

Strictly in order: the head is delivered, retried after a jittered backoff,
or dead-lettered; nothing behind it moves until it is settled. With several
instances on PostgreSQL only the one leading the output delivers it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace

from broker import audit, metrics
from broker.config import RetryPolicy
from broker.errors import StorageError
from broker.outputs.base import DeliveryResult, Outcome, OutputTransport
from broker.queue.backoff import retry_delay
from broker.queue.base import DeliveryQueue, QueueItem
from broker.storage import Database
from events import EventError, decode_event

logger = logging.getLogger(__name__)

ADAPTER = "adapter"
_MAX_WAIT = 1.0  # re-check at least this often (leadership, storage recovery)
WINDOW = 64  # pending items read at once; only the leader changes them, only appends follow


class DeliveryWorker:
    """Delivers one output's queue through its transport."""

    def __init__(
        self,
        *,
        transport: OutputTransport,
        queue: DeliveryQueue,
        database: Database,
        policy: RetryPolicy,
        poll_interval_s: float = 0.2,
        attempt_timeout_s: float = 60.0,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.transport = transport
        self.name = transport.name
        self._queue = queue
        self._db = database
        self._policy = policy
        self._poll = poll_interval_s
        self._attempt_timeout = attempt_timeout_s
        self._stop = threading.Event()
        self._window: deque[QueueItem] = deque()
        self._clock = clock
        self._rng = rng
        self._wakeup = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        """Look for work now (safe to call from any thread)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wakeup.set()
        else:
            loop.call_soon_threadsafe(self._wakeup.set)

    def request_stop(self) -> None:
        """Finish the delivery in progress (if any), then leave :meth:`run`."""
        self._stop.set()
        self.wake()

    async def run(self) -> None:
        """Deliver until cancelled or asked to stop."""
        self._loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            wait = await self.step()
            if self._stop.is_set():
                return
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=min(wait, _MAX_WAIT))
            self._wakeup.clear()

    async def step(self) -> float:
        """Settle at most one delivery; returns how long to wait before the next step."""
        try:
            if not self._db.leads(self.name):
                self._window.clear()
                if not await asyncio.to_thread(self._db.try_lead, self.name):
                    return _MAX_WAIT  # another instance delivers this output
            if not self._window:
                items = await asyncio.to_thread(self._queue.pending, self.name, WINDOW)
                self._window.extend(items)
        except StorageError as exc:
            logger.warning("output %s: storage unavailable: %s", self.name, exc)
            self._window.clear()
            return _MAX_WAIT
        if not self._window:
            return self._poll
        item = self._window[0]
        due_in = item.next_attempt_at - self._clock()
        if due_in > 0:
            return due_in
        result = await self._attempt(item)
        still_pending = await self._settle(item, result)
        if still_pending is None:
            self._window.popleft()
        else:
            self._window[0] = still_pending
        return 0.0

    async def _attempt(self, item: QueueItem) -> DeliveryResult:
        try:
            event = decode_event(item.payload)
        except EventError as exc:  # cannot happen for rows this adapter wrote
            return DeliveryResult(Outcome.REJECTED, f"stored payload unreadable: {exc}")
        try:
            return await asyncio.wait_for(self.transport.deliver(event), self._attempt_timeout)
        except TimeoutError:
            logger.warning("output %s: deliver() exceeded %gs", self.name, self._attempt_timeout)
            return DeliveryResult(Outcome.RETRY, f"no answer within {self._attempt_timeout:g}s")
        except Exception as exc:  # a transport bug must not stop the worker
            logger.exception("output %s: deliver() raised", self.name)
            return DeliveryResult(Outcome.RETRY, f"transport error: {type(exc).__name__}: {exc}")

    async def _settle(self, item: QueueItem, result: DeliveryResult) -> QueueItem | None:
        """Record the attempt; returns the item as it now stands when it is still pending."""
        now = self._clock()
        attempts = item.attempts + 1
        metrics.DELIVERIES.labels(self.name, result.outcome.value).inc()
        if result.outcome is Outcome.DELIVERED:
            metrics.DELIVERY_LATENCY.labels(self.name).observe(max(0.0, now - item.published_at))
            await self._write(item, "delivered", result, attempts, now)
            return None
        if result.outcome is Outcome.REJECTED or attempts >= self._policy.max_attempts:
            metrics.DEAD_LETTERS.labels(self.name).inc()
            logger.warning(
                "output %s: event %s dead-lettered after %d attempt(s): %s",
                self.name, item.event_id, attempts, result.detail,
            )  # fmt: skip
            await self._write(item, "dead_lettered", result, attempts, now)
            return None
        delay = retry_delay(self._policy, attempts, self._rng)
        logger.info(
            "output %s: event %s attempt %d failed (%s); retry in %.1fs",
            self.name, item.event_id, attempts, result.detail, delay,
        )  # fmt: skip
        await self._write(item, "retry", result, attempts, now + delay)
        return replace(
            item, attempts=attempts, next_attempt_at=now + delay, last_error=result.detail[:1000]
        )

    async def _write(
        self, item: QueueItem, kind: str, result: DeliveryResult, attempts: int, at: float
    ) -> None:
        def write() -> None:
            # not durable: losing this write to a power cut only repeats one delivery
            with self._db.transaction(exclusive=kind != "retry", durable=False) as tx:
                if kind == "retry":
                    self._queue.retry_later(tx, item, at, result.detail)
                    return
                if kind == "delivered":
                    self._queue.delivered(tx, item)
                else:
                    self._queue.dead_letter(tx, item, result.detail, at)
                audit.append(
                    tx, actor=ADAPTER, channel=self.name, action=f"delivery.{kind}",
                    subject=item.event_id,
                    details={"output": self.name, "attempts": attempts, "detail": result.detail},
                )  # fmt: skip

        while True:
            try:
                await asyncio.to_thread(write)
                return
            except StorageError as exc:
                # the attempt happened; keep trying to record it rather than redeliver
                logger.warning("output %s: cannot record %s: %s", self.name, kind, exc)
                await asyncio.sleep(_MAX_WAIT)
