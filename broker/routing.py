"""Route events to named outputs by rules from the config.

Rules are tried in order. The first rule that matches decides, unless it sets
``continue: true``: then its outputs are kept and later rules are tried too
(so "everything to the log, and critical to the ARC as well" is two rules, the
first with ``continue: true``). An output named by several matching rules gets
the event once. An event no rule matches is counted in ``UNROUTED``.

Time windows are judged on the event's ``occurred_at`` in the rule's time
zone, so an event replayed after an outage is routed as it would have been
when it happened.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from broker.config import WEEKDAYS, RouteRule, Schedule, TimeWindow
from events import Event, Severity

_RANK = {severity: index for index, severity in enumerate(Severity)}


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """Where an event goes and which rules sent it there."""

    outputs: tuple[str, ...]
    rules: tuple[str, ...]


def _in_window(window: TimeWindow, local: datetime) -> bool:
    clock = local.time().replace(tzinfo=None)
    today = WEEKDAYS[local.weekday()]
    yesterday = WEEKDAYS[(local - timedelta(days=1)).weekday()]
    if window.start == window.end:  # the whole day
        return today in window.days
    if window.start < window.end:
        return today in window.days and window.start <= clock < window.end
    # wraps past midnight: the part before midnight belongs to the start day
    return (today in window.days and clock >= window.start) or (
        yesterday in window.days and clock < window.end
    )


def in_schedule(schedule: Schedule, moment: datetime) -> bool:
    """Whether an aware ``moment`` falls inside any window of ``schedule``."""
    local = moment.astimezone(ZoneInfo(schedule.timezone))
    return any(_in_window(window, local) for window in schedule.windows)


def _matches_any(value: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns)


def rule_matches(rule: RouteRule, event: Event) -> bool:
    """Whether ``rule`` applies to ``event``."""
    return (
        _matches_any(event.site, rule.sites)
        and _matches_any(event.category, rule.categories)
        and _RANK[event.severity] >= _RANK[rule.min_severity]
        and (rule.schedule is None or in_schedule(rule.schedule, event.occurred_at))
    )


class Router:
    """Applies the ordered rules of the config."""

    def __init__(self, rules: Sequence[RouteRule]) -> None:
        self._rules = tuple(rules)

    def route(self, event: Event) -> RouteDecision:
        """The outputs ``event`` goes to (empty when unrouted; the caller counts it)."""
        outputs: dict[str, None] = {}
        names: list[str] = []
        for rule in self._rules:
            if not rule_matches(rule, event):
                continue
            names.append(rule.name)
            outputs.update(dict.fromkeys(rule.outputs))
            if not rule.continue_:
                break
        return RouteDecision(tuple(outputs), tuple(names))


__all__ = ["RouteDecision", "Router", "in_schedule", "rule_matches"]
