"""PostgreSQL backend (psycopg 3): several adapter instances share one database.

Each instance keeps one connection. Delivery order per output is protected by
a session-level advisory lock per output (:meth:`PostgresDatabase.try_lead`):
the instance holding it delivers, the others stand by, and a crashed
instance's lock vanishes with its connection, so a survivor takes over at once.
(Per-row ``FOR UPDATE SKIP LOCKED`` would let instances skip each other's
locked head and deliver out of order, so the lock is per output instead.)
"""

from __future__ import annotations

import logging
import re
import threading
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql as pgsql

from broker.errors import StorageError
from broker.storage.base import Dialect, Row
from broker.storage.schema import statements

logger = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\?")


def _key(text: str) -> int:
    """A stable signed 32-bit key for an advisory lock."""
    value = zlib.crc32(text.encode())
    return value - (1 << 32) if value >= (1 << 31) else value


class _PostgresTx:
    dialect: Dialect = "postgresql"

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        self._cursor.execute(_PLACEHOLDER.sub("%s", sql), tuple(params))
        return int(self._cursor.rowcount)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        self._cursor.execute(_PLACEHOLDER.sub("%s", sql), tuple(params))
        return [tuple(row) for row in self._cursor.fetchall()]

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:  # psycopg pipelines the rows: one round trip, not one per row
            self._cursor.executemany(_PLACEHOLDER.sub("%s", sql), rows)


class PostgresDatabase:
    """One autocommit connection; transactions are explicit."""

    dialect: Dialect = "postgresql"

    def __init__(
        self, dsn: str, schema: str, application_name: str = "streetsense-adapter"
    ) -> None:
        self._dsn = dsn
        self.schema = schema
        self._application_name = application_name
        self._lock = threading.RLock()
        self._connection: psycopg.Connection[Any] | None = None
        self._held: set[str] = set()
        self._audit_key = _key(f"{schema}:audit")
        with self.transaction(exclusive=True) as tx:  # instances may start together
            for statement in statements("postgresql"):
                tx.execute(statement)

    def _connect(self) -> psycopg.Connection[Any]:
        if self._connection is not None and not self._connection.closed:
            return self._connection
        self._held.clear()  # advisory locks died with the old connection
        try:
            connection = psycopg.connect(
                self._dsn, autocommit=True, application_name=self._application_name
            )
            connection.execute(
                pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(pgsql.Identifier(self.schema))
            )
            connection.execute(
                pgsql.SQL("SET search_path TO {}").format(pgsql.Identifier(self.schema))
            )
        except psycopg.Error as exc:
            raise StorageError(f"cannot connect to PostgreSQL: {exc}") from exc
        self._connection = connection
        return connection

    @contextmanager
    def transaction(
        self, *, exclusive: bool = False, durable: bool = True
    ) -> Iterator[_PostgresTx]:
        """A transaction; ``exclusive`` takes the schema's writer advisory lock.

        ``durable=False`` commits without waiting for the WAL flush
        (``synchronous_commit = off``): a server crash may lose it, never corrupt.
        """
        with self._lock:
            connection = self._connect()
            try:
                with connection.transaction(), connection.cursor() as cursor:
                    if not durable:
                        cursor.execute("SET LOCAL synchronous_commit = off")
                    if exclusive:
                        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (self._audit_key,))
                    yield _PostgresTx(cursor)
            except psycopg.OperationalError as exc:
                connection.close()
                raise StorageError(f"PostgreSQL connection failed: {exc}") from exc
            except psycopg.Error as exc:
                raise StorageError(f"PostgreSQL error: {exc}") from exc

    def try_lead(self, name: str) -> bool:
        """Take output ``name``'s advisory lock unless another instance has it."""
        with self._lock:
            connection = self._connect()
            if name in self._held:
                return True
            try:
                row = connection.execute(
                    "SELECT pg_try_advisory_lock(%s, %s)", (_key(self.schema), _key(name))
                ).fetchone()
            except psycopg.OperationalError as exc:
                connection.close()
                raise StorageError(f"PostgreSQL connection failed: {exc}") from exc
            if row is not None and row[0]:
                self._held.add(name)
                logger.info("this instance now delivers output %s", name)
                return True
            return False

    def leads(self, name: str) -> bool:
        """Whether this instance holds output ``name``'s lock (lock-free, cheap)."""
        connection = self._connection
        return name in self._held and connection is not None and not connection.closed

    def close(self) -> None:
        """Close the connection, releasing every advisory lock."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
            self._held.clear()
