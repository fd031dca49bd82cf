"""Pull-point subscriptions: bounded queues, long-poll, renewal and expiry (no network I/O).

Drop policy: a pull point holds at most ``queue_size`` notifications; when a
new one arrives at a full queue the oldest is dropped and counted
(``reason="queue_full"``), so a stalled client costs bounded memory and
sees the newest state. Properties (open incidents) are also kept in a bounded
table so a new subscription or SetSynchronizationPoint receives the current
state as Initialized messages, as ONVIF requires for property events.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from broker.metrics import PROTOCOL_MESSAGES
from broker.protocols.onvif.errors import (
    InvalidArgumentError,
    ResourceUnknownError,
    SubscriptionLimitError,
)
from broker.protocols.onvif.metrics import DROPPED, QUEUED, SUBSCRIPTIONS
from broker.protocols.onvif.notification import Notification, PropertyOperation
from broker.protocols.onvif.topics import TopicFilter

logger = logging.getLogger(__name__)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class SubscriptionLimits:
    """Bounds of the subscription manager."""

    max_subscriptions: int = 32
    queue_size: int = 1000
    default_termination: timedelta = timedelta(seconds=60)
    min_termination: timedelta = timedelta(seconds=1)
    max_termination: timedelta = timedelta(hours=1)
    max_properties: int = 4096


@dataclass(slots=True)
class Subscription:
    """One pull point; mutated only by :class:`SubscriptionManager`."""

    id: str
    topic_filter: TopicFilter | None
    termination: datetime
    keepalive: timedelta
    queue: deque[Notification] = field(default_factory=deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False
    consumer: str | None = None  # push (WS-BaseNotification Subscribe): the consumer's URL

    def accepts(self, notification: Notification) -> bool:
        """Whether the subscription's filter selects the notification's topic."""
        return self.topic_filter is None or self.topic_filter.accepts(notification)


class SubscriptionManager:
    """All pull points of one onvif_events output."""

    def __init__(
        self,
        output: str,
        limits: SubscriptionLimits | None = None,
        *,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._output = output
        self._limits = limits or SubscriptionLimits()
        self._clock = clock
        self._subscriptions: dict[str, Subscription] = {}
        self._properties: OrderedDict[str, Notification] = OrderedDict()

    @property
    def active(self) -> int:
        """Number of live subscriptions."""
        return len(self._subscriptions)

    @property
    def queued(self) -> int:
        """Notifications waiting across all pull points."""
        return sum(len(sub.queue) for sub in self._subscriptions.values())

    def now(self) -> datetime:
        """The manager's clock (UTC)."""
        return self._clock()

    def create(
        self,
        topic_filter: TopicFilter | None,
        requested: datetime | None,
        *,
        consumer: str | None = None,
    ) -> Subscription:
        """Create a pull point (or, with ``consumer``, a push subscription).

        It starts with the current properties queued as Initialized.
        """
        self.expire()
        if len(self._subscriptions) >= self._limits.max_subscriptions:
            raise SubscriptionLimitError(
                f"at most {self._limits.max_subscriptions} pull points are supported"
            )
        now = self.now()
        termination = self._clamp(requested, now)
        subscription = Subscription(
            id=secrets.token_hex(16),
            topic_filter=topic_filter,
            termination=termination,
            keepalive=termination - now,
            consumer=consumer,
        )
        self._subscriptions[subscription.id] = subscription
        self._enqueue_properties(subscription)
        self._update_gauges()
        logger.info(
            "onvif %s: pull point %s created, terminates %s",
            self._output,
            subscription.id,
            termination.isoformat(),
        )
        return subscription

    def get(self, subscription_id: str) -> Subscription:
        """The live subscription, or ResourceUnknownError when unknown or expired."""
        self.expire()
        subscription = self._subscriptions.get(subscription_id)
        if subscription is None:
            raise ResourceUnknownError("the subscription is unknown or has expired")
        return subscription

    def renew(self, subscription_id: str, requested: datetime | None) -> datetime:
        """Move the termination time; returns the granted one."""
        subscription = self.get(subscription_id)
        now = self.now()
        subscription.termination = self._clamp(requested, now)
        subscription.keepalive = subscription.termination - now
        return subscription.termination

    def unsubscribe(self, subscription_id: str) -> None:
        """End a subscription now; a pending PullMessages returns empty."""
        subscription = self.get(subscription_id)
        self._remove(subscription, "unsubscribed")

    def synchronize(self, subscription_id: str) -> None:
        """SetSynchronizationPoint: queue the current state of every property."""
        self._enqueue_properties(self.get(subscription_id))
        self._update_gauges()

    async def pull(self, subscription_id: str, wait: timedelta, limit: int) -> list[Notification]:
        """Long-poll: return up to ``limit`` notifications, waiting up to ``wait`` for one."""
        subscription = self.get(subscription_id)
        if subscription.consumer is not None:
            raise InvalidArgumentError(
                "this subscription pushes to its consumer; it cannot be pulled"
            )
        now = self.now()
        subscription.termination = max(subscription.termination, now + subscription.keepalive)
        if not subscription.queue and wait > timedelta(0):
            subscription.wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(subscription.wakeup.wait(), wait.total_seconds())
        if subscription.closed:
            return []
        batch = [subscription.queue.popleft() for _ in range(min(limit, len(subscription.queue)))]
        if batch:
            PROTOCOL_MESSAGES.labels(self._output, "out", "notification_pulled").inc(len(batch))
        subscription.termination = max(
            subscription.termination, self.now() + subscription.keepalive
        )
        self._update_gauges()
        return batch

    def pending(self, subscription: Subscription, limit: int) -> list[Notification]:
        """The oldest ``limit`` queued notifications, left in the queue (push sending)."""
        return list(itertools.islice(subscription.queue, limit))

    def acknowledge(self, subscription: Subscription, sent: list[Notification]) -> None:
        """Remove pushed notifications that are still at the head of the queue."""
        removed = 0
        for notification in sent:
            if subscription.queue and subscription.queue[0] is notification:
                subscription.queue.popleft()
                removed += 1
        if removed:
            PROTOCOL_MESSAGES.labels(self._output, "out", "notification_pushed").inc(removed)
        self._update_gauges()

    def publish(self, notification: Notification) -> int:
        """Queue a notification for every subscription whose filter selects it."""
        self.expire()
        self._track_property(notification)
        delivered = 0
        for subscription in self._subscriptions.values():
            if subscription.accepts(notification):
                self._push(subscription, notification)
                delivered += 1
        if delivered:
            PROTOCOL_MESSAGES.labels(self._output, "out", "notification_queued").inc(delivered)
        self._update_gauges()
        return delivered

    def expire(self) -> int:
        """Remove subscriptions past their termination time; returns how many."""
        now = self.now()
        expired = [sub for sub in self._subscriptions.values() if sub.termination <= now]
        for subscription in expired:
            self._remove(subscription, "expired")
        return len(expired)

    def close(self) -> None:
        """Drop every subscription (the service is stopping)."""
        for subscription in list(self._subscriptions.values()):
            self._remove(subscription, "closed")

    def _clamp(self, requested: datetime | None, now: datetime) -> datetime:
        if requested is None:
            return now + self._limits.default_termination
        if requested <= now:
            raise InvalidArgumentError("the requested termination time is in the past")
        lowest = now + self._limits.min_termination
        highest = now + self._limits.max_termination
        return min(max(requested, lowest), highest)

    def _push(self, subscription: Subscription, notification: Notification) -> None:
        if len(subscription.queue) >= self._limits.queue_size:
            subscription.queue.popleft()
            DROPPED.labels(self._output, "queue_full").inc()
        subscription.queue.append(notification)
        subscription.wakeup.set()

    def _track_property(self, notification: Notification) -> None:
        key = notification.property_key
        if key is None or notification.operation is None:
            return
        if notification.operation is PropertyOperation.DELETED:
            self._properties.pop(key, None)
            return
        self._properties[key] = notification
        self._properties.move_to_end(key)
        if len(self._properties) > self._limits.max_properties:
            self._properties.popitem(last=False)
            DROPPED.labels(self._output, "property_table_full").inc()

    def _enqueue_properties(self, subscription: Subscription) -> None:
        for notification in self._properties.values():
            if subscription.accepts(notification):
                self._push(
                    subscription, replace(notification, operation=PropertyOperation.INITIALIZED)
                )

    def _remove(self, subscription: Subscription, why: str) -> None:
        self._subscriptions.pop(subscription.id, None)
        subscription.closed = True
        subscription.wakeup.set()
        if subscription.queue:
            DROPPED.labels(self._output, f"subscription_{why}").inc(len(subscription.queue))
        subscription.queue.clear()
        self._update_gauges()
        logger.info("onvif %s: pull point %s %s", self._output, subscription.id, why)

    def _update_gauges(self) -> None:
        SUBSCRIPTIONS.labels(self._output).set(len(self._subscriptions))
        QUEUED.labels(self._output).set(self.queued)
