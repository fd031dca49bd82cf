"""Dedupe by event id: a persistent table of ids seen within the retention window."""

from __future__ import annotations

from broker.storage import Tx


def first_sighting(tx: Tx, event_id: str, now: float) -> bool:
    """Record ``event_id``; False when it was already seen (a duplicate)."""
    inserted = tx.execute(
        "INSERT INTO seen (event_id, seen_at) VALUES (?, ?) ON CONFLICT (event_id) DO NOTHING",
        (event_id, now),
    )
    return inserted == 1


def prune(tx: Tx, older_than: float) -> int:
    """Forget ids seen before ``older_than``; returns how many were dropped."""
    return tx.execute("DELETE FROM seen WHERE seen_at < ?", (older_than,))
