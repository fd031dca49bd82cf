"""The transparency report: what the adapter did in a period, from its database only.

Sources, so every figure can be checked against the data:

- audit log (kept longest): events received, operator answers by channel,
  deliveries per output, inbound legacy events, retention purges, chain status;
- alert tables: alerts opened, outcomes as of the period's end, time to the
  first answer, and the models behind the suggestions.

Where retention already removed data the report says so (``coverage``) rather
than estimate it. Render with :mod:`broker.report_render`.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from broker import audit
from broker.alerts import AlertState
from broker.retention import PURGED
from broker.storage import Database

DEFAULT_PERIOD = timedelta(days=30)
NO_MODEL = ""  # the model name of sensor, panel and external events

NOT_DONE = (
    "No biometric identification: the system does not identify, recognise or track people.",
    "No face recognition, no gait or voice identification, no licence-plate reading.",
    "The adapter stores no video and no images: it keeps the event records listed here.",
    "Snapshots are taken only on the agent, only at the start of an incident, with the "
    "camera's privacy masks applied, and are deleted by the agent's retention.",
    "Privacy masks are applied on the agent before any analysis; unmasked pixels never "
    "leave the camera's box.",
    "Every alert is a suggestion: only an operator confirms or dismisses it.",
)

_AUDITED = (
    "event.accepted",
    "alert.acknowledge",
    "alert.confirm",
    "alert.dismiss",
    "delivery.delivered",
    "delivery.dead_lettered",
    "delivery.requeued",
    "inbound.published",
    PURGED,
    audit.CHECKPOINT,
)
_PAGE = 1000


@dataclass(frozen=True, slots=True)
class CategoryOutcomes:
    """Operator outcomes of the alerts of one category opened in the period."""

    category: str
    alerts: int
    confirmed: int
    dismissed: int  # dismissed as a false alarm
    acknowledged_only: int
    unanswered: int

    @property
    def false_alarm_share(self) -> float | None:
        """Dismissed among verdicts (confirmed + dismissed); None without verdicts."""
        verdicts = self.confirmed + self.dismissed
        return self.dismissed / verdicts if verdicts else None


@dataclass(frozen=True, slots=True)
class ResponseTimes:
    """Seconds from an alert opening to its first operator answer."""

    answered: int
    median_s: float | None
    p90_s: float | None  # nearest rank


@dataclass(frozen=True, slots=True)
class OutputDeliveries:
    """Deliveries settled for one output in the period."""

    output: str
    delivered: int
    delivered_after_retry: int  # delivered, but not at the first attempt
    retry_attempts: int  # failed attempts before a delivery or dead letter
    dead_lettered: int
    requeued: int  # dead letters an operator put back


@dataclass(frozen=True, slots=True)
class ModelUse:
    """A model version and the suggestions (alert events) it produced."""

    name: str  # NO_MODEL for sensor, panel and external events
    version: str
    events: int
    alerts: int


@dataclass(frozen=True, slots=True)
class PurgeEntry:
    """One retention purge recorded in the audit log."""

    at: str
    kind: str  # alerts, dead_letters, audit
    count: int
    older_than: str
    actor: str


@dataclass(frozen=True, slots=True)
class ChainStatus:
    """The audit chain as verified when the report was made."""

    verified: bool
    rows: int
    anchor_seq: int | None  # the chain starts after this pruned row
    anchor_hash: str | None
    pruned_before: str | None  # rows older than this were pruned
    broken_seq: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class TransparencyReport:
    """Everything the report states, in the order it states it."""

    since: str
    until: str
    generated_at: str
    events: dict[str, dict[str, int]]  # category -> site -> events received
    alerts_opened: int
    outcomes: tuple[CategoryOutcomes, ...]
    response: ResponseTimes
    answers: dict[str, dict[str, int]]  # channel -> acknowledge|confirm|dismiss|refused -> n
    deliveries: tuple[OutputDeliveries, ...]
    inbound: dict[str, int]  # channel (legacy system) -> events published
    models: tuple[ModelUse, ...]
    purges: tuple[PurgeEntry, ...]
    chain: ChainStatus
    coverage: tuple[str, ...]  # what retention removed before this report
    not_done: tuple[str, ...] = NOT_DONE

    @property
    def events_total(self) -> int:
        """Events received in the period."""
        return sum(sum(sites.values()) for sites in self.events.values())


def _audit_rows(database: Database, since: str, until: str) -> Iterator[audit.AuditEntry]:
    marks = ", ".join("?" for _ in _AUDITED)
    after = -1
    while True:
        with database.transaction() as tx:
            rows = tx.query(
                "SELECT seq, at, actor, channel, action, subject, details, prev_hash, hash"  # noqa: S608
                f" FROM audit WHERE seq > ? AND action IN ({marks}) AND at >= ? AND at < ?"
                " ORDER BY seq LIMIT ?",
                (after, *_AUDITED, since, until, _PAGE),
            )
        for row in rows:
            yield audit.AuditEntry(
                int(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]), str(row[5]),
                str(row[6]), str(row[7]), str(row[8]),
            )  # fmt: skip
        if len(rows) < _PAGE:
            return
        after = int(rows[-1][0])


class _AuditTally:
    """Folds audit rows of the period into the report's audit-based figures."""

    def __init__(self) -> None:
        self.events: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.answers: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.deliveries: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.inbound: dict[str, int] = defaultdict(int)
        self.purges: list[PurgeEntry] = []

    def add(self, entry: audit.AuditEntry) -> None:
        details = entry.details_dict()
        kind, _, verb = entry.action.partition(".")
        if entry.action == "event.accepted":
            self.events[str(details.get("category"))][str(details.get("site"))] += 1
        elif kind == "alert":
            self.answers[entry.channel][verb if "to" in details else "refused"] += 1
        elif kind == "delivery":
            self._delivery(verb, details)
        elif entry.action == "inbound.published":
            self.inbound[entry.channel] += 1
        else:  # a purge or an audit prune
            self.purges.append(PurgeEntry(
                entry.at, str(details.get("kind", entry.subject)), int(details.get("count", 0)),
                str(details.get("older_than", "")), entry.actor,
            ))  # fmt: skip

    def _delivery(self, verb: str, details: dict[str, Any]) -> None:
        counts = self.deliveries[str(details.get("output"))]
        attempts = int(details.get("attempts", 1))
        if verb == "requeued":
            counts["requeued"] += 1
            return
        counts["retry_attempts"] += max(attempts - 1, 0)
        if verb == "delivered":
            counts["delivered"] += 1
            counts["delivered_after_retry"] += int(attempts > 1)
        else:
            counts["dead_lettered"] += 1

    def outputs(self) -> tuple[OutputDeliveries, ...]:
        return tuple(
            OutputDeliveries(name, c["delivered"], c["delivered_after_retry"],
                             c["retry_attempts"], c["dead_lettered"], c["requeued"])
            for name, c in sorted(self.deliveries.items())
        )  # fmt: skip


