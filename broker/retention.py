"""Retention: purge closed alerts, old dead letters and the oldest audit rows.

Kinds and their rules (days from :class:`broker.config.RetentionConfig`):

alerts        confirmed or dismissed alerts whose last change is older than
              ``closed_alerts_days``, with their events (evidence) and history.
              Open and acknowledged alerts are never purged, ended or not:
              only a person closes an alert.
dead_letters  dead-lettered deliveries older than ``dead_letters_days``.
audit         a prefix of the hash chain older than ``audit_days``, behind a
              recorded anchor (:mod:`broker.audit_prune`).

Every purge appends a ``retention.purged`` audit row (kind, counts, cut-off)
in the same transaction as the deletion. Dedupe ids keep their own window
(``dedupe_window_s``, pruned by the adapter's housekeeping). The sweep runs
at start and every ``interval_s`` in the adapter (:func:`run_periodically`)
and on demand (:func:`sweep`, ``streetsense broker retention --config FILE``).
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import sys
import time
from collections import Counter as Tally
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import Counter

from broker import audit
from broker.alerts import AlertState
from broker.audit_prune import prune_audit
from broker.config import RetentionConfig, SqliteStorage, load_adapter_config
from broker.errors import StorageError
from broker.storage import Database, Tx, open_database
from streetsense.configfile import ConfigError

logger = logging.getLogger(__name__)

PURGED = "retention.purged"  # the action of a purge's audit row
DAY_S = 86_400.0
BATCH_ALERTS = 500  # alerts purged per transaction
_CLOSED = (AlertState.CONFIRMED.value, AlertState.DISMISSED.value)

PURGED_TOTAL = Counter(
    "streetsense_adapter_retention_purged_total",
    "Records removed by retention, by kind (alerts, alert_events, dead_letters, audit).",
    ["kind"],
)
SWEEP_FAILURES = Counter(
    "streetsense_adapter_retention_failures_total",
    "Retention sweeps that failed or were refused, by reason.",
    ["reason"],
)


@dataclass(frozen=True, slots=True)
class Purge:
    """One audited purge: the kind, how many records, and the cut-off."""

    kind: str  # alerts, dead_letters, audit
    count: int
    older_than: str  # RFC 3339 UTC: records older than this went
    detail: dict[str, Any] = field(default_factory=dict)  # as written to the audit row


@dataclass(frozen=True, slots=True)
class SweepResult:
    """Everything one sweep purged, and any refusal (a broken audit prefix)."""

    purges: tuple[Purge, ...]
    refused: tuple[str, ...] = ()

    def count(self, kind: str) -> int:
        """Records of ``kind`` purged."""
        return sum(purge.count for purge in self.purges if purge.kind == kind)


def _cutoff(now: float, days: float) -> tuple[float, str]:
    moment = now - days * DAY_S
    return moment, audit.time_text(datetime.fromtimestamp(moment, UTC))


def _audit_purge(tx: Tx, actor: str, purge: Purge) -> None:
    audit.append(tx, actor=actor, channel="system", action=PURGED, subject=purge.kind,
                 details=purge.detail)  # fmt: skip


def _purge_alert_batch(
    tx: Tx, older_than: float, *, cutoff: str, days: float, actor: str, instance: str
) -> Purge | None:
    rows = tx.query(
        "SELECT incident_id, category, state FROM alerts WHERE state IN (?, ?)"
        " AND updated_at < ? ORDER BY updated_at LIMIT ?",
        (*_CLOSED, older_than, BATCH_ALERTS),
    )
    if not rows:
        return None
    ids = [str(row[0]) for row in rows]
    marks = ", ".join("?" for _ in ids)
    events = tx.execute(f"DELETE FROM alert_events WHERE incident_id IN ({marks})", ids)  # noqa: S608
    history = tx.execute(f"DELETE FROM alert_history WHERE incident_id IN ({marks})", ids)  # noqa: S608
    count = tx.execute(f"DELETE FROM alerts WHERE incident_id IN ({marks})", ids)  # noqa: S608
    purge = Purge(
        "alerts",
        count,
        cutoff,
        {
            "kind": "alerts", "count": count, "events": events, "history": history,
            "by_state": dict(sorted(Tally(str(row[2]) for row in rows).items())),
            "by_category": dict(sorted(Tally(str(row[1]) for row in rows).items())),
            "older_than": cutoff, "retention_days": days, "instance": instance,
        },
    )  # fmt: skip
    _audit_purge(tx, actor, purge)
    PURGED_TOTAL.labels("alerts").inc(count)
    PURGED_TOTAL.labels("alert_events").inc(events)
    return purge


def purge_closed_alerts(
    database: Database, days: float, *, now: float, actor: str = "adapter", instance: str = ""
) -> list[Purge]:
    """Purge confirmed/dismissed alerts unchanged for ``days``; one purge per batch."""
    older_than, cutoff = _cutoff(now, days)
    done: list[Purge] = []
    while True:
        with database.transaction(exclusive=True) as tx:
            purge = _purge_alert_batch(
                tx, older_than, cutoff=cutoff, days=days, actor=actor, instance=instance
            )
        if purge is None:
            return done
        done.append(purge)
        if purge.count < BATCH_ALERTS:
            return done


def purge_dead_letters(
    database: Database, days: float, *, now: float, actor: str = "adapter", instance: str = ""
) -> Purge | None:
    """Delete dead letters older than ``days`` (pending deliveries are never touched)."""
    older_than, cutoff = _cutoff(now, days)
    where = "state = 'dead' AND dead_at < ?"
    with database.transaction(exclusive=True) as tx:
        rows = tx.query(
            f"SELECT output, COUNT(*) FROM deliveries WHERE {where} GROUP BY output",  # noqa: S608
            (older_than,),
        )
        if not rows:
            return None
        count = tx.execute(f"DELETE FROM deliveries WHERE {where}", (older_than,))  # noqa: S608
        purge = Purge(
            "dead_letters",
            count,
            cutoff,
            {
                "kind": "dead_letters", "count": count,
                "by_output": {str(row[0]): int(row[1]) for row in sorted(rows)},
                "older_than": cutoff, "retention_days": days, "instance": instance,
            },
        )  # fmt: skip
        _audit_purge(tx, actor, purge)
    PURGED_TOTAL.labels("dead_letters").inc(count)
    return purge


def sweep(
    database: Database,
    policy: RetentionConfig,
    *,
    now: float | None = None,
    actor: str = "adapter",
    instance: str = "",
) -> SweepResult:
    """Apply every retention rule once; ``now`` defaults to the current time."""
    moment = time.time() if now is None else now
    purges = purge_closed_alerts(
        database, policy.closed_alerts_days, now=moment, actor=actor, instance=instance
    )
    dead = purge_dead_letters(
        database, policy.dead_letters_days, now=moment, actor=actor, instance=instance
    )
    if dead is not None:
        purges.append(dead)
    refused: list[str] = []
    pruned = prune_audit(
        database,
        datetime.fromtimestamp(moment - policy.audit_days * DAY_S, UTC),
        actor=actor,
        details={"retention_days": policy.audit_days, "instance": instance},
    )
    for prune in pruned:
        if prune.refused:
            refused.append(f"audit: {prune.refused}")
            SWEEP_FAILURES.labels("audit_chain_broken").inc()
        elif prune.anchor is not None:
            PURGED_TOTAL.labels("audit").inc(prune.rows)
            purges.append(Purge("audit", prune.rows, prune.anchor.older_than,
                                {"anchor_seq": prune.anchor.seq}))  # fmt: skip
    for purge in purges:
        logger.info("retention: purged %d %s older than %s", purge.count, purge.kind,
                    purge.older_than)  # fmt: skip
    return SweepResult(tuple(purges), tuple(refused))


async def run_periodically(
    database: Database,
    policy: RetentionConfig,
    *,
    actor: str = "adapter",
    instance: str = "",
    clock: Callable[[], float] = time.time,
) -> None:
    """Sweep now and then every ``policy.interval_s`` until cancelled; never raises."""
    while True:
        try:
            await asyncio.to_thread(
                sweep, database, policy, now=clock(), actor=actor, instance=instance
            )
        except Exception:  # a failed sweep is retried next interval, never fatal
            SWEEP_FAILURES.labels("error").inc()
            logger.exception("retention sweep failed; retrying in %.0fs", policy.interval_s)
        await asyncio.sleep(policy.interval_s)


def retention_command(config_path: Path) -> int:
    """``streetsense broker retention --config FILE``: sweep once now; 2 on a bad config or db."""
    try:
        config = load_adapter_config(config_path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if isinstance(config.storage, SqliteStorage) and not config.storage.path.is_file():
        print(f"retention: no such database file: {config.storage.path}", file=sys.stderr)
        return 2
    try:
        database = open_database(config.storage, "retention")
        try:
            result = sweep(database, config.retention, actor=f"cli:{getpass.getuser()}",
                           instance=config.mqtt.client_id)  # fmt: skip
        finally:
            database.close()
    except StorageError as exc:
        print(f"retention: {exc}", file=sys.stderr)
        return 2
    for purge in result.purges:
        print(f"purged {purge.count} {purge.kind} older than {purge.older_than}")
    if not result.purges:
        print("nothing to purge")
    for refusal in result.refused:
        print(f"REFUSED {refusal}")
    return 1 if result.refused else 0
