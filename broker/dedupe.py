"""Dedupe by event id: a persistent table of ids seen within the retention window."""

from __future__ import annotations

from collections.abc import Sequence

from broker.storage import Tx

_CHUNK = 500  # ids per lookup, well inside every backend's parameter limit


def first_sighting(tx: Tx, event_id: str, now: float) -> bool:
    """Record ``event_id``; False when it was already seen (a duplicate)."""
    inserted = tx.execute(
        "INSERT INTO seen (event_id, seen_at) VALUES (?, ?) ON CONFLICT (event_id) DO NOTHING",
        (event_id, now),
    )
    return inserted == 1


def first_sightings(tx: Tx, event_ids: Sequence[str], now: float) -> list[bool]:
    """Record a batch of ids; for each, False when it is a duplicate.

    One lookup per chunk of ids and one batched insert instead of a statement
    per id. A repeat within the batch counts as a duplicate of its first
    occurrence. ``tx`` must be exclusive (the accept transaction is), so no
    other writer can record an id between the lookup and the insert.
    """
    known: set[str] = set()
    unique = list(dict.fromkeys(event_ids))
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start : start + _CHUNK]
        marks = ", ".join("?" for _ in chunk)
        rows = tx.query(f"SELECT event_id FROM seen WHERE event_id IN ({marks})", chunk)  # noqa: S608
        known.update(str(row[0]) for row in rows)
    fresh: list[bool] = []
    for event_id in event_ids:
        fresh.append(event_id not in known)
        known.add(event_id)
    tx.executemany(
        "INSERT INTO seen (event_id, seen_at) VALUES (?, ?) ON CONFLICT (event_id) DO NOTHING",
        [(event_id, now) for event_id, new in zip(event_ids, fresh, strict=True) if new],
    )
    return fresh


def prune(tx: Tx, older_than: float) -> int:
    """Forget ids seen before ``older_than``; returns how many were dropped."""
    return tx.execute("DELETE FROM seen WHERE seen_at < ?", (older_than,))
