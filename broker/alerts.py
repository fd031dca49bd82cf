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
from dataclasses import dataclass
from typing import Any

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
        "INSERT INTO alert_history (incident_id, at, kind, actor, channel, detail)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (incident, at, kind, actor, channel, json.dumps(detail, sort_keys=True)),
    )


def get(tx: Tx, incident_id: str) -> Alert | None:
    """The alert of ``incident_id``, if any."""
    rows = tx.query(f"SELECT {_COLUMNS} FROM alerts WHERE incident_id = ?", (incident_id,))  # noqa: S608
    return _alert(rows[0]) if rows else None


def record_event(tx: Tx, event: Event, payload: str, now: float) -> Alert:
    """Open or update the alert of the event's incident."""
    current = get(tx, event.incident_id)
    if current is None:
        tx.execute(
            f"INSERT INTO alerts ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
            (
                event.incident_id, event.site, event.agent, event.category,
                event.severity.value, AlertState.OPEN.value, int(event.phase is Phase.END),
                now, now, event.event_id, event.summary,
            ),
        )  # fmt: skip
    else:
        severity = max(current.severity, event.severity, key=lambda s: s.rank)
        tx.execute(
            "UPDATE alerts SET severity = ?, updated_at = ?, last_event_id = ?, summary = ?,"
            " ended = ? WHERE incident_id = ?",
            (
                severity.value, now, event.event_id, event.summary or current.summary,
                int(current.ended or event.phase is Phase.END), event.incident_id,
            ),
        )  # fmt: skip
    tx.execute(
        "INSERT INTO alert_events (event_id, incident_id, received_at, payload) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (event_id) DO NOTHING",
        (event.event_id, event.incident_id, now, payload),
    )
    detail = {
        "event_id": event.event_id,
        "phase": event.phase.value,
        "severity": event.severity.value,
        "confidence": event.confidence,
    }
    _history(tx, event.incident_id, at=now, kind="event", actor=event.agent, channel="mqtt",
             detail=detail)  # fmt: skip
    if event.phase is Phase.END:
        _history(tx, event.incident_id, at=now, kind="ended", actor=event.agent,
                 channel="mqtt", detail=detail)  # fmt: skip
    found = get(tx, event.incident_id)
    assert found is not None
    return found


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
