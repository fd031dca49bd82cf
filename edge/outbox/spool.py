"""The on-disk spool: events are stored here before they are sent, deleted on PUBACK.

SQLite in WAL mode. ``synchronous=FULL`` by default so an event accepted from
fusion survives a power cut. Events produced together (several cameras' clips
classified in one inference batch) are stored by :meth:`Spool.append_many` in
one transaction: one WAL fsync per batch, not per event, so they do not queue
behind each other's fsyncs. ``NORMAL`` is offered for slow storage. Rows keep
their insertion order (``seq``), the MQTT topic, the encoded payload and the
capture time of the evidence (for the end-to-end latency histogram).

Deleting acknowledged rows is not fsynced (see :meth:`Spool.delete`): losing a
delete to a power cut only sends that event again, which at-least-once delivery
allows (consumers dedupe by event id).

Cap policy (``max_events``): evict the oldest event of the lowest severity that
is not above the new event's severity; if every stored event is more severe,
refuse the new one. Both are counted in ``streetsense_drops_total`` (stage
``outbox``) and logged; nothing is dropped silently. Events the broker refuses
outright (failing PUBACK reason code) move to a ``dead_letters`` table.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from edge.metrics import DROPS
from edge.outbox.errors import OutboxError, SpoolError, SpoolFullError
from events import Event, encode

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    severity INTEGER NOT NULL,
    source TEXT NOT NULL,
    captured_at REAL,
    enqueued_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_severity ON outbox (severity, seq);
CREATE TABLE IF NOT EXISTS dead_letters (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    reason TEXT NOT NULL,
    failed_at REAL NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class SpoolRow:
    """One stored event, ready to publish."""

    seq: int
    event_id: str
    topic: str
    payload: bytes
    captured_at: float | None


@dataclass(frozen=True, slots=True)
class SpoolItem:
    """One event to store: the event, its MQTT topic, the capture time of its evidence."""

    event: Event
    topic: str
    captured_at: float | None = None


class Spool:
    """A thread-safe SQLite spool (one connection, one lock)."""

    def __init__(
        self,
        path: Path,
        *,
        max_events: int = 100_000,
        synchronous: str = "full",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self._max_events = max_events
        self._clock = clock
        self._lock = threading.Lock()
        self._synchronous = "FULL" if synchronous == "full" else "NORMAL"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._synchronous_now = ""
            self._set_synchronous(self._synchronous)
            self._db.executescript(_SCHEMA)
            self._count = int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        except (OSError, sqlite3.Error) as exc:
            raise SpoolError(f"cannot open outbox spool {path}: {exc}") from exc
        if self._count:
            logger.info("outbox spool %s holds %d unsent event(s); replaying", path, self._count)

    def append(self, event: Event, topic: str, captured_at: float | None = None) -> int:
        """Store ``event`` durably; return its sequence number.

        Raise :class:`SpoolFullError` when the cap policy refuses it and
        :class:`SpoolError` when SQLite fails. An event id already stored is
        not stored twice (the existing row's sequence number is returned).
        """
        outcome = self.append_many([SpoolItem(event, topic, captured_at)])[0]
        if isinstance(outcome, OutboxError):
            raise outcome
        return outcome

    def append_many(self, items: Sequence[SpoolItem]) -> list[int | OutboxError]:
        """Store ``items`` in one transaction (one fsync); one outcome per item, in order.

        Each outcome is the item's sequence number (an event id already stored,
        or repeated earlier in ``items``, keeps its first row's number) or the
        error that kept it out: :class:`SpoolFullError` when the cap policy
        refuses it, :class:`SpoolError` when SQLite fails (then no item of the
        batch is stored). The cap policy runs per item, in order, so an item may
        evict a less severe one stored earlier in the same batch. Every refusal,
        eviction and failure is counted in ``streetsense_drops_total``; the call
        returns only after the transaction is on disk.
        """
        prepared = [(item, encode(item.event), item.event.severity.rank) for item in items]
        if not prepared:
            return []
        outcomes: list[int | OutboxError] = []
        evicted: list[tuple[str, str, str]] = []  # victim id, victim source, evicting id
        with self._lock:
            count = self._count
            try:
                self._set_synchronous(self._synchronous)  # in case a delete could not restore it
                self._db.execute("BEGIN IMMEDIATE")
                for item, payload, rank in prepared:
                    outcome, count = self._insert(item, payload, rank, count, evicted)
                    outcomes.append(outcome)
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                outcomes = self._failed(prepared, outcomes, exc)
                evicted.clear()
            else:
                self._count = count
            stored = self._count
        for victim_id, victim_source, new_id in evicted:
            DROPS.labels(camera=victim_source, stage="outbox", reason="spool_full_evicted").inc()
            logger.error(
                "outbox full (%d events): evicted oldest lower-severity event %s for %s",
                self._max_events,
                victim_id,
                new_id,
            )
        for (item, _payload, _rank), outcome in zip(prepared, outcomes, strict=True):
            if isinstance(outcome, OutboxError):
                self._count_refusal(item.event, outcome, stored)
        return outcomes

    def _insert(
        self,
        item: SpoolItem,
        payload: bytes,
        rank: int,
        count: int,
        evicted: list[tuple[str, str, str]],
    ) -> tuple[int | OutboxError, int]:
        """Insert one item inside the open transaction; return its outcome and the new count."""
        event = item.event
        if count >= self._max_events:
            existing = self._seq_of(event.event_id)
            if existing is not None:
                return existing, count  # a duplicate needs no room
            victim = self._db.execute(
                "SELECT seq, event_id, source FROM outbox WHERE severity <= ?"
                " ORDER BY severity, seq LIMIT 1",
                (rank,),
            ).fetchone()
            if victim is None:
                return SpoolFullError(f"outbox full: event {event.event_id} refused"), count
            self._db.execute("DELETE FROM outbox WHERE seq = ?", (victim[0],))
            count -= 1
            evicted.append((victim[1], victim[2], event.event_id))
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO outbox (event_id, topic, payload, severity, source,"
            " captured_at, enqueued_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                event.event_id,
                item.topic,
                payload,
                rank,
                event.source.id,
                item.captured_at,
                self._clock(),
            ),
        )
        if cursor.rowcount == 0:
            return self._seq_of(event.event_id) or 0, count
        return int(cursor.lastrowid or 0), count + 1

    def _seq_of(self, event_id: str) -> int | None:
        row = self._db.execute("SELECT seq FROM outbox WHERE event_id = ?", (event_id,)).fetchone()
        return int(row[0]) if row else None

    @staticmethod
    def _failed(
        prepared: Sequence[tuple[SpoolItem, bytes, int]],
        outcomes: Sequence[int | OutboxError],
        exc: sqlite3.Error,
    ) -> list[int | OutboxError]:
        """Outcomes after a rolled-back batch: refusals stay refusals, the rest failed."""
        failed: list[int | OutboxError] = []
        for index, (item, _payload, _rank) in enumerate(prepared):
            earlier = outcomes[index] if index < len(outcomes) else None
            if isinstance(earlier, SpoolFullError):
                failed.append(earlier)
            else:
                failed.append(SpoolError(f"event {item.event.event_id} not stored: {exc}"))
        return failed

    def _count_refusal(self, event: Event, error: OutboxError, stored: int) -> None:
        DROPS.labels(camera=event.source.id, stage="outbox", reason=error.reason).inc()
        if isinstance(error, SpoolFullError):
            logger.error(
                "outbox full (%d events, all more severe): refused event %s (%s, %s)",
                stored,
                event.event_id,
                event.category,
                event.severity.value,
            )

    def pending(self, after_seq: int, limit: int) -> list[SpoolRow]:
        """Up to ``limit`` stored events with ``seq > after_seq``, oldest first."""
        with self._lock:
            try:
                rows = self._db.execute(
                    "SELECT seq, event_id, topic, payload, captured_at FROM outbox"
                    " WHERE seq > ? ORDER BY seq LIMIT ?",
                    (after_seq, limit),
                ).fetchall()
            except sqlite3.Error as exc:
                raise SpoolError(f"cannot read outbox spool: {exc}") from exc
        return [SpoolRow(int(r[0]), r[1], r[2], bytes(r[3]), r[4]) for r in rows]

    def delete(self, seqs: Iterable[int]) -> None:
        """Forget acknowledged events: one transaction, deliberately not fsynced.

        The transaction commits with ``synchronous=NORMAL``: in WAL mode that
        skips the commit's fsync while checkpoints still sync, so the database
        cannot be corrupted. A power cut may undo the latest deletes; those
        events are then sent again after the restart, a duplicate that
        at-least-once delivery allows (consumers dedupe by event id). Nothing
        unsent is ever lost, and the next event's fsync makes every earlier
        delete durable too (the WAL is appended in order). This keeps acks from
        holding the spool lock for an fsync while fusion waits to store events.
        """
        batch = [(seq,) for seq in seqs]
        if not batch:
            return
        with self._lock:
            try:
                self._set_synchronous("NORMAL")
                self._db.execute("BEGIN")
                before = self._db.total_changes
                self._db.executemany("DELETE FROM outbox WHERE seq = ?", batch)
                deleted = self._db.total_changes - before
                self._db.execute("COMMIT")
                self._count -= deleted
            except sqlite3.Error as exc:
                self._rollback()
                raise SpoolError(f"cannot delete acknowledged events: {exc}") from exc
            finally:
                self._restore_synchronous()

    def _set_synchronous(self, mode: str) -> None:
        """Switch SQLite's sync mode (outside a transaction; a no-op when already set)."""
        if self._synchronous_now != mode:
            self._db.execute(f"PRAGMA synchronous={mode}")
            self._synchronous_now = mode

    def _restore_synchronous(self) -> None:
        try:
            self._set_synchronous(self._synchronous)
        except sqlite3.Error:  # retried before the next append (append_many sets it first)
            logger.warning("could not restore synchronous=%s", self._synchronous, exc_info=True)

    def dead_letter(self, seq: int, reason: str) -> None:
        """Move an event the broker refused out of the send queue, keeping it on disk."""
        with self._lock:
            try:
                self._db.execute("BEGIN")
                self._db.execute(
                    "INSERT OR REPLACE INTO dead_letters (seq, event_id, topic, payload, reason,"
                    " failed_at) SELECT seq, event_id, topic, payload, ?, ? FROM outbox"
                    " WHERE seq = ?",
                    (reason, self._clock(), seq),
                )
                moved = self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,)).rowcount
                self._count -= moved
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise SpoolError(f"cannot dead-letter event {seq}: {exc}") from exc

    def backlog(self) -> int:
        """Events stored and not yet acknowledged."""
        with self._lock:
            return self._count

    def oldest_enqueued_at(self) -> float | None:
        """When the oldest unacknowledged event was stored, or None when empty."""
        with self._lock:
            row = self._db.execute("SELECT enqueued_at FROM outbox ORDER BY seq LIMIT 1").fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def dead_letters(self) -> int:
        """Number of events the broker refused."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0])

    def close(self) -> None:
        """Close the database (idempotent)."""
        with self._lock:
            self._db.close()

    def _rollback(self) -> None:
        try:
            self._db.execute("ROLLBACK")
        except sqlite3.Error:
            logger.debug("rollback after a failed transaction failed", exc_info=True)
