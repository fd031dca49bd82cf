"""The SQLite spool: order, durability across reopen, idempotency, cap policy, dead letters."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.metrics import DROPS
from edge.outbox import Spool, SpoolFullError
from events import Event, Phase, Severity, Source, SourceKind, decode_event

AT = datetime(2026, 1, 1, tzinfo=UTC)


def event(n: int, severity: Severity = Severity.HIGH, source: str = "cam1") -> Event:
    return Event(
        event_id=f"evt-{n:08d}",
        incident_id="inc-00000001",
        phase=Phase.START,
        site="s",
        agent="a",
        source=Source(kind=SourceKind.CAMERA, id=source),
        category="fight",
        severity=severity,
        confidence=0.9,
        occurred_at=AT,
        published_at=AT,
    )


def drops(source: str, reason: str) -> float:
    value: float = DROPS.labels(camera=source, stage="outbox", reason=reason)._value.get()
    return value


def test_rows_come_back_in_order_and_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite3"
    spool = Spool(path)
    seqs = [spool.append(event(n), f"t/{n}", captured_at=100.0 + n) for n in range(5)]
    assert seqs == sorted(seqs)
    spool.delete(seqs[:2])
    spool.close()

    reopened = Spool(path)
    rows = reopened.pending(0, 10)
    assert [r.event_id for r in rows] == [f"evt-{n:08d}" for n in (2, 3, 4)]
    assert rows[0].topic == "t/2" and rows[0].captured_at == 102.0
    assert decode_event(rows[0].payload) == event(2)
    assert reopened.backlog() == 3
    assert [r.seq for r in reopened.pending(rows[0].seq, 1)] == [rows[1].seq]
    reopened.close()


def test_same_event_id_is_stored_once(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite3")
    first = spool.append(event(1), "t")
    assert spool.append(event(1), "t") == first
    assert spool.backlog() == 1
    spool.close()


def test_oldest_age_and_backlog(tmp_path: Path) -> None:
    now = [1000.0]
    spool = Spool(tmp_path / "s.sqlite3", clock=lambda: now[0])
    assert spool.oldest_enqueued_at() is None
    spool.append(event(1), "t")
    now[0] = 1005.0
    spool.append(event(2), "t")
    assert spool.oldest_enqueued_at() == 1000.0
    spool.close()


def test_cap_evicts_oldest_lowest_severity_and_counts_it(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite3", max_events=3)
    spool.append(event(1, Severity.HIGH), "t")
    spool.append(event(2, Severity.INFO, source="mic1"), "t")
    spool.append(event(3, Severity.INFO, source="mic1"), "t")
    before = drops("mic1", "spool_full_evicted")
    spool.append(event(4, Severity.MEDIUM), "t")
    assert drops("mic1", "spool_full_evicted") == before + 1
    assert [r.event_id for r in spool.pending(0, 10)] == [
        "evt-00000001",
        "evt-00000003",
        "evt-00000004",
    ]
    assert spool.backlog() == 3
    spool.close()


def test_cap_refuses_an_event_less_severe_than_everything_stored(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite3", max_events=2)
    spool.append(event(1, Severity.CRITICAL), "t")
    spool.append(event(2, Severity.HIGH), "t")
    before = drops("cam9", "spool_full_refused")
    with pytest.raises(SpoolFullError, match="refused"):
        spool.append(event(3, Severity.LOW, source="cam9"), "t")
    assert drops("cam9", "spool_full_refused") == before + 1
    assert spool.backlog() == 2
    spool.close()


def test_dead_letter_keeps_the_event_out_of_the_queue(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite3")
    seq = spool.append(event(1), "t")
    spool.append(event(2), "t")
    spool.dead_letter(seq, "Not authorized")
    assert [r.event_id for r in spool.pending(0, 10)] == ["evt-00000002"]
    assert spool.dead_letters() == 1 and spool.backlog() == 1
    spool.close()


def test_unwritable_location_is_a_clear_error(tmp_path: Path) -> None:
    from edge.outbox import SpoolError

    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(SpoolError, match="cannot open outbox spool"):
        Spool(blocker / "spool.sqlite3")
