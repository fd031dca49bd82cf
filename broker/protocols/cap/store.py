"""The CAP feed's messages in SQLite, so the feed and its references survive restarts.

One row per CAP message; an incident's latest row is what the feed lists.
Blocking calls: the feed output runs them in a worker thread.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from broker.protocols.cap.codec import format_time, parse_time
from broker.protocols.cap.model import Reference

MAX_REFERENCES = 16  # the first message of an incident and the most recent ones

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cap_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    identifier TEXT NOT NULL UNIQUE,
    incident_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    sent TEXT NOT NULL,
    sent_ts REAL NOT NULL,
    expires_ts REAL,
    ended INTEGER NOT NULL,
    headline TEXT NOT NULL,
    summary TEXT NOT NULL,
    xml BLOB NOT NULL,
    stored_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS cap_messages_incident ON cap_messages (incident_id, seq);
"""
_LATEST = """
SELECT m.* FROM cap_messages m
JOIN (SELECT incident_id, MAX(seq) AS seq FROM cap_messages GROUP BY incident_id) last
  ON m.seq = last.seq
"""


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One CAP message as the feed lists it."""

    identifier: str
    incident_id: str
    sender: str
    sent: datetime
    expires_ts: float | None
    ended: bool
    headline: str
    summary: str
    stored_at: float


class FeedStore:
    """CAP messages of the incidents the feed lists."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def open(self) -> None:
        """Open (and create) the database."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(_SCHEMA)
        self._db = db

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the CAP feed store is not open")
        return self._db

    def put(self, message: StoredMessage, xml: bytes) -> None:
        """Store a message; storing the same identifier again changes nothing."""
        with self._lock:
            self._conn().execute(
                "INSERT OR IGNORE INTO cap_messages (identifier, incident_id, sender, sent, "
                "sent_ts, expires_ts, ended, headline, summary, xml, stored_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (message.identifier, message.incident_id, message.sender, format_time(message.sent),
                 message.sent.timestamp(), message.expires_ts, int(message.ended),
                 message.headline, message.summary, xml, message.stored_at),
            )  # fmt: skip

    def references(self, incident_id: str, *, excluding: str) -> tuple[Reference, ...]:
        """The incident's stored messages (first and latest), oldest first."""
        with self._lock:
            rows = (
                self._conn()
                .execute(
                    "SELECT sender, identifier, sent FROM cap_messages "
                    "WHERE incident_id = ? AND identifier != ? ORDER BY seq",
                    (incident_id, excluding),
                )
                .fetchall()
            )
        chain = [Reference(r["sender"], r["identifier"], parse_time(r["sent"])) for r in rows]
        if len(chain) > MAX_REFERENCES:
            chain = [chain[0], *chain[-(MAX_REFERENCES - 1) :]]
        return tuple(chain)

    def listed(self, now: float, keep_ended_s: float, limit: int) -> list[StoredMessage]:
        """Each listed incident's latest message, newest first."""
        with self._lock:
            rows = (
                self._conn()
                .execute(
                    f"{_LATEST} WHERE (m.ended = 0 OR m.stored_at >= ?) "
                    "AND (m.expires_ts IS NULL OR m.expires_ts > ?) ORDER BY m.sent_ts DESC, m.seq DESC "
                    "LIMIT ?",
                    (now - keep_ended_s, now, limit),
                )
                .fetchall()
            )
        return [
            StoredMessage(
                identifier=r["identifier"], incident_id=r["incident_id"], sender=r["sender"],
                sent=parse_time(r["sent"]), expires_ts=r["expires_ts"], ended=bool(r["ended"]),
                headline=r["headline"], summary=r["summary"], stored_at=r["stored_at"],
            )
            for r in rows
        ]  # fmt: skip

    def message(self, identifier: str) -> bytes | None:
        """The CAP XML of one stored message."""
        with self._lock:
            row = (
                self._conn()
                .execute("SELECT xml FROM cap_messages WHERE identifier = ?", (identifier,))
                .fetchone()
            )
        return None if row is None else bytes(row["xml"])

    def prune(self, now: float, keep_ended_s: float) -> int:
        """Forget incidents that ended long enough ago or whose latest message expired."""
        with self._lock:
            cursor = self._conn().execute(
                "DELETE FROM cap_messages WHERE incident_id IN ("  # noqa: S608 - constant SQL
                f"SELECT m.incident_id FROM ({_LATEST}) m "
                "WHERE (m.ended = 1 AND m.stored_at < ?) OR (m.expires_ts IS NOT NULL AND m.expires_ts <= ?))",
                (now - keep_ended_s, now),
            )
            return cursor.rowcount

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
