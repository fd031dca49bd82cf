"""Storage backends of the adapter (SQLite default, PostgreSQL for several instances)."""

from __future__ import annotations

from broker.config import PostgresStorage, SqliteStorage
from broker.storage.base import Database, Dialect, Row, Tx


def open_database(config: SqliteStorage | PostgresStorage, instance: str = "") -> Database:
    """Open (and create the tables of) the configured database."""
    if isinstance(config, SqliteStorage):
        from broker.storage.sqlite import SqliteDatabase

        return SqliteDatabase(config.path, config.synchronous)
    from broker.storage.postgres import PostgresDatabase

    return PostgresDatabase(
        config.dsn.get_secret_value(),
        config.db_schema,
        application_name=f"streetsense-adapter {instance}".strip()[:63],
    )


__all__ = ["Database", "Dialect", "Row", "Tx", "open_database"]
