"""The on-disk spool: events are stored here before they are sent, deleted on PUBACK.

SQLite in WAL mode. ``synchronous=FULL`` by default so an event accepted from
fusion survives a power cut (one WAL fsync per event: events are rare, a few
per second at most); ``NORMAL`` is offered for slow storage. Rows keep their
insertion order (``seq``), the MQTT topic, the encoded payload and the capture
time of the evidence (for the end-to-end latency histogram).

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from edge.metrics import DROPS
from edge.outbox.errors import SpoolError, SpoolFullError
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
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}")
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
        payload = encode(event)
        rank = event.severity.rank
        with self._lock:
            try:
                if self._count >= self._max_events:
                    self._make_room(rank, event)
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO outbox (event_id, topic, payload, severity, source,"
                    " captured_at, enqueued_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        event.event_id,
                        topic,
                        payload,
                        rank,
                        event.source.id,
                        captured_at,
                        self._clock(),
                    ),
                )
                if cursor.rowcount == 0:
                    row = self._db.execute(
                        "SELECT seq FROM outbox WHERE event_id = ?", (event.event_id,)
                    ).fetchone()
                    return int(row[0]) if row else 0
                self._count += 1
                return int(cursor.lastrowid or 0)
            except sqlite3.Error as exc:
                DROPS.labels(camera=event.source.id, stage="outbox", reason=SpoolError.reason).inc()
                raise SpoolError(f"event {event.event_id} not stored: {exc}") from exc

    def _make_room(self, rank: int, event: Event) -> None:
        victim = self._db.execute(
            "SELECT seq, event_id, source FROM outbox WHERE severity <= ?"
            " ORDER BY severity, seq LIMIT 1",
            (rank,),
        ).fetchone()
        if victim is None:
            DROPS.labels(camera=event.source.id, stage="outbox", reason=SpoolFullError.reason).inc()
            logger.error(
                "outbox full (%d events, all more severe): refused event %s (%s, %s)",
                self._count,
                event.event_id,
                event.category,
                event.severity.value,
            )
            raise SpoolFullError(f"outbox full: event {event.event_id} refused")
        self._db.execute("DELETE FROM outbox WHERE seq = ?", (victim[0],))
        self._count -= 1
        DROPS.labels(camera=victim[2], stage="outbox", reason="spool_full_evicted").inc()
        logger.error(
            "outbox full (%d events): evicted oldest lower-severity event %s for %s",
            self._max_events,
            victim[1],
            event.event_id,
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
        """Forget acknowledged events (one transaction)."""
        batch = [(seq,) for seq in seqs]
        if not batch:
            return
        with self._lock:
            try:
                self._db.execute("BEGIN")
                before = self._db.total_changes
                self._db.executemany("DELETE FROM outbox WHERE seq = ?", batch)
                self._count -= self._db.total_changes - before
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise SpoolError(f"cannot delete acknowledged events: {exc}") from exc

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
