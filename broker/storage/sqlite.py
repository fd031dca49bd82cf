"""SQLite backend (WAL): the default, one adapter instance per database file."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from broker.errors import StorageError
from broker.storage.base import Dialect, Row
from broker.storage.schema import statements

logger = logging.getLogger(__name__)

# Measured on the accept path (random-key index pages of seen/alerts/deliveries):
# the default 1000-page autocheckpoint rewrote the same pages into the database
# file every few batches (8.7 -> 20.7 KB written per event as the tables grew);
# checkpointing every 16384 pages (<= 64 MiB of WAL) and a 64 MiB page cache
# wrote 5 KB per event. The WAL is still checkpointed and truncated on close.
WAL_AUTOCHECKPOINT_PAGES = 16384
CACHE_KIB = 65536


class _SqliteTx:
    dialect: Dialect = "sqlite"

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._connection.execute(sql, tuple(params)).rowcount

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(self._connection.execute(sql, tuple(params)).fetchall())

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._connection.executemany(sql, rows)


class SqliteDatabase:
    """A SQLite file in WAL mode; every transaction is ``BEGIN IMMEDIATE``."""

    dialect: Dialect = "sqlite"

    def __init__(self, path: Path, synchronous: Literal["normal", "full"] = "full") -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._connection = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.execute(f"PRAGMA synchronous={synchronous.upper()}")
            self._connection.execute("PRAGMA foreign_keys=ON")
            self._connection.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
            self._connection.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open SQLite database {path}: {exc}") from exc
        self._lock = threading.RLock()
        self._synchronous: str = synchronous
        self._current_sync: str = synchronous
        with self.transaction() as tx:
            for statement in statements("sqlite"):
                tx.execute(statement)

    @contextmanager
    def transaction(self, *, exclusive: bool = False, durable: bool = True) -> Iterator[_SqliteTx]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (every SQLite write transaction is exclusive).

        ``durable=False`` commits without waiting for the disk (``synchronous=NORMAL``
        for this transaction): still safe against a process crash.
        """
        wanted = self._synchronous if durable else "normal"
        with self._lock:
            try:
                if wanted != self._current_sync:
                    self._connection.execute(f"PRAGMA synchronous={wanted.upper()}")
                    self._current_sync = wanted
                self._connection.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StorageError(f"cannot begin a transaction: {exc}") from exc
            try:
                yield _SqliteTx(self._connection)
            except sqlite3.Error as exc:
                self._rollback()
                raise StorageError(f"SQLite error: {exc}") from exc
            except BaseException:
                self._rollback()
                raise
            try:
                self._connection.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise StorageError(f"commit failed: {exc}") from exc

    def _rollback(self) -> None:
        try:
            self._connection.execute("ROLLBACK")
        except sqlite3.Error:
            logger.debug("rollback after a failed transaction failed too")

    def try_lead(self, name: str) -> bool:
        """Always true: a SQLite file serves one instance."""
        return True

    def leads(self, name: str) -> bool:
        """Always true: a SQLite file serves one instance."""
        return True

    def close(self) -> None:
        """Close the connection (a WAL checkpoint happens on the last close)."""
        with self._lock:
            self._connection.close()
