"""Fixtures of the adapter tests: storage backends, a PostgreSQL schema per test, receivers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from broker.storage import Database
from broker.storage.postgres import PostgresDatabase
from broker.storage.sqlite import SqliteDatabase
from tests.broker.helpers import Receiver
from tests.support.mosquitto import free_port

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A unique PostgreSQL schema, dropped after the test."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        yield schema
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """Each storage backend in turn (the contract tests run against both)."""
    db: Database
    if request.param == "sqlite":
        db = SqliteDatabase(tmp_path / "adapter.db")
    else:
        db = PostgresDatabase(PG_DSN, request.getfixturevalue("pg_schema"))
    try:
        yield db
    finally:
        db.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP webhook receiver on a free port."""
    server = Receiver(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
