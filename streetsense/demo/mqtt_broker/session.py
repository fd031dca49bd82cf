"""Per-client session state: subscriptions, the offline queue and unacknowledged deliveries."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from streetsense.demo.mqtt_broker import metrics
from streetsense.demo.mqtt_broker.topics import TopicFilter
from streetsense.demo.mqtt_broker.wire import Properties

if TYPE_CHECKING:
    from streetsense.demo.mqtt_broker.connection import Connection

NEVER_EXPIRES = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class Message:
    """An application message as published (properties without topic alias)."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    properties: Properties


@dataclass(frozen=True, slots=True)
class Delivery:
    """A message on its way to one subscriber."""

    message: Message
    qos: int  # min(subscription QoS, message QoS)
    retain: bool  # the RETAIN flag on the outgoing PUBLISH
    share: tuple[str, str] | None = None  # (group, pattern) of a shared subscription


@dataclass(frozen=True, slots=True)
class Subscription:
    """One filter a session subscribed to, with its options."""

    topic_filter: TopicFilter
    qos: int
    no_local: bool = False
    retain_as_published: bool = False


class Session:
    """What the broker keeps for a client id, connected or not."""

    def __init__(self, client_id: str, max_queued: int) -> None:
        self.client_id = client_id
        self.subscriptions: dict[str, Subscription] = {}
        self.queue: deque[Delivery] = deque()
        self.inflight: dict[int, Delivery] = {}  # packet id -> QoS 1 delivery awaiting PUBACK
        self.expiry_s = 0
        self.connection: Connection | None = None
        self.expiry_timer: asyncio.TimerHandle | None = None
        self._max_queued = max_queued
        self._last_id = 0

    def enqueue(self, delivery: Delivery) -> bool:
        """Queue a QoS 1 delivery; a full queue refuses it (counted)."""
        if len(self.queue) >= self._max_queued:
            metrics.DROPPED.labels("queue_full").inc()
            return False
        self.queue.append(delivery)
        return True

    def next_packet_id(self) -> int:
        """A packet identifier not in flight (1..65535)."""
        for _ in range(0xFFFF):
            self._last_id = self._last_id % 0xFFFF + 1
            if self._last_id not in self.inflight:
                return self._last_id
        raise RuntimeError("all 65535 packet identifiers are in flight")

    def take_shared(self) -> list[Delivery]:
        """Remove and return the pending shared-subscription deliveries, oldest first."""
        taken = [d for d in self.inflight.values() if d.share is not None]
        self.inflight = {pid: d for pid, d in self.inflight.items() if d.share is None}
        taken += [d for d in self.queue if d.share is not None]
        self.queue = deque(d for d in self.queue if d.share is None)
        return taken

    def shares(self) -> set[tuple[str, str]]:
        """The (group, pattern) keys of this session's shared subscriptions."""
        return {
            (sub.topic_filter.group, sub.topic_filter.pattern)
            for sub in self.subscriptions.values()
            if sub.topic_filter.group is not None
        }
