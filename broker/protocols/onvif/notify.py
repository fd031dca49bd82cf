"""Push delivery for WS-BaseNotification subscriptions: ``wsnt:Notify`` POSTed to the consumer.

One task per push subscription sends the queued messages in batches, in
order; a message leaves the queue only when the consumer answered 2xx. A
consumer that is down is retried with a doubling, capped delay while its
bounded queue keeps the newest messages (the drop policy of the pull points).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

import aiohttp

from broker.metrics import PROTOCOL_MESSAGES
from broker.protocols.onvif.event_codec import ACTION_NOTIFY, notify
from broker.protocols.onvif.soap import CONTENT_TYPE, build_envelope
from broker.protocols.onvif.subscriptions import Subscription, SubscriptionManager

logger = logging.getLogger(__name__)


class NotifyPusher:
    """Runs the push tasks of an onvif_events output."""

    def __init__(
        self,
        output: str,
        manager: SubscriptionManager,
        *,
        batch: int = 100,
        timeout_s: float = 10.0,
        retry_min_s: float = 0.5,
        retry_max_s: float = 30.0,
    ) -> None:
        self._output = output
        self._manager = manager
        self._batch = batch
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._retry_min = retry_min_s
        self._retry_max = retry_max_s
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, subscription: Subscription, address: str) -> None:
        """Start pushing ``subscription``'s queue; ``address`` is its manager address."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        task = asyncio.create_task(
            self._run(subscription, address), name=f"onvif-notify-{subscription.id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Stop every push task and close the HTTP session."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self, subscription: Subscription, address: str) -> None:
        delay = self._retry_min
        while not subscription.closed:
            if not subscription.queue:
                subscription.wakeup.clear()
                await subscription.wakeup.wait()
                continue
            batch = self._manager.pending(subscription, self._batch)
            body = build_envelope(notify(address, batch), action=ACTION_NOTIFY)
            if await self._post(subscription, body):
                self._manager.acknowledge(subscription, batch)
                delay = self._retry_min
                continue
            PROTOCOL_MESSAGES.labels(self._output, "out", "notify_failed").inc()
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self._retry_max)

    async def _post(self, subscription: Subscription, body: bytes) -> bool:
        assert self._session is not None
        consumer = subscription.consumer or ""
        try:
            async with self._session.post(
                consumer, data=body, headers={"Content-Type": CONTENT_TYPE}
            ) as response:
                await response.read()
                if 200 <= response.status < 300:
                    return True
                logger.info(
                    "onvif %s: consumer %s answered HTTP %s",
                    self._output,
                    consumer,
                    response.status,
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            logger.info("onvif %s: consumer %s unreachable: %s", self._output, consumer, exc)
        return False
