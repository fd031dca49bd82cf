"""Group commit in the spool: one transaction per batch, per-event outcomes, cheap deletes."""

from __future__ import annotations

import os
import signal
import sqlite3
import struct
import subprocess
import sys
from pathlib import Path

from edge.metrics import DROPS
from edge.outbox import Spool, SpoolError, SpoolFullError, SpoolItem
from events import Severity, decode_event
from tests.edge.test_outbox_spool import event

ROOT = Path(__file__).resolve().parents[2]
WAL_HEADER = 32
FRAME_HEADER = 24


def item(n: int, severity: Severity = Severity.HIGH, source: str = "cam1") -> SpoolItem:
    return SpoolItem(event(n, severity, source), f"t/{n}", captured_at=100.0 + n)


def drops(source: str, reason: str) -> float:
    value: float = DROPS.labels(camera=source, stage="outbox", reason=reason)._value.get()
    return value


def wal_commits(database: Path) -> int:
    """Transactions in the current WAL generation, read from the file SQLite wrote.

    A WAL frame whose "database size after commit" field is non-zero ends a
    transaction; with ``synchronous=FULL`` each one is one fsync of the WAL.
    Frames left from an earlier generation carry other salts and are skipped.
    """
    wal = database.with_name(database.name + "-wal").read_bytes()
    if len(wal) < WAL_HEADER:
        return 0
    page_size = struct.unpack(">I", wal[8:12])[0]
    salts = wal[16:24]
    commits = 0
    offset = WAL_HEADER
    while offset + FRAME_HEADER + page_size <= len(wal):
        header = wal[offset : offset + FRAME_HEADER]
        if header[8:16] != salts:
            break
        if struct.unpack(">I", header[4:8])[0] != 0:
            commits += 1
        offset += FRAME_HEADER + page_size
    return commits


def test_a_batch_is_one_transaction_where_single_appends_are_one_each(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite3"
    spool = Spool(path)
    start = wal_commits(path)
    for n in range(4):
        spool.append(event(n), "t")
    singles = wal_commits(path) - start
    spool.append_many([item(n) for n in range(10, 20)])
    batch = wal_commits(path) - start - singles
    spool.close()
    assert singles == 4
    assert batch == 1


def test_a_batch_survives_a_killed_process_in_order(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite3"
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from edge.outbox import Spool, SpoolItem\n"
        "from tests.edge.test_spool_batch import item\n"
        "spool = Spool(Path(sys.argv[1]))\n"
        "outcomes = spool.append_many([item(n) for n in (5, 3, 9, 1)])\n"
        "print(outcomes, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert done.stdout.strip() == "[1, 2, 3, 4]"

    spool = Spool(path)
    rows = spool.pending(0, 10)
    spool.close()
    assert [r.event_id for r in rows] == [f"evt-{n:08d}" for n in (5, 3, 9, 1)]
    assert [r.seq for r in rows] == [1, 2, 3, 4]
    assert [r.topic for r in rows] == ["t/5", "t/3", "t/9", "t/1"]
    assert [r.captured_at for r in rows] == [105.0, 103.0, 109.0, 101.0]
    assert decode_event(rows[2].payload) == event(9)


def test_duplicates_inside_a_batch_and_against_stored_rows_are_stored_once(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path / "s.sqlite3")
    first = spool.append(event(1), "t/1")
    outcomes = spool.append_many([item(2), item(1), item(3), item(2)])
    two, one, three, two_again = outcomes
    assert one == first and two_again == two
    assert isinstance(two, int) and isinstance(three, int) and first < two < three
    assert spool.backlog() == 3
    assert [r.event_id for r in spool.pending(0, 10)] == [f"evt-{n:08d}" for n in (1, 2, 3)]
    spool.close()


def test_cap_policy_runs_per_event_inside_a_batch(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite3", max_events=3)
    spool.append_many([item(1, Severity.HIGH), item(2, Severity.HIGH)])
    evicted_before = drops("mic7", "spool_full_evicted")
    refused_before = drops("cam7", "spool_full_refused")
    outcomes = spool.append_many(
        [
            item(3, Severity.INFO, "mic7"),  # fills the spool
            item(4, Severity.INFO, "mic7"),  # evicts 3, stored earlier in this batch
            item(3, Severity.INFO, "mic7"),  # 3 again: room is made again, it is new now
            item(5, Severity.CRITICAL),  # evicts 4
            item(6, Severity.LOW, "cam7"),  # everything stored is more severe: refused
            item(5, Severity.CRITICAL),  # a duplicate needs no room
        ]
    )
    assert isinstance(outcomes[0], int) and isinstance(outcomes[1], int)
    assert isinstance(outcomes[2], int) and outcomes[2] > outcomes[1]
    assert isinstance(outcomes[3], int)
    assert isinstance(outcomes[4], SpoolFullError)
    assert outcomes[5] == outcomes[3]
    assert [r.event_id for r in spool.pending(0, 10)] == [
        "evt-00000001",
        "evt-00000002",
        "evt-00000005",
    ]
    assert spool.backlog() == 3
    assert drops("mic7", "spool_full_evicted") == evicted_before + 3
    assert drops("cam7", "spool_full_refused") == refused_before + 1
    spool.close()


def test_a_failing_batch_stores_nothing_and_counts_every_event(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    spool = Spool(path, max_events=10)
    spool.append(event(1), "t")
    other = sqlite3.connect(path)
    other.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON outbox WHEN NEW.event_id = 'evt-00000003'"
        " BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END"
    )
    other.commit()
    before = drops("cam8", "spool_error")
    outcomes = spool.append_many([item(2, source="cam8"), item(3, source="cam8")])
    assert all(isinstance(o, SpoolError) for o in outcomes)
    assert "evt-00000002" in str(outcomes[0]) and "test trigger" in str(outcomes[1])
    assert drops("cam8", "spool_error") == before + 2
    assert [r.event_id for r in spool.pending(0, 10)] == ["evt-00000001"]
    assert spool.backlog() == 1

    other.execute("DROP TRIGGER refuse")
    other.commit()
    other.close()
    assert isinstance(spool.append_many([item(2), item(3)])[1], int)
    assert spool.backlog() == 3
    spool.close()


def test_empty_batch_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    spool = Spool(path)
    start = wal_commits(path)
    assert spool.append_many([]) == []
    assert wal_commits(path) == start
    spool.close()


def test_deletes_commit_without_full_sync_and_appends_keep_it(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    spool = Spool(path)
    seqs = [o for o in spool.append_many([item(n) for n in range(6)]) if isinstance(o, int)]
    spool.delete(seqs[:4])
    # back to FULL (2) for the next append: the batch after a delete is still fsynced
    assert spool._db.execute("PRAGMA synchronous").fetchone()[0] == 2
    spool.append(event(9), "t")
    spool.close()

    reopened = Spool(path)
    assert [r.event_id for r in reopened.pending(0, 10)] == [
        "evt-00000004",
        "evt-00000005",
        "evt-00000009",
    ]
    assert reopened.backlog() == 3
    reopened.close()


def test_normal_spool_stays_normal_after_deletes(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite3", synchronous="normal")
    seq = spool.append(event(1), "t")
    spool.delete([seq])
    assert spool._db.execute("PRAGMA synchronous").fetchone()[0] == 1
    assert spool.backlog() == 0
    spool.close()
