"""Both storage backends: errors surface as StorageError and roll the whole transaction back."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker import dedupe
from broker.errors import StorageError
from broker.storage import Database
from broker.storage.sqlite import CACHE_KIB, WAL_AUTOCHECKPOINT_PAGES, SqliteDatabase


def test_database_error_is_translated_and_rolled_back(database: Database) -> None:
    with pytest.raises(StorageError):
        with database.transaction() as tx:
            assert dedupe.first_sighting(tx, "event-0001", 1.0)
            tx.execute("INSERT INTO no_such_table VALUES (1)")
    with database.transaction() as tx:
        assert dedupe.first_sighting(tx, "event-0001", 2.0)  # the first insert was undone


def test_other_errors_roll_back_and_pass_through(database: Database) -> None:
    with pytest.raises(KeyError):
        with database.transaction(exclusive=True) as tx:
            dedupe.first_sighting(tx, "event-0002", 1.0)
            raise KeyError("boom")
    with database.transaction() as tx:
        assert dedupe.first_sighting(tx, "event-0002", 1.0)


def test_non_durable_commits_are_visible_and_dedupe_prunes(database: Database) -> None:
    with database.transaction(durable=False) as tx:
        assert dedupe.first_sighting(tx, "event-old", 10.0)
        assert dedupe.first_sighting(tx, "event-new", 100.0)
    with database.transaction() as tx:
        assert not dedupe.first_sighting(tx, "event-old", 200.0)
        assert dedupe.prune(tx, older_than=50.0) == 1
        assert dedupe.first_sighting(tx, "event-old", 200.0)  # forgotten after the window
        assert not dedupe.first_sighting(tx, "event-new", 200.0)


def test_sqlite_checkpoints_rarely_and_caches_generously(tmp_path: Path) -> None:
    database = SqliteDatabase(tmp_path / "adapter.db")
    try:
        with database.transaction() as tx:
            assert tx.query("PRAGMA wal_autocheckpoint")[0][0] == WAL_AUTOCHECKPOINT_PAGES
            assert tx.query("PRAGMA cache_size")[0][0] == -CACHE_KIB
            assert str(tx.query("PRAGMA journal_mode")[0][0]).lower() == "wal"
    finally:
        database.close()
