"""``streetsense broker audit-verify``: check the audit chain without writing to it.

A SQLite file is opened read-only (a running adapter keeps writing to it); a
PostgreSQL DSN goes through the adapter's own storage layer.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

from broker import audit
from broker.audit import (
    ANCHOR_COLUMNS,
    COLUMNS,
    Anchor,
    AuditEntry,
    anchor_from_row,
    entry_from_row,
)
from broker.errors import StorageError


def _sqlite_readonly_anchor(path: Path) -> Anchor | None:
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        if not connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_anchors'"
        ).fetchall():
            return None  # a database from before retention existed
        rows = connection.execute(
            f"SELECT {ANCHOR_COLUMNS} FROM audit_anchors ORDER BY seq DESC LIMIT 1"  # noqa: S608
        ).fetchall()
        return anchor_from_row(rows[0]) if rows else None
    finally:
        connection.close()


def _iterate_sqlite_readonly(path: Path, batch: int = 1000) -> Iterator[AuditEntry]:
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        after = 0
        while True:
            rows = connection.execute(
                f"SELECT {COLUMNS} FROM audit WHERE seq > ? ORDER BY seq LIMIT ?",  # noqa: S608
                (after, batch),
            ).fetchall()
            yield from (entry_from_row(row) for row in rows)
            if len(rows) < batch:
                return
            after = int(rows[-1][0])
    finally:
        connection.close()


def verify_command(db: str) -> int:
    """``streetsense broker audit-verify --db DB``: 0 when the chain holds, 1 when broken.

    ``db`` is a SQLite file (opened read-only) or a PostgreSQL DSN
    (``postgresql://...``), optionally followed by ``#schema`` (default
    ``streetsense``).
    """
    try:
        if db.startswith(("postgresql://", "postgres://")) or "host=" in db:
            from broker.storage.postgres import PostgresDatabase

            dsn, _, schema = db.partition("#")
            database = PostgresDatabase(dsn, schema or "streetsense")
            try:
                result = audit.verify(database)
            finally:
                database.close()
        else:
            path = Path(db)
            if not path.is_file():
                print(f"audit-verify: no such database file: {db}", file=sys.stderr)
                return 2
            result = audit.check_chain(
                _iterate_sqlite_readonly(path), _sqlite_readonly_anchor(path)
            )
    except (StorageError, sqlite3.Error) as exc:
        print(f"audit-verify: cannot read the audit log: {exc}", file=sys.stderr)
        return 2
    if result.ok:
        print(f"audit log OK: {result.rows} rows, chain intact")
        if result.anchor is not None:
            anchor = result.anchor
            print(
                f"  starts after anchor seq={anchor.seq} hash={anchor.hash} "
                f"(rows before {anchor.older_than} pruned at {anchor.pruned_at} by {anchor.actor})"
            )
        return 0
    print(f"audit log BROKEN at row seq={result.broken_seq}: {result.reason}")
    if result.row is not None:
        row = result.row
        print(
            f"  at={row.at} actor={row.actor} channel={row.channel} action={row.action} "
            f"subject={row.subject} details={row.details} prev_hash={row.prev_hash} "
            f"hash={row.hash}"
        )
    return 1
