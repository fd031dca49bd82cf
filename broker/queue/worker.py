"""Delivery workers: one asyncio task per output drains its durable queue.

Strictly in order: the worker takes the run of due items at the head of its
output's queue (at most ``batch_size``), delivers them oldest first and
records every outcome of the run (delivered, retry, dead letter) with its
audit rows in one transaction. An item that must be retried ends the run:
what came before it is settled, it waits for its jittered backoff, and
nothing behind it moves until it is settled. With several instances on
PostgreSQL only the one leading the output delivers it.

At least once: an item is removed only after its peer acknowledged it, and
only when the run's outcomes commit. A crash before that commit repeats the
deliveries of that run (at most ``batch_size``), in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from broker import audit, metrics
from broker.config import RetryPolicy
from broker.errors import StorageError
from broker.outputs.base import BatchTransport, DeliveryResult, Outcome, OutputTransport
from broker.queue.backoff import retry_delay
from broker.queue.base import DeliveryQueue, QueueItem
from broker.storage import Database
from events import Event, EventError, decode_event

logger = logging.getLogger(__name__)

ADAPTER = "adapter"
_MAX_WAIT = 1.0  # re-check at least this often (leadership, storage recovery)
WINDOW = 64  # pending items read at once; only the leader changes them, only appends follow
BATCH = 32  # most deliveries attempted before their outcomes are recorded together


@dataclass(frozen=True, slots=True)
class _Retry:
    item: QueueItem
    next_attempt_at: float
    detail: str


@dataclass(slots=True)
class _Outcomes:
    """What one run's transaction writes."""

    delivered: list[QueueItem]
    dead: list[tuple[QueueItem, str]]
    retry: _Retry | None
    audit: list[audit.NewEntry]


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
        batch_size: int = BATCH,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.transport = transport
        self.name = transport.name
        self._batcher = transport if isinstance(transport, BatchTransport) else None
        self._queue = queue
        self._db = database
        self._policy = policy
        self._poll = poll_interval_s
        self._attempt_timeout = attempt_timeout_s
        self._batch = batch_size
        self._window_size = max(WINDOW, batch_size)
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
        """Finish the delivery in progress (if any), record the run, then leave :meth:`run`."""
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
        """Settle the run of due items at the head; returns how long to wait before the next step."""
        try:
            if not self._db.leads(self.name):
                self._window.clear()
                if not await asyncio.to_thread(self._db.try_lead, self.name):
                    return _MAX_WAIT  # another instance delivers this output
            if len(self._window) < self._batch:
                items = await asyncio.to_thread(self._queue.pending, self.name, self._window_size)
                self._window = deque(items)
        except StorageError as exc:
            logger.warning("output %s: storage unavailable: %s", self.name, exc)
            self._window.clear()
            return _MAX_WAIT
        if not self._window:
            return self._poll
        now = self._clock()
        due_in = self._window[0].next_attempt_at - now
        if due_in > 0:
            return due_in
        run = self._due_run(now)
        results = await self._attempt(run)
        settled = [item for item, _ in run[: len(results)]]
        still_pending = await self._settle(settled, results)
        for _ in settled:
            self._window.popleft()
        if still_pending is not None:
            self._window.appendleft(still_pending)
        return 0.0

    def _due_run(self, now: float) -> list[tuple[QueueItem, Event | str]]:
        """The due items at the head (at most ``batch_size``), decoded; a payload error ends it."""
        run: list[tuple[QueueItem, Event | str]] = []
        for item in self._window:
            if len(run) >= self._batch or item.next_attempt_at > now:
                break
            try:
                run.append((item, decode_event(item.payload)))
            except EventError as exc:  # cannot happen for rows this adapter wrote
                if not run:
                    run.append((item, f"stored payload unreadable: {exc}"))
                break
        return run

    async def _attempt(self, run: list[tuple[QueueItem, Event | str]]) -> list[DeliveryResult]:
        """Results for a prefix of ``run`` (at least its head), ending at the first RETRY."""
        head = run[0][1]
        if isinstance(head, str):
            return [DeliveryResult(Outcome.REJECTED, head)]
        events = [event for _, event in run if isinstance(event, Event)]
        if self._batcher is not None and len(events) > 1:
            return await self._attempt_many(self._batcher, events)
        results: list[DeliveryResult] = []
        for event in events:
            result = await self._attempt_one(event)
            results.append(result)
            if result.outcome is Outcome.RETRY or self._stop.is_set():
                break
        return results

    async def _attempt_one(self, event: Event) -> DeliveryResult:
        try:
            async with asyncio.timeout(self._attempt_timeout):  # no task per attempt
                return await self.transport.deliver(event)
        except TimeoutError:
            logger.warning("output %s: deliver() exceeded %gs", self.name, self._attempt_timeout)
            return DeliveryResult(Outcome.RETRY, f"no answer within {self._attempt_timeout:g}s")
        except Exception as exc:  # a transport bug must not stop the worker
            logger.exception("output %s: deliver() raised", self.name)
            return DeliveryResult(Outcome.RETRY, f"transport error: {type(exc).__name__}: {exc}")

    async def _attempt_many(
        self, transport: BatchTransport, events: Sequence[Event]
    ) -> list[DeliveryResult]:
        """``deliver_many``; when it hangs or breaks nothing of the run counts as delivered."""
        limit = self._attempt_timeout * len(events)
        try:
            async with asyncio.timeout(limit):
                results = await transport.deliver_many(events)
        except TimeoutError:
            logger.warning("output %s: deliver_many() exceeded %gs", self.name, limit)
            return [DeliveryResult(Outcome.RETRY, f"no answer within {limit:g}s")]
        except Exception as exc:
            logger.exception("output %s: deliver_many() raised", self.name)
            return [DeliveryResult(Outcome.RETRY, f"transport error: {type(exc).__name__}: {exc}")]
        if not results or len(results) > len(events):
            logger.error(
                "output %s: deliver_many() gave %d results for %d events",
                self.name, len(results), len(events),
            )  # fmt: skip
            return [DeliveryResult(Outcome.RETRY, "transport error: wrong number of results")]
        for index, result in enumerate(results):
            if result.outcome is Outcome.RETRY:
                return results[: index + 1]  # nothing after a retry may count
        return results

    async def _settle(
        self, items: Sequence[QueueItem], results: Sequence[DeliveryResult]
    ) -> QueueItem | None:
        """Record the run's outcomes in one transaction; returns the item left to retry, if any."""
        now = self._clock()
        outcomes = _Outcomes([], [], None, [])
        for item, result in zip(items, results, strict=True):
            attempts = item.attempts + 1
            metrics.DELIVERIES.labels(self.name, result.outcome.value).inc()
            if result.outcome is Outcome.DELIVERED:
                metrics.DELIVERY_LATENCY.labels(self.name).observe(
                    max(0.0, now - item.published_at)
                )
                outcomes.delivered.append(item)
                outcomes.audit.append(self._entry(item, "delivered", attempts, result.detail))
                continue
            if result.outcome is Outcome.REJECTED or attempts >= self._policy.max_attempts:
                metrics.DEAD_LETTERS.labels(self.name).inc()
                logger.warning(
                    "output %s: event %s dead-lettered after %d attempt(s): %s",
                    self.name, item.event_id, attempts, result.detail,
                )  # fmt: skip
                outcomes.dead.append((item, result.detail))
                outcomes.audit.append(self._entry(item, "dead_lettered", attempts, result.detail))
                continue
            delay = retry_delay(self._policy, attempts, self._rng)
            logger.info(
                "output %s: event %s attempt %d failed (%s); retry in %.1fs",
                self.name, item.event_id, attempts, result.detail, delay,
            )  # fmt: skip
            outcomes.retry = _Retry(item, now + delay, result.detail)
        await self._write(outcomes, now)
        retry = outcomes.retry
        if retry is None:
            return None
        return replace(
            retry.item,
            attempts=retry.item.attempts + 1,
            next_attempt_at=retry.next_attempt_at,
            last_error=retry.detail[:1000],
        )

    def _entry(self, item: QueueItem, kind: str, attempts: int, detail: str) -> audit.NewEntry:
        return audit.NewEntry(
            ADAPTER, self.name, f"delivery.{kind}", item.event_id,
            {"output": self.name, "attempts": attempts, "detail": detail},
        )  # fmt: skip

    async def _write(self, outcomes: _Outcomes, now: float) -> None:
        def write() -> None:
            # not durable: losing this write to a power cut only repeats the run's deliveries
            with self._db.transaction(exclusive=bool(outcomes.audit), durable=False) as tx:
                if outcomes.delivered:
                    self._queue.delivered_many(tx, outcomes.delivered)
                for item, detail in outcomes.dead:
                    self._queue.dead_letter(tx, item, detail, now)
                if outcomes.retry is not None:
                    retry = outcomes.retry
                    self._queue.retry_later(tx, retry.item, retry.next_attempt_at, retry.detail)
                if outcomes.audit:
                    audit.Chain(tx).extend(outcomes.audit)

        while True:
            try:
                await asyncio.to_thread(write)
                return
            except StorageError as exc:
                # the attempts happened; keep trying to record them rather than redeliver
                logger.warning("output %s: cannot record deliveries: %s", self.name, exc)
                await asyncio.sleep(_MAX_WAIT)