def _nearest_rank(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)), 1) - 1]


def _outcomes(
    database: Database, since: float, until: float
) -> tuple[int, tuple[CategoryOutcomes, ...], ResponseTimes]:
    window = "opened_at >= ? AND opened_at < ?"
    with database.transaction() as tx:
        opened = tx.query(f"SELECT incident_id, category, opened_at FROM alerts WHERE {window}",  # noqa: S608
                          (since, until))  # fmt: skip
        actions = tx.query(
            "SELECT incident_id, at, detail FROM alert_history WHERE kind = 'action' AND at < ?"  # noqa: S608
            f" AND incident_id IN (SELECT incident_id FROM alerts WHERE {window}) ORDER BY id",
            (until, since, until),
        )
    state: dict[str, str] = {}
    first: dict[str, float] = {}
    for incident, at, detail in actions:
        state[str(incident)] = str(json.loads(str(detail))["to"])
        first.setdefault(str(incident), float(at))
    tally: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    waits: list[float] = []
    for incident, category, opened_at in opened:
        outcome = state.get(str(incident), AlertState.OPEN.value)
        tally[str(category)][outcome] += 1
        if str(incident) in first:
            waits.append(max(first[str(incident)] - float(opened_at), 0.0))
    outcomes = tuple(
        CategoryOutcomes(category, sum(c.values()), c[AlertState.CONFIRMED.value],
                         c[AlertState.DISMISSED.value], c[AlertState.ACKNOWLEDGED.value],
                         c[AlertState.OPEN.value])
        for category, c in sorted(tally.items())
    )  # fmt: skip
    response = ResponseTimes(
        len(waits),
        statistics.median(waits) if waits else None,
        _nearest_rank(waits, 0.9) if waits else None,
    )
    return len(opened), outcomes, response


