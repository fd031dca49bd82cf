"""Alerts on both backends: life cycle, escalation, end noted, id and prefix resolution."""

from __future__ import annotations

import pytest

from broker import alerts
from broker.alerts import AlertState
from broker.errors import AlertNotFoundError, AlertStateError, AmbiguousAlertError
from broker.storage import Database
from events import ActionKind, Event, Phase, Severity, encode
from tests.broker.helpers import make_event


def record(database: Database, event: Event, now: float = 1.0) -> alerts.Alert:
    with database.transaction() as tx:
        return alerts.record_event(tx, event, encode(event).decode(), now)


def test_an_incident_escalates_and_its_end_is_noted(database: Database) -> None:
    start = make_event(severity=Severity.MEDIUM, summary="scuffle")
    update = make_event(incident_id=start.incident_id, phase=Phase.UPDATE,
                        severity=Severity.CRITICAL, summary="fight")  # fmt: skip
    end = make_event(incident_id=start.incident_id, phase=Phase.END, severity=Severity.LOW,
                     summary="")  # fmt: skip
    assert record(database, start).state is AlertState.OPEN
    record(database, update, 2.0)
    alert = record(database, end, 3.0)
    assert alert.severity is Severity.CRITICAL  # never lowered by a later event
    assert alert.ended and alert.state is AlertState.OPEN  # only a person closes it
    assert alert.last_event_id == end.event_id and alert.summary == "fight"
    detail = alerts.detail(database, start.incident_id)
    assert [h.kind for h in detail.history] == ["event", "event", "event", "ended"]
    assert [e["event_id"] for e in detail.events] == [start.event_id, update.event_id,
                                                     end.event_id]  # fmt: skip


def test_resolution_by_incident_event_and_prefix(database: Database) -> None:
    first = make_event(event_id="aaaa1111event", incident_id="inc-aaaa-1")
    second = make_event(event_id="aaaa2222event", incident_id="inc-bbbb-2")
    record(database, first)
    record(database, second)
    with database.transaction() as tx:
        assert alerts.resolve(tx, "inc-aaaa-1").alert.incident_id == "inc-aaaa-1"
        by_event = alerts.resolve(tx, "aaaa2222event")
        assert (by_event.alert.incident_id, by_event.event_id) == ("inc-bbbb-2", second.event_id)
        assert alerts.resolve(tx, "aaaa22").alert.incident_id == "inc-bbbb-2"
        assert alerts.resolve(tx, "inc-b").alert.incident_id == "inc-bbbb-2"
        with pytest.raises(AmbiguousAlertError):
            alerts.resolve(tx, "aaaa")
        with pytest.raises(AlertNotFoundError):
            alerts.resolve(tx, "aaa")  # prefixes need 4+ characters
        with pytest.raises(AlertNotFoundError):
            alerts.resolve(tx, "zzzzzz")


def test_closed_alerts_take_no_more_actions(database: Database) -> None:
    event = make_event()
    alert = record(database, event)
    with database.transaction() as tx:
        acked = alerts.apply(tx, alert, ActionKind.ACKNOWLEDGE, operator="op", channel="api",
                             note="", now=2.0)  # fmt: skip
        assert acked.state is AlertState.ACKNOWLEDGED
        confirmed = alerts.apply(tx, acked, ActionKind.CONFIRM, operator="op", channel="api",
                                 note="real", now=3.0)  # fmt: skip
        assert confirmed.state is AlertState.CONFIRMED
        with pytest.raises(AlertStateError):
            alerts.apply(tx, confirmed, ActionKind.DISMISS, operator="op", channel="api",
                         note="", now=4.0)  # fmt: skip
        with pytest.raises(AlertNotFoundError):
            alerts.resolve(tx, event.incident_id)  # only open or acknowledged alerts resolve
    assert [a.incident_id for a in alerts.list_alerts(database, AlertState.CONFIRMED)] == [
        event.incident_id
    ]
    assert alerts.list_alerts(database, AlertState.OPEN) == []
