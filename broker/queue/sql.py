"""The delivery queue in SQL, shared by the SQLite and PostgreSQL backends.

Items of one output are delivered strictly in ``seq`` order: the head blocks
its output while it waits for a retry, it is never overtaken. Delivered items
are deleted; dead letters stay until an operator requeues them (to the tail).

Only the instance that leads an output (:meth:`broker.storage.Database.try_lead`)
reads its head. Row-level ``FOR UPDATE SKIP LOCKED`` alone would let a second
instance skip a locked head and deliver the next item first, breaking order.
"""

from __future__ import annotations

from collections.abc import Sequence

from broker.queue.base import ItemState, NewDelivery, QueueItem, QueueStats
from broker.storage import Database, Row, Tx

_INSERT = (
    "INSERT INTO deliveries (output, event_id, payload, published_at, enqueued_at,"
    " attempts, next_attempt_at, state) VALUES (?, ?, ?, ?, ?, 0, ?, 'pending')"
)
_COLUMNS = (
    "seq, output, event_id, payload, published_at, enqueued_at, attempts, "
    "next_attempt_at, last_error, state, dead_at"
)


def _item(row: Row) -> QueueItem:
    return QueueItem(
        seq=int(row[0]),
        output=str(row[1]),
        event_id=str(row[2]),
        payload=str(row[3]),
        published_at=float(row[4]),
        enqueued_at=float(row[5]),
        attempts=int(row[6]),
        next_attempt_at=float(row[7]),
        last_error=row[8],
        state=ItemState(row[9]),
        dead_at=None if row[10] is None else float(row[10]),
    )


class SqlDeliveryQueue:
    """:class:`broker.queue.base.DeliveryQueue` over a :class:`broker.storage.Database`."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def enqueue(
        self, tx: Tx, *, output: str, event_id: str, payload: str, published_at: float, now: float
    ) -> None:
        """Append a delivery at the tail of ``output``'s queue."""
        tx.execute(_INSERT, (output, event_id, payload, published_at, now, now))

    def enqueue_many(self, tx: Tx, items: Sequence[NewDelivery], now: float) -> None:
        """Append deliveries in the given order (``seq`` follows it) with one batched insert."""
        tx.executemany(
            _INSERT,
            [(i.output, i.event_id, i.payload, i.published_at, now, now) for i in items],
        )

    def head(self, output: str) -> QueueItem | None:
        """The oldest pending delivery of ``output``, or None."""
        found = self.pending(output, 1)
        return found[0] if found else None

    def pending(self, output: str, limit: int) -> list[QueueItem]:
        """The oldest ``limit`` pending deliveries of ``output``, in delivery order."""
        with self._db.transaction() as tx:
            rows = tx.query(
                f"SELECT {_COLUMNS} FROM deliveries WHERE output = ? AND state = 'pending'"  # noqa: S608
                " ORDER BY seq LIMIT ?",
                (output, limit),
            )
        return [_item(row) for row in rows]

    def delivered_many(self, tx: Tx, items: Sequence[QueueItem]) -> None:
        """Remove delivered items with one batched delete."""
        tx.executemany("DELETE FROM deliveries WHERE seq = ?", [(item.seq,) for item in items])

    def retry_later(self, tx: Tx, item: QueueItem, next_attempt_at: float, error: str) -> None:
        """Count a failed attempt and schedule the next one."""
        tx.execute(
            "UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = ?,"
            " last_error = ? WHERE seq = ?",
            (next_attempt_at, error[:1000], item.seq),
        )

    def dead_letter(self, tx: Tx, item: QueueItem, error: str, now: float) -> None:
        """Give up on an item; it is kept as a dead letter."""
        tx.execute(
            "UPDATE deliveries SET attempts = attempts + 1, state = 'dead', dead_at = ?,"
            " last_error = ? WHERE seq = ?",
            (now, error[:1000], item.seq),
        )

    def stats(self, outputs: Sequence[str]) -> list[QueueStats]:
        """Depth, oldest pending item and dead letters of each output.

        Per-output queries on the ``(output, state, seq)`` index: counting walks
        only that output's index entries, and the oldest pending item is the head
        of its queue, so a deep queue does not hold the write lock for a table scan.
        """
        result = []
        with self._db.transaction(durable=False) as tx:
            for output in outputs:
                depth = tx.query(
                    "SELECT COUNT(*) FROM deliveries WHERE output = ? AND state = ?",
                    (output, ItemState.PENDING.value),
                )[0][0]
                dead = tx.query(
                    "SELECT COUNT(*) FROM deliveries WHERE output = ? AND state = ?",
                    (output, ItemState.DEAD.value),
                )[0][0]
                head = tx.query(
                    "SELECT enqueued_at FROM deliveries WHERE output = ? AND state = ?"
                    " ORDER BY seq LIMIT 1",
                    (output, ItemState.PENDING.value),
                )
                oldest = float(head[0][0]) if head else None
                result.append(QueueStats(output, int(depth), oldest, int(dead)))
        return result

    def dead_letters(
        self, output: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[QueueItem]:
        """Dead letters, oldest first."""
        where = "state = 'dead'" + (" AND output = ?" if output is not None else "")
        params: tuple[object, ...] = (output,) if output is not None else ()
        with self._db.transaction() as tx:
            rows = tx.query(
                f"SELECT {_COLUMNS} FROM deliveries WHERE {where} ORDER BY seq LIMIT ? OFFSET ?",  # noqa: S608
                (*params, limit, offset),
            )
        return [_item(row) for row in rows]

    def requeue(self, tx: Tx, seqs: Sequence[int], now: float) -> list[QueueItem]:
        """Append dead letters to the tail of their queues again, attempts reset.

        They go to the tail (with a new ``seq``), so they never jump ahead of a
        delivery worker's prefetched window; order among them follows ``seqs``.
        """
        found = []
        for seq in seqs:
            rows = tx.query(
                f"SELECT {_COLUMNS} FROM deliveries WHERE seq = ? AND state = 'dead'",  # noqa: S608
                (seq,),
            )
            if not rows:
                continue
            old = _item(rows[0])
            tx.execute("DELETE FROM deliveries WHERE seq = ?", (seq,))
            self.enqueue(
                tx, output=old.output, event_id=old.event_id, payload=old.payload,
                published_at=old.published_at, now=now,
            )  # fmt: skip
            found.append(old)
        return found