def _models(database: Database, since: float, until: float) -> tuple[ModelUse, ...]:
    events: dict[tuple[str, str], int] = defaultdict(int)
    incidents: dict[tuple[str, str], set[str]] = defaultdict(set)
    after = 0
    while True:
        with database.transaction() as tx:
            rows = tx.query(
                "SELECT id, incident_id, payload FROM alert_events WHERE id > ?"
                " AND received_at >= ? AND received_at < ? ORDER BY id LIMIT ?",
                (after, since, until, _PAGE),
            )
        for _, incident, payload in rows:
            model = json.loads(str(payload)).get("model") or {}
            key = (str(model.get("name", NO_MODEL)), str(model.get("version", "")))
            events[key] += 1
            incidents[key].add(str(incident))
        if len(rows) < _PAGE:
            break
        after = int(rows[-1][0])
    return tuple(ModelUse(name, version, count, len(incidents[(name, version)]))
                 for (name, version), count in sorted(events.items()))  # fmt: skip


def _chain(database: Database) -> ChainStatus:
    result = audit.verify(database)
    anchor = result.anchor
    return ChainStatus(
        verified=result.ok,
        rows=result.rows,
        anchor_seq=anchor.seq if anchor else None,
        anchor_hash=anchor.hash if anchor else None,
        pruned_before=anchor.older_than if anchor else None,
        broken_seq=result.broken_seq,
        reason=result.reason,
    )


def _alert_purge_cutoff(database: Database) -> str | None:
    with database.transaction() as tx:
        rows = tx.query(
            "SELECT details FROM audit WHERE action = ? AND subject = 'alerts'"
            " ORDER BY seq DESC LIMIT 1",
            (PURGED,),
        )
    return str(json.loads(str(rows[0][0]))["older_than"]) if rows else None


def _coverage(database: Database, since: str, chain: ChainStatus) -> tuple[str, ...]:
    notes = []
    if chain.pruned_before is not None and chain.pruned_before > since:
        notes.append(
            f"Audit rows before {chain.pruned_before} were pruned by retention: the figures "
            "taken from the audit log (events, answers, deliveries, inbound events, purges) "
            "start there."
        )
    cutoff = _alert_purge_cutoff(database)
    if cutoff is not None and cutoff > since:
        notes.append(
            f"Closed alerts last changed before {cutoff} were purged by retention: alert "
            "outcomes, response times and models cover only the alerts still held (the purge "
            "counts are listed under retention)."
        )
    return tuple(notes)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def build_report(
    database: Database, since: datetime | None = None, until: datetime | None = None
) -> TransparencyReport:
    """The report for ``[since, until)`` (default: the 30 days up to now; naive times are UTC)."""
    end = _utc(until or datetime.now(UTC))
    start = _utc(since or end - DEFAULT_PERIOD)
    if start >= end:
        raise ValueError(
            f"the period is empty: since {start.isoformat()} >= until {end.isoformat()}"
        )
    since_text, until_text = audit.time_text(start), audit.time_text(end)
    tally = _AuditTally()
    for entry in _audit_rows(database, since_text, until_text):
        tally.add(entry)
    opened, outcomes, response = _outcomes(database, start.timestamp(), end.timestamp())
    chain = _chain(database)
    return TransparencyReport(
        since=since_text,
        until=until_text,
        generated_at=audit.time_text(datetime.now(UTC)),
        events={c: dict(sorted(s.items())) for c, s in sorted(tally.events.items())},
        alerts_opened=opened,
        outcomes=outcomes,
        response=response,
        answers={c: dict(sorted(a.items())) for c, a in sorted(tally.answers.items())},
        deliveries=tally.outputs(),
        inbound=dict(sorted(tally.inbound.items())),
        models=_models(database, start.timestamp(), end.timestamp()),
        purges=tuple(tally.purges),
        chain=chain,
        coverage=_coverage(database, since_text, chain),
    )
