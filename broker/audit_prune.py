"""Prune the oldest prefix of the audit chain behind a recorded anchor.

Only a whole prefix is ever removed: every row before the first row that is
not older than the cut-off. Before anything is deleted the prefix is verified
(pruning must never destroy the evidence of tampering); if it is broken the
prune is refused and the refusal audited. A successful prune, in one exclusive
transaction, deletes the rows, records an :class:`broker.audit.Anchor` (seq and
hash of the last pruned row) in ``audit_anchors`` and appends a checkpoint row
(``audit.pruned``) naming the same anchor, so :func:`broker.audit.verify`
checks the remaining chain from the anchor on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from broker import audit
from broker.storage import Database, Tx

logger = logging.getLogger(__name__)

BATCH_ROWS = 50_000  # rows pruned per transaction (each with its own anchor)
_PAGE = 1000


@dataclass(frozen=True, slots=True)
class AuditPrune:
    """What one prune did: rows removed and the anchor left, or why it refused."""

    rows: int
    anchor: audit.Anchor | None = None
    refused: str = ""  # non-empty when the prefix failed verification


def _prefix(tx: Tx, first: int, last: int) -> Iterator[audit.AuditEntry]:
    after = first - 1
    while after < last:
        rows = tx.query(
            "SELECT seq, at, actor, channel, action, subject, details, prev_hash, hash"
            " FROM audit WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
            (after, last, _PAGE),
        )
        if not rows:
            return
        for row in rows:
            yield audit.AuditEntry(
                int(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]), str(row[5]),
                str(row[6]), str(row[7]), str(row[8]),
            )  # fmt: skip
        after = int(rows[-1][0])


def _prune_batch(
    tx: Tx, cutoff: str, *, actor: str, details: dict[str, object], limit: int
) -> AuditPrune:
    bounds = tx.query("SELECT MIN(seq), MAX(seq) FROM audit")
    if not bounds or bounds[0][0] is None:
        return AuditPrune(0)
    first, tail = int(bounds[0][0]), int(bounds[0][1])
    kept = tx.query("SELECT MIN(seq) FROM audit WHERE at >= ?", (cutoff,))
    last = tail if kept[0][0] is None else int(kept[0][0]) - 1
    last = min(last, first + limit - 1)
    if last < first:
        return AuditPrune(0)
    anchor = audit.latest_anchor(tx)
    checked = audit.check_chain(_prefix(tx, first, last), anchor, confirm_anchor=False)
    if not checked.ok:
        reason = f"row seq={checked.broken_seq}: {checked.reason}"
        audit.append(
            tx, actor=actor, channel="system", action="audit.prune_refused", subject="audit",
            details={**details, "older_than": cutoff, "reason": reason},
        )  # fmt: skip
        return AuditPrune(0, refused=reason)
    last_row = tx.query("SELECT hash, at FROM audit WHERE seq = ?", (last,))
    last_hash, last_at = str(last_row[0][0]), str(last_row[0][1])
    count = tx.execute("DELETE FROM audit WHERE seq <= ?", (last,))
    new_anchor = audit.Anchor(
        seq=last, hash=last_hash, at=last_at, pruned_at=audit.time_text(datetime.now(UTC)),
        rows=count, actor=actor, older_than=cutoff,
    )  # fmt: skip
    tx.execute(
        "INSERT INTO audit_anchors (seq, hash, at, pruned_at, rows, actor, older_than)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (new_anchor.seq, new_anchor.hash, new_anchor.at, new_anchor.pruned_at, new_anchor.rows,
         new_anchor.actor, new_anchor.older_than),
    )  # fmt: skip
    audit.append(
        tx, actor=actor, channel="system", action=audit.CHECKPOINT, subject="audit",
        details={
            **details, "kind": "audit", "count": count, "first_seq": first,
            "anchor_seq": last, "anchor_hash": last_hash, "anchor_at": last_at,
            "older_than": cutoff,
        },
    )  # fmt: skip
    return AuditPrune(count, new_anchor)


def prune_audit(
    database: Database,
    older_than: datetime,
    *,
    actor: str,
    details: dict[str, object] | None = None,
    batch_rows: int = BATCH_ROWS,
) -> list[AuditPrune]:
    """Prune audit rows written before ``older_than``, a prefix per transaction.

    ``details`` is merged into every checkpoint row (e.g. the retention in days
    and the instance). Returns one :class:`AuditPrune` per transaction that
    removed rows or refused; empty when there was nothing to prune.
    """
    cutoff = audit.time_text(older_than)
    done: list[AuditPrune] = []
    while True:
        with database.transaction(exclusive=True) as tx:
            result = _prune_batch(tx, cutoff, actor=actor, details=details or {}, limit=batch_rows)
        if result.refused:
            logger.error("audit log not pruned: the prefix fails verification at %s",
                         result.refused)  # fmt: skip
            done.append(result)
            return done
        if result.rows == 0:
            return done
        logger.info("pruned %d audit row(s) before %s; chain now starts after seq %d",
                    result.rows, cutoff, result.anchor.seq if result.anchor else 0)  # fmt: skip
        done.append(result)
        if result.rows < batch_rows:
            return done
