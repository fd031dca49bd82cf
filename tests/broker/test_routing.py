"""Routing rules, table-driven: site and category globs, severity, schedules, continue."""

from __future__ import annotations

import pytest

from broker.config import parse_adapter_config
from broker.routing import Router
from events import Severity
from tests.broker.helpers import at, make_event

CONFIG = """
outputs:
  log: {type: log}
  arc: {type: log}
  night: {type: log}
  berlin: {type: log}
routes:
  - name: everything-logged
    outputs: [log]
    continue: true
  - name: urgent-north
    sites: ["north-*"]
    categories: [fight, "call_*"]
    min_severity: high
    outputs: [arc]
  - name: night-noise
    categories: [noise]
    schedule:
      timezone: UTC
      windows:
        - {days: [fri, sat], start: "22:00", end: "06:00"}
    outputs: [night]
    continue: true
  - name: berlin-office-hours
    sites: [berlin]
    schedule:
      timezone: Europe/Berlin
      windows:
        - {days: [mon, tue, wed, thu, fri], start: "09:00", end: "17:00"}
    outputs: [berlin, arc]
  - name: never-reached-for-noise
    categories: [noise]
    outputs: [arc]
"""

# 2026-11-20 is a Friday, 2026-11-21 a Saturday, 2026-11-22 a Sunday.
CASES = [
    # (site, category, severity, occurred_at UTC, expected outputs)
    ("north-1", "fight", Severity.HIGH, "2026-11-18T12:00:00", ("log", "arc")),
    ("north-1", "fight", Severity.MEDIUM, "2026-11-18T12:00:00", ("log",)),
    ("north-1", "call_button", Severity.CRITICAL, "2026-11-18T12:00:00", ("log", "arc")),
    ("south-1", "fight", Severity.CRITICAL, "2026-11-18T12:00:00", ("log",)),
    # Friday 23:00 is inside fri 22:00-06:00; continue: true lets the last rule add arc
    ("x", "noise", Severity.LOW, "2026-11-20T23:00:00", ("log", "night", "arc")),
    # Sunday 03:00 belongs to Saturday's window (it wraps past midnight)
    ("x", "noise", Severity.LOW, "2026-11-22T03:00:00", ("log", "night", "arc")),
    # Friday 03:00 belongs to Thursday's window, and Thursday is not listed
    ("x", "noise", Severity.LOW, "2026-11-20T03:00:00", ("log", "arc")),
    # end is exclusive
    ("x", "noise", Severity.LOW, "2026-11-21T06:00:00", ("log", "arc")),
    # Berlin is UTC+1 in November: 08:30 UTC = 09:30 local, inside; 16:30 UTC = 17:30, outside
    ("berlin", "crowd", Severity.INFO, "2026-11-18T08:30:00", ("log", "berlin", "arc")),
    ("berlin", "crowd", Severity.INFO, "2026-11-18T16:30:00", ("log",)),
    ("berlin", "crowd", Severity.INFO, "2026-11-21T10:00:00", ("log",)),  # Saturday
]


@pytest.mark.parametrize(("site", "category", "severity", "when", "expected"), CASES)
def test_routing_table(
    site: str, category: str, severity: Severity, when: str, expected: tuple[str, ...]
) -> None:
    router = Router(parse_adapter_config(CONFIG).routes)
    event = make_event(site=site, category=category, severity=severity, occurred_at=at(when))
    assert router.route(event).outputs == expected


def test_first_match_wins_without_continue() -> None:
    config = parse_adapter_config(
        """
outputs: {a: {type: log}, b: {type: log}}
routes:
  - {name: first, outputs: [a]}
  - {name: second, outputs: [b]}
"""
    )
    decision = Router(config.routes).route(make_event())
    assert decision.outputs == ("a",)
    assert decision.rules == ("first",)


def test_an_output_named_twice_gets_the_event_once() -> None:
    config = parse_adapter_config(
        """
outputs: {a: {type: log}}
routes:
  - {name: one, outputs: [a], continue: true}
  - {name: two, outputs: [a]}
"""
    )
    decision = Router(config.routes).route(make_event())
    assert decision.outputs == ("a",)
    assert decision.rules == ("one", "two")


def test_unmatched_event_has_no_outputs() -> None:
    config = parse_adapter_config(
        "outputs: {a: {type: log}}\nroutes:\n  - {name: r, categories: [fire], outputs: [a]}\n"
    )
    assert Router(config.routes).route(make_event(category="fight")).outputs == ()
