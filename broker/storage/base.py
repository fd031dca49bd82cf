"""The storage seam: one transaction interface over SQLite and PostgreSQL.

SQL in the adapter is written once with ``?`` placeholders in the subset both
databases speak; a backend translates placeholders and provides the few
dialect-specific pieces (DDL types, row locking, per-output leadership).
Access is synchronous and serialised per connection; async code calls it
through :func:`asyncio.to_thread`.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Literal, Protocol

Dialect = Literal["sqlite", "postgresql"]
Row = tuple[Any, ...]


class Tx(Protocol):
    """An open transaction."""

    dialect: Dialect

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; returns the affected row count."""
        ...

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run a query and return every row."""
        ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each parameter row (one round of driver calls)."""
        ...


class Database(Protocol):
    """A connection to the adapter's database."""

    dialect: Dialect

    def transaction(
        self, *, exclusive: bool = False, durable: bool = True
    ) -> AbstractContextManager[Tx]:
        """A transaction, committed on normal exit and rolled back on an exception.

        ``exclusive`` serialises with every other writer (the audit chain needs
        it): SQLite ``BEGIN IMMEDIATE`` always is; PostgreSQL takes a
        transaction-scoped advisory lock. ``durable=False`` returns from the
        commit before the disk confirms it: a process crash cannot lose it, a
        power cut or database crash can. Use it only where losing the write is
        harmless (a delivery settled twice means one repeated delivery).
        Database errors surface as :class:`broker.errors.StorageError`.
        """
        ...

    def try_lead(self, name: str) -> bool:
        """Hold (or keep holding) the right to deliver output ``name``.

        Several instances may share one PostgreSQL database; only the holder of
        an output's lock delivers it, so its order is never broken. The lock is
        tied to the connection: an instance that dies releases it at once.
        """
        ...

    def leads(self, name: str) -> bool:
        """Whether this connection holds the lock of output ``name`` (cheap, no I/O)."""
        ...

    def close(self) -> None:
        """Close the connection."""
        ...
