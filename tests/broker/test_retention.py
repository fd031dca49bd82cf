"""Retention on both backends: closed alerts, dead letters, audit prefixes behind anchors."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from broker import alerts, audit, retention
from broker.audit_prune import prune_audit
from broker.config import RetentionConfig, parse_adapter_config
from broker.main import Adapter
from broker.queue.base import ItemState
from broker.queue.sql import SqlDeliveryQueue
from broker.storage import Database
from broker.storage.sqlite import SqliteDatabase
from events import ActionKind, Event, Phase, encode
from streetsense.cli import main
from tests.broker.helpers import eventually, make_event
from tests.support.mosquitto import Mosquitto

DAY = 86_400.0
T0 = 1_700_000_000.0  # when the scripted history starts
POLICY = RetentionConfig(closed_alerts_days=90, dead_letters_days=30, audit_days=400)


def open_alert(database: Database, event: Event, now: float) -> None:
    with database.transaction() as tx:
        alerts.record_event(tx, event, encode(event).decode(), now)


def act(database: Database, incident: str, *actions: ActionKind, now: float) -> None:
    with database.transaction() as tx:
        for action in actions:
            alert = alerts.get(tx, incident)
            assert alert is not None
            alerts.apply(tx, alert, action, operator="op", channel="api", note="", now=now)


def count(database: Database, table: str, incident: str) -> int:
    with database.transaction() as tx:
        return int(tx.query(f"SELECT COUNT(*) FROM {table} WHERE incident_id = ?",
                            (incident,))[0][0])  # fmt: skip


def purge_rows(database: Database) -> list[audit.AuditEntry]:
    return [e for e in audit.page(database, limit=1000) if e.action == retention.PURGED]


def fill(database: Database, rows: int, label: str = "row") -> None:
    for index in range(rows):
        with database.transaction(exclusive=True) as tx:
            audit.append(tx, actor="alice", channel="api", action="alert.dismiss",
                         subject=f"{label}-{index}", details={"n": index})  # fmt: skip


def test_closed_alerts_go_after_their_retention_open_ones_never(database: Database) -> None:
    confirmed, dismissed, unanswered, acked, recent = (make_event() for _ in range(5))
    ended = make_event(incident_id=acked.incident_id, phase=Phase.END)
    for event in (confirmed, dismissed, unanswered, acked, recent):
        open_alert(database, event, T0)
    open_alert(database, ended, T0 + 60)
    act(database, confirmed.incident_id, ActionKind.ACKNOWLEDGE, ActionKind.CONFIRM, now=T0 + 5)
    act(database, dismissed.incident_id, ActionKind.DISMISS, now=T0 + 6)
    act(database, acked.incident_id, ActionKind.ACKNOWLEDGE, now=T0 + 7)
    act(database, recent.incident_id, ActionKind.CONFIRM, now=T0 + 80 * DAY)

    result = retention.sweep(database, POLICY, now=T0 + 91 * DAY, instance="i1")

    assert result.count("alerts") == 2 and not result.refused
    for gone in (confirmed, dismissed):
        assert [count(database, t, gone.incident_id)
                for t in ("alerts", "alert_events", "alert_history")] == [0, 0, 0]  # fmt: skip
    kept = {alert.incident_id: alert for alert in alerts.list_alerts(database, None)}
    with database.transaction() as tx:
        assert tx.query("SELECT COUNT(*) FROM alert_events")[0][0] == 4
    assert set(kept) == {unanswered.incident_id, acked.incident_id, recent.incident_id}
    assert kept[acked.incident_id].ended  # ended but never closed by a person: kept
    (row,) = purge_rows(database)
    assert row.subject == "alerts" and row.channel == "system" and row.actor == "adapter"
    assert row.details_dict() == {
        "kind": "alerts", "count": 2, "events": 2, "history": 5,
        "by_state": {"confirmed": 1, "dismissed": 1}, "by_category": {"fight": 2},
        "older_than": "2023-11-15T22:13:20.000Z", "retention_days": 90.0, "instance": "i1",
    }  # fmt: skip
    assert audit.verify(database).ok

    # far in the future the open and acknowledged alerts are still there
    later = retention.sweep(database, POLICY, now=T0 + 300 * DAY)
    assert later.count("alerts") == 1  # only the recently confirmed one
    remaining = {alert.incident_id for alert in alerts.list_alerts(database, None)}
    assert remaining == {unanswered.incident_id, acked.incident_id}


def test_old_dead_letters_go_pending_deliveries_stay(database: Database) -> None:
    queue = SqlDeliveryQueue(database)
    events = [make_event() for _ in range(4)]
    with database.transaction() as tx:
        for event in events:
            queue.enqueue(tx, output="arc", event_id=event.event_id,
                          payload=encode(event).decode(), published_at=T0, now=T0)  # fmt: skip
    items = queue.pending("arc", 10)
    with database.transaction() as tx:
        queue.dead_letter(tx, items[0], "refused", T0)
        queue.dead_letter(tx, items[1], "refused", T0 + 20 * DAY)
    result = retention.sweep(database, POLICY, now=T0 + 40 * DAY)
    assert result.count("dead_letters") == 1
    assert [item.seq for item in queue.dead_letters("arc", 10, 0)] == [items[1].seq]
    assert [item.seq for item in queue.pending("arc", 10)] == [i.seq for i in items[2:]]
    assert all(item.state is ItemState.PENDING for item in queue.pending("arc", 10))
    (row,) = purge_rows(database)
    assert row.details_dict()["by_output"] == {"arc": 1}
    assert row.details_dict()["older_than"] == "2023-11-24T22:13:20.000Z"
    assert retention.sweep(database, POLICY, now=T0 + 40 * DAY).purges == ()  # idempotent


def cut_between(database: Database, before: int) -> datetime:
    """The time of row ``before``: rows written earlier fall before the cut."""
    (row,) = audit.page(database, after=before - 1, limit=1)
    return datetime.fromisoformat(row.at)


def test_audit_prefix_pruned_behind_an_anchor_still_verifies(database: Database) -> None:
    fill(database, 5, "old")
    time.sleep(0.01)  # the next rows get a later millisecond than the pruned ones
    fill(database, 3, "new")
    pruned = prune_audit(database, cut_between(database, 6), actor="adapter",
                         details={"retention_days": 400})  # fmt: skip
    assert [(p.rows, p.anchor.seq if p.anchor else None) for p in pruned] == [(5, 5)]
    assert [e.seq for e in audit.page(database)] == [6, 7, 8, 9]
    result = audit.verify(database)
    assert result.ok and result.rows == 4
    assert result.anchor is not None and result.anchor.seq == 5 and result.anchor.rows == 5
    checkpoint = audit.page(database, after=8)[0]
    assert checkpoint.action == audit.CHECKPOINT
    details = checkpoint.details_dict()
    assert (details["anchor_seq"], details["count"], details["first_seq"]) == (5, 5, 1)
    assert details["anchor_hash"] == result.anchor.hash and details["kind"] == "audit"

    fill(database, 2, "after")  # the chain goes on from the checkpoint
    assert audit.verify(database).ok and audit.verify(database).rows == 6
    with database.transaction() as tx:
        tx.execute("UPDATE audit SET details = '{\"n\":99}' WHERE seq = 7")
    broken = audit.verify(database)
    assert not broken.ok and broken.broken_seq == 7 and "hash" in broken.reason


def test_a_forged_anchor_without_its_checkpoint_is_detected(database: Database) -> None:
    fill(database, 5, "old")
    time.sleep(0.01)
    fill(database, 3, "new")
    prune_audit(database, cut_between(database, 4), actor="adapter")
    assert audit.verify(database).ok
    # delete two more rows and plant an anchor that hides the gap
    with database.transaction() as tx:
        hash6 = str(tx.query("SELECT hash FROM audit WHERE seq = 6")[0][0])
        tx.execute("DELETE FROM audit WHERE seq <= 6")
        tx.execute(
            "INSERT INTO audit_anchors (seq, hash, at, pruned_at, rows, actor, older_than)"
            " VALUES (6, ?, 'x', 'x', 2, 'mallory', 'x')",
            (hash6,),
        )
    result = audit.verify(database)
    assert not result.ok and result.reason == "no checkpoint row confirms the anchor"


def test_a_broken_prefix_is_not_pruned_and_the_refusal_audited(database: Database) -> None:
    fill(database, 4)
    with database.transaction() as tx:
        tx.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 2")
    result = retention.sweep(database, POLICY, now=time.time() + 500 * DAY)
    assert result.refused and "seq=2" in result.refused[0]
    entries = audit.page(database)
    assert [e.seq for e in entries][:4] == [1, 2, 3, 4]  # the evidence is still there
    assert entries[-1].action == "audit.prune_refused"
    assert "seq=2" in entries[-1].details_dict()["reason"]


def test_pruning_everything_leaves_a_chain_that_continues(database: Database) -> None:
    fill(database, 3)
    result = retention.sweep(database, POLICY, now=time.time() + 401 * DAY)
    assert result.count("audit") == 3
    fill(database, 2, "later")
    entries = audit.page(database)
    assert [e.seq for e in entries] == [4, 5, 6]
    assert entries[0].action == audit.CHECKPOINT
    verified = audit.verify(database)
    assert verified.ok and verified.rows == 3 and verified.anchor is not None
    assert verified.anchor.seq == 3


def test_verify_command_reports_the_anchor(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    path = tmp_path / "adapter.db"
    database = SqliteDatabase(path)
    try:
        fill(database, 4)
        time.sleep(0.01)
        fill(database, 2, "new")
        prune_audit(database, cut_between(database, 5), actor="adapter")
    finally:
        database.close()
    assert main(["broker", "audit-verify", "--db", str(path)]) == 0
    out = capsys.readouterr().out
    assert "3 rows, chain intact" in out and "starts after anchor seq=4" in out
    connection = sqlite3.connect(path)
    connection.execute("UPDATE audit SET subject = 'other' WHERE seq = 6")
    connection.commit()
    connection.close()
    assert main(["broker", "audit-verify", "--db", str(path)]) == 1
    assert "BROKEN at row seq=6" in capsys.readouterr().out


def test_retention_config_defaults_and_checks() -> None:
    config = parse_adapter_config("mqtt: {port: 1883}\n")
    assert config.retention == RetentionConfig()
    assert (config.retention.closed_alerts_days, config.retention.dead_letters_days,
            config.retention.audit_days) == (90.0, 30.0, 400.0)  # fmt: skip
    with pytest.raises(ValidationError, match="audit_days must be at least"):
        RetentionConfig(closed_alerts_days=100, audit_days=50)
    with pytest.raises(ValidationError):
        RetentionConfig(interval_s=0)


async def test_the_adapter_sweeps_periodically(tmp_path: Path, mosquitto: Mosquitto) -> None:
    path = tmp_path / "adapter.db"
    seed = SqliteDatabase(path)
    event = make_event()
    try:
        open_alert(seed, event, T0)
        act(seed, event.incident_id, ActionKind.DISMISS, now=T0 + 1)
    finally:
        seed.close()
    config = parse_adapter_config(f"""
