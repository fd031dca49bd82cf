"""Tables of the adapter, created idempotently at start-up.

deliveries   the per-output durable queue (pending and dead rows; delivered rows are deleted)
seen         event ids already accepted (dedupe), pruned after the retention window
alerts       one row per incident that needs review, with its state
alert_events every event of an alert (its evidence)
alert_history state changes and operator actions of an alert
audit        append-only, hash-chained audit log
audit_anchors where a pruned audit chain now starts (seq and hash of the last pruned row)
"""

from __future__ import annotations

from broker.storage.base import Dialect


def statements(dialect: Dialect) -> list[str]:
    """``CREATE ... IF NOT EXISTS`` statements for ``dialect``."""
    serial = (
        "INTEGER PRIMARY KEY AUTOINCREMENT"
        if dialect == "sqlite"
        else "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
    )
    real = "DOUBLE PRECISION"
    return [
        f"""CREATE TABLE IF NOT EXISTS deliveries (
            seq {serial},
            output TEXT NOT NULL,
            event_id TEXT NOT NULL,
            payload TEXT NOT NULL,
            published_at {real} NOT NULL,
            enqueued_at {real} NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at {real} NOT NULL,
            last_error TEXT,
            state TEXT NOT NULL DEFAULT 'pending',
            dead_at {real}
        )""",
        "CREATE INDEX IF NOT EXISTS deliveries_head ON deliveries (output, state, seq)",
        f"""CREATE TABLE IF NOT EXISTS seen (
            event_id TEXT PRIMARY KEY,
            seen_at {real} NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS seen_age ON seen (seen_at)",
        f"""CREATE TABLE IF NOT EXISTS alerts (
            incident_id TEXT PRIMARY KEY,
            site TEXT NOT NULL,
            agent TEXT NOT NULL,
            category TEXT NOT NULL,
            severity TEXT NOT NULL,
            state TEXT NOT NULL,
            ended INTEGER NOT NULL DEFAULT 0,
            opened_at {real} NOT NULL,
            updated_at {real} NOT NULL,
            last_event_id TEXT NOT NULL,
            summary TEXT NOT NULL DEFAULT ''
        )""",
        "CREATE INDEX IF NOT EXISTS alerts_state ON alerts (state, updated_at)",
        f"""CREATE TABLE IF NOT EXISTS alert_events (
            id {serial},
            event_id TEXT NOT NULL UNIQUE,
            incident_id TEXT NOT NULL,
            received_at {real} NOT NULL,
            payload TEXT NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS alert_events_incident ON alert_events (incident_id)",
        f"""CREATE TABLE IF NOT EXISTS alert_history (
            id {serial},
            incident_id TEXT NOT NULL,
            at {real} NOT NULL,
            kind TEXT NOT NULL,
            actor TEXT NOT NULL,
            channel TEXT NOT NULL,
            detail TEXT NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS alert_history_incident ON alert_history (incident_id, id)",
        """CREATE TABLE IF NOT EXISTS audit (
            seq BIGINT PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            channel TEXT NOT NULL,
            action TEXT NOT NULL,
            subject TEXT NOT NULL,
            details TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS audit_anchors (
            seq BIGINT PRIMARY KEY,
            hash TEXT NOT NULL,
            at TEXT NOT NULL,
            pruned_at TEXT NOT NULL,
            rows BIGINT NOT NULL,
            actor TEXT NOT NULL,
            older_than TEXT NOT NULL
        )""",
    ]
