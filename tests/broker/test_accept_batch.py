"""Batched acceptance gives exactly what accepting the events one at a time gives.

Both backends: dedupe within and across batches, queue order per output, alerts
folded per incident, the audit chain, and cached routing that still judges
schedules per event.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from broker import alerts, audit, dedupe
from broker.config import RouteRule
from broker.core import AcceptResult, AdapterCore
from broker.intake import EventIn
from broker.queue.sql import SqlDeliveryQueue
from broker.routing import Router
from broker.storage import Database, Row
from broker.storage.sqlite import SqliteDatabase
from events import Event, Phase, Severity, encode, new_id
from tests.broker.helpers import at, make_event

ROUTES = [
    RouteRule.model_validate({"name": "all", "outputs": ["a", "b"], "continue": True}),
    RouteRule(name="urgent", min_severity=Severity.CRITICAL, outputs=["c"]),
]


def event_in(event: Event) -> EventIn:
    return EventIn(event, encode(event).decode())


def incident_events() -> list[Event]:
    """Two interleaved incidents: severity rises, a summary goes blank, one ends."""
    first, second = new_id(), new_id()
    return [
        make_event(incident_id=first, severity=Severity.MEDIUM, summary="start"),
        make_event(incident_id=second, severity=Severity.LOW),
        make_event(incident_id=first, phase=Phase.UPDATE, severity=Severity.CRITICAL, summary=""),
        make_event(incident_id=first, phase=Phase.UPDATE, severity=Severity.LOW, summary="later"),
        make_event(incident_id=second, phase=Phase.END, severity=Severity.LOW),
        make_event(incident_id=first, phase=Phase.END, severity=Severity.HIGH),
    ]


def core_for(database: Database) -> AdapterCore:
    return AdapterCore(database=database, queue=SqlDeliveryQueue(database),
                       router=Router(ROUTES), clock=lambda: 1000.0)  # fmt: skip


def tables(database: Database) -> dict[str, list[Row]]:
    """The accept path's rows, without generated ids and audit times/hashes."""
    with database.transaction() as tx:
        return {
            "alerts": tx.query("SELECT * FROM alerts ORDER BY incident_id"),
            "alert_events": tx.query(
                "SELECT event_id, incident_id, received_at, payload FROM alert_events ORDER BY id"
            ),
            "alert_history": tx.query(
                "SELECT incident_id, at, kind, actor, channel, detail FROM alert_history"
                " ORDER BY id"
            ),
            "deliveries": tx.query(
                "SELECT output, event_id, payload, published_at, enqueued_at, state"
                " FROM deliveries ORDER BY seq"
            ),
            "seen": tx.query("SELECT event_id, seen_at FROM seen ORDER BY event_id"),
            "audit": tx.query(
                "SELECT seq, actor, channel, action, subject, details FROM audit ORDER BY seq"
            ),
        }


def test_a_batch_writes_what_one_by_one_writes(database: Database, tmp_path: Path) -> None:
    events = incident_events()
    batched = core_for(database).accept([event_in(event) for event in events])
    single_db = SqliteDatabase(tmp_path / "single.db")
    try:
        single = core_for(single_db)
        one_by_one = [single.accept([event_in(event)])[0] for event in events]
        assert batched == one_by_one
        assert tables(database) == tables(single_db)
    finally:
        single_db.close()
    first = events[0].incident_id
    with database.transaction() as tx:
        alert = alerts.get(tx, first)
    assert alert is not None
    assert (alert.severity, alert.ended, alert.summary) == (Severity.CRITICAL, True, "test")
    assert alert.last_event_id == events[-1].event_id
    assert audit.verify(database).ok


def test_duplicates_within_and_across_batches(database: Database) -> None:
    core = core_for(database)
    old, new = make_event(), make_event()
    assert core.accept([event_in(old)])[0].result is AcceptResult.QUEUED
    results = core.accept([event_in(new), event_in(old), event_in(new)])
    assert [r.result for r in results] == [
        AcceptResult.QUEUED, AcceptResult.DUPLICATE, AcceptResult.DUPLICATE,
    ]  # fmt: skip
    for output in ("a", "b"):
        assert [item.event_id for item in core.queue.pending(output, 10)] == [
            old.event_id, new.event_id,
        ]  # fmt: skip
    with database.transaction() as tx:
        accepted = tx.query("SELECT subject FROM audit WHERE action = 'event.accepted'")
    assert sorted(row[0] for row in accepted) == sorted([old.event_id, new.event_id])


def test_first_sightings_over_many_chunks(database: Database) -> None:
    ids = [f"event-{index:05d}" for index in range(1200)]
    with database.transaction(exclusive=True) as tx:
        assert dedupe.first_sightings(tx, ids[:700], 1.0) == [True] * 700
    with database.transaction(exclusive=True) as tx:
        fresh = dedupe.first_sightings(tx, [*ids[650:], ids[-1]], 2.0)
    assert fresh == [False] * 50 + [True] * 500 + [False]
    with database.transaction() as tx:
        assert tx.query("SELECT COUNT(*) FROM seen")[0][0] == 1200


def test_queue_order_follows_the_batch(database: Database) -> None:
    core = core_for(database)
    events = [make_event(severity=Severity.CRITICAL) for _ in range(30)]
    core.accept([event_in(event) for event in events[:10]])
    core.accept([event_in(event) for event in events[10:]])
    expected = [event.event_id for event in events]
    for output in ("a", "b"):
        assert [item.event_id for item in core.queue.pending(output, 100)] == expected
    assert [item.event_id for item in core.queue.pending("c", 100)] == expected


def test_chain_extend_links_rows_and_matches_the_stdlib_encoding(database: Database) -> None:
    details = {"z": 'ünïcødé \u2028 \x01 "quoted"', "a": [1, 2.5, None, True], "m": {"k": "v"}}
    with database.transaction(exclusive=True) as tx:
        audit.append(tx, actor="op", channel="api", action="first", subject="s0")
        written = audit.Chain(tx).extend(
            [audit.NewEntry("adapter", "mqtt", "event.accepted", f"s{n}", details)
             for n in range(1, 4)]
        )  # fmt: skip
    assert [entry.seq for entry in written] == [2, 3, 4]
    stdlib = json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert all(entry.details == stdlib for entry in written)
    entry = written[0]
    row = [entry.seq, entry.at, entry.actor, entry.channel, entry.action, entry.subject,
           entry.details, entry.prev_hash]  # fmt: skip
    encoded = json.dumps(row, separators=(",", ":"), ensure_ascii=False).encode()
    assert entry.hash == hashlib.sha256(encoded).hexdigest()
    assert written[1].prev_hash == written[0].hash
    result = audit.verify(database)
    assert result.ok and result.rows == 4


def test_cached_routes_still_judge_schedules_per_event() -> None:
    night = RouteRule.model_validate(
        {"name": "night", "outputs": ["night"],
         "schedule": {"windows": [{"start": "22:00", "end": "06:00"}]}}
    )  # fmt: skip
    router = Router([night, RouteRule(name="day", outputs=["day"])])
    late = make_event(occurred_at=at("2026-01-05T23:30:00"))
    noon = make_event(occurred_at=at("2026-01-05T12:00:00"))
    for _ in range(2):  # the second round is served from the cache
        assert router.route(late).outputs == ("night",)
        assert router.route(noon).outputs == ("day",)
    plain = Router([RouteRule(name="fights", categories=["fight"], outputs=["x"])])
    for _ in range(2):
        assert plain.route(make_event()).outputs == ("x",)
        assert plain.route(make_event(category="smoke")).outputs == ()
