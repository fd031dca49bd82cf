"""Append-only, hash-chained audit log and its verification (CLI in :mod:`broker.audit_cli`).

Each row holds ``seq, at, actor, channel, action, subject, details, prev_hash,
hash`` where ``hash = SHA-256(canonical(row without hash))`` and
``prev_hash`` is the previous row's hash (64 zeros for the first row). The
canonical form is the JSON array of the fields in that order, UTF-8, no
whitespace, with ``details`` as its stored canonical JSON text (sorted keys).
Editing, deleting or reordering any row breaks the chain from that row on.

Appends must run in an exclusive transaction
(``database.transaction(exclusive=True)``) so concurrent writers, including
other adapter instances on PostgreSQL, never fork the chain.

Retention may prune a whole prefix of the chain (:mod:`broker.audit_prune`):
the seq and hash of the last pruned row are kept as an :class:`Anchor` in the
``audit_anchors`` table, and a checkpoint row (``audit.pruned``) naming the
same anchor is appended to the chain. Verification then starts at the newest
anchor, and fails unless a checkpoint row in the remaining chain confirms it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Any

from broker.storage import Database, Row, Tx

GENESIS = "0" * 64
CHECKPOINT = "audit.pruned"  # the action of the row recording a pruned prefix
COLUMNS = "seq, at, actor, channel, action, subject, details, prev_hash, hash"
ANCHOR_COLUMNS = "seq, hash, at, pruned_at, rows, actor, older_than"
_INSERT = f"INSERT INTO audit ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
# Built once: the same output as json.dumps with these options, without rebuilding
# an encoder per call (the accept path writes one row per event).
_DETAILS_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_ROW_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One row of the audit log."""

    seq: int
    at: str  # RFC 3339 UTC with milliseconds
    actor: str  # operator name, or "adapter" for the adapter's own records
    channel: str  # api, dc09, tetra, mqtt, system, ...
    action: str  # e.g. event.accepted, delivery.delivered, alert.dismiss
    subject: str  # event id, incident id or output name
    details: str  # canonical JSON object
    prev_hash: str
    hash: str

    def details_dict(self) -> dict[str, Any]:
        """``details`` parsed."""
        parsed: dict[str, Any] = json.loads(self.details)
        return parsed


