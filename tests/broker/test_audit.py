"""The hash-chained audit log: appends verify, and any tampering is detected."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from broker import audit
from broker.storage import Database
from broker.storage.postgres import PostgresDatabase
from broker.storage.sqlite import SqliteDatabase
from streetsense.cli import main
from tests.broker.conftest import PG_DSN


def fill(database: Database, rows: int = 5) -> None:
    for index in range(rows):
        with database.transaction(exclusive=True) as tx:
            audit.append(
                tx, actor="alice", channel="api", action="alert.dismiss",
                subject=f"incident-{index}", details={"note": f"false alarm {index}", "n": index},
            )  # fmt: skip


def test_chain_verifies_on_both_backends(database: Database) -> None:
    fill(database)
    result = audit.verify(database)
    assert result.ok and result.rows == 5
    entries = audit.page(database, after=2, limit=2)
    assert [entry.seq for entry in entries] == [3, 4]
    assert entries[0].prev_hash == audit.page(database, after=1, limit=1)[0].hash
    assert entries[0].details_dict() == {"n": 2, "note": "false alarm 2"}


def test_tampering_is_detected_on_both_backends(database: Database) -> None:
    fill(database)
    with database.transaction() as tx:
        tx.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 3")
    result = audit.verify(database)
    assert not result.ok
    assert result.broken_seq == 3
    assert "hash" in result.reason


@pytest.fixture
def audit_db(tmp_path: Path) -> Path:
    path = tmp_path / "audit.db"
    database = SqliteDatabase(path)
    fill(database)
    database.close()
    return path


def test_verify_command_accepts_an_intact_log(
    audit_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["broker", "audit-verify", "--db", str(audit_db)]) == 0
    assert "5 rows, chain intact" in capsys.readouterr().out


def edit(path: Path, statement: str) -> None:
    connection = sqlite3.connect(path)
    connection.execute(statement)
    connection.commit()
    connection.close()


@pytest.mark.parametrize(
    ("statement", "broken_seq"),
    [
        ('UPDATE audit SET details = \'{"note":"real incident"}\' WHERE seq = 2', 2),
        ("DELETE FROM audit WHERE seq = 4", 5),
        ("UPDATE audit SET seq = 99 WHERE seq = 5", 99),
        ("UPDATE audit SET prev_hash = hash WHERE seq = 1", 1),
    ],
)
def test_verify_command_finds_the_first_broken_row(
    audit_db: Path, statement: str, broken_seq: int, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(audit_db, statement)
    assert main(["broker", "audit-verify", "--db", str(audit_db)]) == 1
    out = capsys.readouterr().out
    assert f"BROKEN at row seq={broken_seq}" in out
    assert "action=alert.dismiss" in out  # the broken row itself is shown


def test_rehashing_a_row_still_breaks_the_next_link(audit_db: Path) -> None:
    connection = sqlite3.connect(audit_db)
    seq, at, actor, channel, action, subject, _, prev = connection.execute(
        "SELECT seq, at, actor, channel, action, subject, details, prev_hash FROM audit"
        " WHERE seq = 2"
    ).fetchone()
    forged = audit.canonical_details({"note": "nothing happened"})
    digest = audit.row_hash(seq=seq, at=at, actor=actor, channel=channel, action=action,
                            subject=subject, details=forged, prev_hash=prev)  # fmt: skip
    connection.execute("UPDATE audit SET details = ?, hash = ? WHERE seq = 2", (forged, digest))
    connection.commit()
    connection.close()
    database = SqliteDatabase(audit_db)
    try:
        result = audit.verify(database)
    finally:
        database.close()
    assert not result.ok and result.broken_seq == 3


def test_verify_command_reports_a_missing_file(tmp_path: Path) -> None:
    assert main(["broker", "audit-verify", "--db", str(tmp_path / "none.db")]) == 2


def test_verify_command_on_postgresql(pg_schema: str, capsys: pytest.CaptureFixture[str]) -> None:
    database = PostgresDatabase(PG_DSN, pg_schema)
    try:
        fill(database, rows=3)
        target = f"{PG_DSN}#{pg_schema}"
        assert main(["broker", "audit-verify", "--db", target]) == 0
        assert "3 rows, chain intact" in capsys.readouterr().out
        with database.transaction() as tx:
            tx.execute("UPDATE audit SET subject = 'other' WHERE seq = 2")
        assert main(["broker", "audit-verify", "--db", target]) == 1
        assert "BROKEN at row seq=2" in capsys.readouterr().out
    finally:
        database.close()