mqtt: {{port: {mosquitto.port}, client_id: sweeper}}
storage: {{kind: sqlite, path: {path}}}
api: {{enabled: false}}
retention: {{interval_s: 1, closed_alerts_days: 1, audit_days: 400}}
""")
    async with Adapter(config) as adapter:
        db = adapter.core.database
        await eventually(lambda: not alerts.list_alerts(db, None), 30, "closed alert purged")
        await eventually(lambda: bool(purge_rows(db)), 30, "purge audited")
        assert purge_rows(db)[0].details_dict()["instance"] == "sweeper"


def test_a_second_prune_moves_the_anchor(database: Database) -> None:
    fill(database, 3, "first")
    time.sleep(0.01)
    fill(database, 3, "second")
    prune_audit(database, cut_between(database, 4), actor="adapter")  # rows 1-3
    time.sleep(0.01)
    fill(database, 2, "third")
    second = prune_audit(database, cut_between(database, 8), actor="adapter")  # rows 4-7
    assert [(p.rows, p.anchor.seq if p.anchor else None) for p in second] == [(4, 7)]
    result = audit.verify(database)
    assert result.ok and result.anchor is not None and result.anchor.seq == 7
    assert [e.seq for e in audit.page(database)] == [8, 9, 10]
    with database.transaction() as tx:
        assert [int(r[0]) for r in tx.query("SELECT seq FROM audit_anchors ORDER BY seq")] == [3, 7]


def test_retention_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "adapter.db"
    database = SqliteDatabase(path)
    event = make_event()
    try:
        open_alert(database, event, T0)
        act(database, event.incident_id, ActionKind.DISMISS, now=T0 + 1)
    finally:
        database.close()
    config = tmp_path / "adapter.yaml"
    config.write_text(f"storage: {{kind: sqlite, path: {path}}}\n", encoding="utf-8")
    assert main(["broker", "retention", "--config", str(config)]) == 0
    assert "purged 1 alerts older than" in capsys.readouterr().out
    assert main(["broker", "retention", "--config", str(config)]) == 0
    assert "nothing to purge" in capsys.readouterr().out
    database = SqliteDatabase(path)
    try:
        (row,) = purge_rows(database)
        assert row.actor.startswith("cli:")
    finally:
        database.close()
    config.write_text(f"storage: {{kind: sqlite, path: {tmp_path / 'none.db'}}}\n",
                      encoding="utf-8")  # fmt: skip
    assert main(["broker", "retention", "--config", str(config)]) == 2
    assert not (tmp_path / "none.db").exists()
