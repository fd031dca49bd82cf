"""Alerts: one per incident that needs review, with its evidence and history.

Life of an alert::

    open --acknowledge--> acknowledged --confirm--> confirmed
      |                        |
      +------confirm/dismiss---+--------dismiss---> dismissed

Confirmed and dismissed alerts are closed: further actions are refused. An
incident's ``end`` event is noted (``ended``) without closing the alert: only
a person closes it. Every event and every action is kept in the history.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from broker.errors import AlertNotFoundError, AlertStateError, AmbiguousAlertError
from broker.storage import Database, Row, Tx
from events import ActionKind, Event, Phase, Severity

MIN_PREFIX = 4  # shortest id prefix accepted (radio handsets send short ids)


class AlertState(enum.StrEnum):
    """Where an alert stands."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"

    @property
    def closed(self) -> bool:
        """Confirmed or dismissed: no further actions apply."""
        return self in {AlertState.CONFIRMED, AlertState.DISMISSED}


_RESULT = {
    ActionKind.ACKNOWLEDGE: AlertState.ACKNOWLEDGED,
    ActionKind.CONFIRM: AlertState.CONFIRMED,
    ActionKind.DISMISS: AlertState.DISMISSED,
}
_ACTIVE = (AlertState.OPEN.value, AlertState.ACKNOWLEDGED.value)
_COLUMNS = (
    "incident_id, site, agent, category, severity, state, ended, opened_at, updated_at,"
    " last_event_id, summary"
)
_CHUNK = 500  # incident ids per lookup
_RANK = {severity: severity.rank for severity in Severity}
_HISTORY_INSERT = (
    "INSERT INTO alert_history (incident_id, at, kind, actor, channel, detail)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_HISTORY_ENCODER = json.JSONEncoder(sort_keys=True)  # == json.dumps(detail, sort_keys=True)
_EVENT_DETAIL = msgspec.json.Encoder(order="sorted")  # per event: JSON too, 15x faster


@dataclass(frozen=True, slots=True)
class Alert:
    """The current state of one alert."""

    incident_id: str
    site: str
    agent: str
    category: str
    severity: Severity
    state: AlertState
    ended: bool
    opened_at: float
    updated_at: float
    last_event_id: str
    summary: str


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """An event or an action in an alert's life."""

    at: float
    kind: str  # event, ended, action
    actor: str
    channel: str
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AlertDetail:
    """An alert with its events (evidence) and history."""

    alert: Alert
    events: list[dict[str, Any]]  # wire JSON of each event, oldest first
    history: list[HistoryEntry]


@dataclass(frozen=True, slots=True)
class Resolved:
    """The alert an operator's reference points at, and the event it names."""

    alert: Alert
    event_id: str


def _alert(row: Row) -> Alert:
    return Alert(
        incident_id=str(row[0]),
        site=str(row[1]),
        agent=str(row[2]),
        category=str(row[3]),
        severity=Severity(row[4]),
        state=AlertState(row[5]),
        ended=bool(row[6]),
        opened_at=float(row[7]),
        updated_at=float(row[8]),
        last_event_id=str(row[9]),
        summary=str(row[10]),
    )


def _history(tx: Tx, incident: str, *, at: float, kind: str, actor: str, channel: str,
             detail: dict[str, Any]) -> None:  # fmt: skip
    tx.execute(
        _HISTORY_INSERT, (incident, at, kind, actor, channel, _HISTORY_ENCODER.encode(detail))
    )


def get(tx: Tx, incident_id: str) -> Alert | None:
    """The alert of ``incident_id``, if any."""
    rows = tx.query(f"SELECT {_COLUMNS} FROM alerts WHERE incident_id = ?", (incident_id,))  # noqa: S608
    return _alert(rows[0]) if rows else None


def record_event(tx: Tx, event: Event, payload: str, now: float) -> Alert:
    """Open or update the alert of the event's incident."""
    record_events(tx, [(event, payload)], now)
    found = get(tx, event.incident_id)
    assert found is not None
    return found


def _current(tx: Tx, incidents: Sequence[str]) -> dict[str, Alert]:
    found: dict[str, Alert] = {}
    for start in range(0, len(incidents), _CHUNK):
        chunk = incidents[start : start + _CHUNK]
        marks = ", ".join("?" for _ in chunk)
        rows = tx.query(f"SELECT {_COLUMNS} FROM alerts WHERE incident_id IN ({marks})", chunk)  # noqa: S608
        found.update((alert.incident_id, alert) for alert in map(_alert, rows))
    return found


def _opened(event: Event, now: float) -> Alert:
    return Alert(
        incident_id=event.incident_id, site=event.site, agent=event.agent,
        category=event.category, severity=event.severity, state=AlertState.OPEN,
        ended=event.phase is Phase.END, opened_at=now, updated_at=now,
        last_event_id=event.event_id, summary=event.summary,
    )  # fmt: skip


def _updated(current: Alert, event: Event, now: float) -> Alert:
    higher = _RANK[event.severity] > _RANK[current.severity]
    return Alert(
        incident_id=current.incident_id, site=current.site, agent=current.agent,
        category=current.category, severity=event.severity if higher else current.severity,
        state=current.state, ended=current.ended or event.phase is Phase.END,
        opened_at=current.opened_at, updated_at=now, last_event_id=event.event_id,
        summary=event.summary or current.summary,
    )  # fmt: skip


def record_events(tx: Tx, items: Sequence[tuple[Event, str]], now: float) -> None:
    """Open or update the alerts of a batch of (event, wire payload), in order.

    The same as :func:`record_event` for each event in turn, with one lookup of
    the incidents and batched writes: the alerts are folded in memory first.
    """
    if not items:
        return
    incidents = list(dict.fromkeys(event.incident_id for event, _ in items))
    alerts = _current(tx, incidents)
    opened: set[str] = set()
    evidence: list[tuple[str, str, float, str]] = []
    history: list[tuple[str, float, str, str, str, str]] = []
    for event, payload in items:
        current = alerts.get(event.incident_id)
        if current is None:
            alerts[event.incident_id] = _opened(event, now)
            opened.add(event.incident_id)
        else:
            alerts[event.incident_id] = _updated(current, event, now)
        evidence.append((event.event_id, event.incident_id, now, payload))
        detail = _EVENT_DETAIL.encode({
            "event_id": event.event_id,
            "phase": event.phase.value,
            "severity": event.severity.value,
            "confidence": event.confidence,
        }).decode()  # fmt: skip
        history.append((event.incident_id, now, "event", event.agent, "mqtt", detail))
        if event.phase is Phase.END:
            history.append((event.incident_id, now, "ended", event.agent, "mqtt", detail))
    touched = [alerts[incident] for incident in incidents]
    tx.executemany(
        f"INSERT INTO alerts ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
        [
            (a.incident_id, a.site, a.agent, a.category, a.severity.value, a.state.value,
             int(a.ended), a.opened_at, a.updated_at, a.last_event_id, a.summary)
            for a in touched if a.incident_id in opened
        ],
    )  # fmt: skip
    tx.executemany(
        "UPDATE alerts SET severity = ?, updated_at = ?, last_event_id = ?, summary = ?,"
        " ended = ? WHERE incident_id = ?",
        [
            (a.severity.value, a.updated_at, a.last_event_id, a.summary, int(a.ended),
             a.incident_id)
            for a in touched if a.incident_id not in opened
        ],
    )  # fmt: skip
    tx.executemany(
        "INSERT INTO alert_events (event_id, incident_id, received_at, payload) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (event_id) DO NOTHING",
        evidence,
    )
    tx.executemany(_HISTORY_INSERT, history)


def resolve(tx: Tx, ref: str) -> Resolved:
    """Find the active alert ``ref`` names: an event id, an incident id or a prefix."""
    placeholders = ", ".join("?" for _ in _ACTIVE)
    active = f"state IN ({placeholders})"
    rows = tx.query(f"SELECT {_COLUMNS} FROM alerts WHERE incident_id = ? AND {active}",  # noqa: S608
                    (ref, *_ACTIVE))  # fmt: skip
    if rows:
        alert = _alert(rows[0])
        return Resolved(alert, alert.last_event_id)
    rows = tx.query(
        "SELECT a.incident_id FROM alert_events e JOIN alerts a ON a.incident_id = e.incident_id"  # noqa: S608
        f" WHERE e.event_id = ? AND a.{active}",
        (ref, *_ACTIVE),
    )
    if rows:
        matched = get(tx, str(rows[0][0]))
        assert matched is not None
        return Resolved(matched, ref)
    if len(ref) < MIN_PREFIX:
        raise AlertNotFoundError(f"no open alert {ref!r} (prefixes need {MIN_PREFIX}+ chars)")
    size = len(ref)
    candidates = {
        str(row[0])
        for row in tx.query(
            f"SELECT incident_id FROM alerts WHERE substr(incident_id, 1, ?) = ? AND {active}"  # noqa: S608
            " UNION SELECT a.incident_id FROM alert_events e JOIN alerts a"
            " ON a.incident_id = e.incident_id"
            f" WHERE substr(e.event_id, 1, ?) = ? AND a.{active}",
            (size, ref, *_ACTIVE, size, ref, *_ACTIVE),
        )
    }
    if not candidates:
        raise AlertNotFoundError(f"no open alert matches {ref!r}")
    if len(candidates) > 1:
        raise AmbiguousAlertError(f"{ref!r} matches {len(candidates)} open alerts")
    chosen = get(tx, candidates.pop())
    assert chosen is not None
    return Resolved(chosen, chosen.last_event_id)


def apply(tx: Tx, alert: Alert, action: ActionKind, *, operator: str, channel: str,
          note: str, now: float) -> Alert:  # fmt: skip
    """Move ``alert`` to the state ``action`` leads to and record it."""
    if alert.state.closed:
        raise AlertStateError(f"alert {alert.incident_id} is already {alert.state.value}")
    state = _RESULT[action]
    tx.execute(
        "UPDATE alerts SET state = ?, updated_at = ? WHERE incident_id = ?",
        (state.value, now, alert.incident_id),
    )
    detail = {"action": action.value, "from": alert.state.value, "to": state.value, "note": note}
    _history(tx, alert.incident_id, at=now, kind="action", actor=operator, channel=channel,
             detail=detail)  # fmt: skip
    found = get(tx, alert.incident_id)
    assert found is not None
    return found


def list_alerts(database: Database, state: AlertState | None, limit: int = 100,
                offset: int = 0) -> list[Alert]:  # fmt: skip
    """Alerts, most recently updated first, optionally of one state."""
    where, params = ("WHERE state = ?", (state.value,)) if state is not None else ("", ())
    with database.transaction() as tx:
        rows = tx.query(
            f"SELECT {_COLUMNS} FROM alerts {where} ORDER BY updated_at DESC LIMIT ? OFFSET ?",  # noqa: S608
            (*params, limit, offset),
        )
    return [_alert(row) for row in rows]


def detail(database: Database, incident_id: str) -> AlertDetail:
    """One alert with its events and history; :class:`AlertNotFoundError` when unknown."""
    with database.transaction() as tx:
        alert = get(tx, incident_id)
        if alert is None:
            raise AlertNotFoundError(f"no alert {incident_id!r}")
        events = tx.query(
            "SELECT payload FROM alert_events WHERE incident_id = ? ORDER BY id",
            (incident_id,),
        )
        history = tx.query(
            "SELECT at, kind, actor, channel, detail FROM alert_history WHERE incident_id = ?"
            " ORDER BY id",
            (incident_id,),
        )
    return AlertDetail(
        alert,
        [json.loads(str(row[0])) for row in events],
        [HistoryEntry(float(r[0]), str(r[1]), str(r[2]), str(r[3]), json.loads(str(r[4])))
         for r in history],
    )  # fmt: skip
