"""Values and the interface of the durable per-output delivery queue."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from broker.storage import Tx


class ItemState(enum.StrEnum):
    """Where a queued delivery stands (delivered items are removed)."""

    PENDING = "pending"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class QueueItem:
    """One delivery of one event to one output."""

    seq: int  # global insertion order; the order of delivery within an output
    output: str
    event_id: str
    payload: str  # the event's wire JSON, as accepted
    published_at: float  # when the agent published it (for latency)
    enqueued_at: float
    attempts: int
    next_attempt_at: float
    last_error: str | None
    state: ItemState
    dead_at: float | None = None


@dataclass(frozen=True, slots=True)
class QueueStats:
    """Depth and age of one output's queue."""

    output: str
    depth: int  # pending deliveries
    oldest_enqueued_at: float | None  # of the oldest pending delivery
    dead: int  # dead letters kept


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """A delivery to append to the tail of ``output``'s queue."""

    output: str
    event_id: str
    payload: str
    published_at: float


class DeliveryQueue(Protocol):
    """A durable FIFO per output with retry bookkeeping and dead letters.

    Writes take the caller's transaction so that a state change and its audit
    row (and, on accept, dedupe and queueing for every output) commit together.
    """

    def enqueue(
        self, tx: Tx, *, output: str, event_id: str, payload: str, published_at: float, now: float
    ) -> None:
        """Append a delivery at the tail of ``output``'s queue."""
        ...

    def enqueue_many(self, tx: Tx, items: Sequence[NewDelivery], now: float) -> None:
        """Append deliveries at the tails of their outputs' queues, in the given order."""
        ...

    def head(self, output: str) -> QueueItem | None:
        """The oldest pending delivery of ``output`` (due or not), or None."""
        ...

    def pending(self, output: str, limit: int) -> list[QueueItem]:
        """The oldest ``limit`` pending deliveries of ``output``, in delivery order."""
        ...

    def delivered_many(self, tx: Tx, items: Sequence[QueueItem]) -> None:
        """Remove delivered items (one batched statement)."""
        ...

    def retry_later(self, tx: Tx, item: QueueItem, next_attempt_at: float, error: str) -> None:
        """Count a failed attempt and schedule the next one."""
        ...

    def dead_letter(self, tx: Tx, item: QueueItem, error: str, now: float) -> None:
        """Give up on an item; it is kept as a dead letter."""
        ...

    def stats(self, outputs: Sequence[str]) -> list[QueueStats]:
        """Depth, oldest age and dead letters of each output."""
        ...

    def dead_letters(
        self, output: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[QueueItem]:
        """Dead letters, oldest first."""
        ...

    def requeue(self, tx: Tx, seqs: Sequence[int], now: float) -> list[QueueItem]:
        """Append dead letters to their queues' tails again; returns those requeued."""
        ...