@dataclass(frozen=True, slots=True)
class NewEntry:
    """A row to append: what :meth:`Chain.append` takes, for :meth:`Chain.extend`."""

    actor: str
    channel: str
    action: str
    subject: str
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where a pruned chain starts: the last pruned row's seq and hash."""

    seq: int
    hash: str
    at: str  # time of the last pruned row
    pruned_at: str
    rows: int  # rows pruned by this prune
    actor: str
    older_than: str  # the cut-off: rows before this time were pruned


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The outcome of checking a chain."""

    ok: bool
    rows: int  # rows checked
    broken_seq: int | None = None
    reason: str = ""
    row: AuditEntry | None = None  # the first broken row, as stored
    anchor: Anchor | None = None  # where the checked chain started (None: from seq 1)


def _flat_text(details: dict[str, Any]) -> str | None:
    """``details`` as the encoder writes it, when every key is a string and every value a
    string or a list of strings (the accept path's rows); None for anything else."""
    parts = []
    for key in sorted(details):
        if type(key) is not str:
            return None
        value = details[key]
        if type(value) is str:
            text = encode_basestring(value)
        elif type(value) is list and all(type(item) is str for item in value):
            text = "[" + ",".join(map(encode_basestring, value)) + "]"
        else:
            return None
        parts.append(encode_basestring(key) + ":" + text)
    return "{" + ",".join(parts) + "}"


def canonical_details(details: dict[str, Any]) -> str:
    """The stored JSON text of ``details``: ``json.dumps`` with sorted keys, no spaces,
    UTF-8 (a flat dict of strings is written directly, with the same escaping)."""
    flat = _flat_text(details)
    return flat if flat is not None else _DETAILS_ENCODER.encode(details)


def row_hash(
    *,
    seq: int,
    at: str,
    actor: str,
    channel: str,
    action: str,
    subject: str,
    details: str,
    prev_hash: str,
) -> str:
    """SHA-256 over the canonical encoding of a row (including ``prev_hash``).

    The encoding is the JSON array ``json.dumps`` writes without spaces and without
    ASCII escaping; it is built here from the same string escaper.
    """
    texts = (at, actor, channel, action, subject, details, prev_hash)
    if type(seq) is int and all(type(text) is str for text in texts):
        encoded = f"[{seq},{','.join(map(encode_basestring, texts))}]"
    else:
        encoded = _ROW_ENCODER.encode([seq, *texts])
    return hashlib.sha256(encoded.encode()).hexdigest()


def time_text(moment: datetime) -> str:
    """``moment`` as the audit log writes times (RFC 3339 UTC, milliseconds, ``Z``).

    Texts in this form sort like the times they name, so ranges compare as text.
    """
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _now_text() -> str:
    return time_text(datetime.now(UTC))


class Chain:
    """Appends rows within one exclusive transaction, reading the chain's tail once."""

    def __init__(self, tx: Tx) -> None:
        self._tx = tx
        last = tx.query("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
        if last:
            self._seq, self._hash = int(last[0][0]), str(last[0][1])
        else:  # empty: a new log, or one pruned to nothing (continue after its anchor)
            anchor = latest_anchor(tx)
            self._seq, self._hash = (anchor.seq, anchor.hash) if anchor else (0, GENESIS)

    def append(
        self,
        *,
        actor: str,
        channel: str,
        action: str,
        subject: str,
        details: dict[str, Any] | None = None,
    ) -> AuditEntry:
        """Append one row after the last one."""
        return self.extend([NewEntry(actor, channel, action, subject, details or {})])[0]

    def extend(self, entries: Sequence[NewEntry]) -> list[AuditEntry]:
        """Append rows in order, each chained to the one before, with one batched insert.

        The rows of one call share one timestamp (they are one transaction).
        """
        at = _now_text()
        seq, prev_hash = self._seq, self._hash
        written: list[AuditEntry] = []
        for entry in entries:
            seq += 1
            text = canonical_details(entry.details)
            digest = row_hash(
                seq=seq, at=at, actor=entry.actor, channel=entry.channel, action=entry.action,
                subject=entry.subject, details=text, prev_hash=prev_hash,
            )  # fmt: skip
            written.append(
                AuditEntry(
                    seq,
                    at,
                    entry.actor,
                    entry.channel,
                    entry.action,
                    entry.subject,
                    text,
                    prev_hash,
                    digest,
                )
            )
            prev_hash = digest
        self._tx.executemany(
            _INSERT,
            [(e.seq, e.at, e.actor, e.channel, e.action, e.subject, e.details, e.prev_hash, e.hash)
             for e in written],
        )  # fmt: skip
        self._seq, self._hash = seq, prev_hash
        return written


def append(
    tx: Tx,
    *,
    actor: str,
    channel: str,
    action: str,
    subject: str,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one row; ``tx`` must be exclusive (see the module docstring)."""
    return Chain(tx).append(
        actor=actor, channel=channel, action=action, subject=subject, details=details
    )


def entry_from_row(row: Row) -> AuditEntry:
    """An audit row as selected with :data:`COLUMNS`."""
    return AuditEntry(
        int(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]), str(row[5]),
        str(row[6]), str(row[7]), str(row[8]),
    )  # fmt: skip


def page(database: Database, *, after: int = 0, limit: int = 100) -> list[AuditEntry]:
    """Rows with ``seq > after``, oldest first."""
    with database.transaction() as tx:
        rows = tx.query(
            f"SELECT {COLUMNS} FROM audit WHERE seq > ? ORDER BY seq LIMIT ?",  # noqa: S608
            (after, limit),
        )
    return [entry_from_row(row) for row in rows]


def anchor_from_row(row: Row) -> Anchor:
    """An anchor row as selected with :data:`ANCHOR_COLUMNS`."""
    return Anchor(int(row[0]), str(row[1]), str(row[2]), str(row[3]), int(row[4]), str(row[5]),
                  str(row[6]))  # fmt: skip


def latest_anchor(tx: Tx) -> Anchor | None:
    """The newest anchor (the chain starts after it), if the log was ever pruned."""
    rows = tx.query(f"SELECT {ANCHOR_COLUMNS} FROM audit_anchors ORDER BY seq DESC LIMIT 1")  # noqa: S608
    return anchor_from_row(rows[0]) if rows else None


def _confirms(entry: AuditEntry, anchor: Anchor) -> bool:
    if entry.action != CHECKPOINT:
        return False
    try:
        details = entry.details_dict()
    except ValueError:
        return False
    return details.get("anchor_seq") == anchor.seq and details.get("anchor_hash") == anchor.hash


def check_chain(
    entries: Iterator[AuditEntry], anchor: Anchor | None = None, *, confirm_anchor: bool = True
) -> VerifyResult:
    """Verify sequence numbers, links and hashes of rows given in order.

    With an ``anchor`` the chain starts right after it (``seq = anchor.seq + 1``,
    ``prev_hash = anchor.hash``) and, unless ``confirm_anchor`` is false (checking
    only a prefix), a checkpoint row must confirm the anchor.
    """
    prev_hash, expected_seq, count = GENESIS, 1, 0
    confirmed = anchor is None or not confirm_anchor
    if anchor is not None:
        prev_hash, expected_seq = anchor.hash, anchor.seq + 1
    for entry in entries:
        count += 1
        if entry.seq != expected_seq:
            return VerifyResult(
                False, count, entry.seq, f"expected seq {expected_seq}", entry, anchor
            )
        if entry.prev_hash != prev_hash:
            return VerifyResult(
                False, count, entry.seq, "prev_hash does not match the row before", entry, anchor
            )
        digest = row_hash(
            seq=entry.seq, at=entry.at, actor=entry.actor, channel=entry.channel,
            action=entry.action, subject=entry.subject, details=entry.details,
            prev_hash=entry.prev_hash,
        )  # fmt: skip
        if digest != entry.hash:
            return VerifyResult(
                False, count, entry.seq, "hash does not match the row's content", entry, anchor
            )
        confirmed = confirmed or (anchor is not None and _confirms(entry, anchor))
        prev_hash, expected_seq = entry.hash, expected_seq + 1
    if not confirmed:
        assert anchor is not None
        return VerifyResult(
            False, count, anchor.seq, "no checkpoint row confirms the anchor", anchor=anchor
        )
    return VerifyResult(True, count, anchor=anchor)


def _iterate(database: Database, batch: int = 1000) -> Iterator[AuditEntry]:
    after = 0
    while True:
        rows = page(database, after=after, limit=batch)
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1].seq


def verify(database: Database) -> VerifyResult:
    """Verify the whole chain in ``database`` (from its newest anchor, if pruned)."""
    with database.transaction() as tx:
        anchor = latest_anchor(tx)
    return check_chain(_iterate(database), anchor)
