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


def _static_match(rule: RouteRule, site: str, category: str, severity: Severity) -> bool:
    """The part of a match that depends only on site, category and severity."""
    return (
        _matches_any(site, rule.sites)
        and _matches_any(category, rule.categories)
        and _RANK[severity] >= _RANK[rule.min_severity]
    )


def rule_matches(rule: RouteRule, event: Event) -> bool:
    """Whether ``rule`` applies to ``event``."""
    return _static_match(rule, event.site, event.category, event.severity) and (
        rule.schedule is None or in_schedule(rule.schedule, event.occurred_at)
    )


_CACHE_MAX = 4096  # distinct (site, category, severity) keys remembered


class Router:
    """Applies the ordered rules of the config."""

    def __init__(self, rules: Sequence[RouteRule]) -> None:
        self._rules = tuple(rules)
        # the rules whose globs and minimum severity match a key, in order: only
        # their schedules remain to be judged per event
        self._candidates: dict[tuple[str, str, Severity], tuple[RouteRule, ...]] = {}
        self._decisions: dict[tuple[str, str, Severity], RouteDecision] = {}

    def _candidates_of(self, key: tuple[str, str, Severity]) -> tuple[RouteRule, ...]:
        found = self._candidates.get(key)
        if found is None:
            if len(self._candidates) >= _CACHE_MAX:
                self._candidates.clear()
                self._decisions.clear()
            found = tuple(rule for rule in self._rules if _static_match(rule, *key))
            self._candidates[key] = found
        return found

    def route(self, event: Event) -> RouteDecision:
        """The outputs ``event`` goes to (empty when unrouted; the caller counts it)."""
        key = (event.site, event.category, event.severity)
        decided = self._decisions.get(key)
        if decided is not None:
            return decided
        candidates = self._candidates_of(key)
        outputs: dict[str, None] = {}
        names: list[str] = []
        for rule in candidates:
            if rule.schedule is not None and not in_schedule(rule.schedule, event.occurred_at):
                continue
            names.append(rule.name)
            outputs.update(dict.fromkeys(rule.outputs))
            if not rule.continue_:
                break
        decision = RouteDecision(tuple(outputs), tuple(names))
        if all(rule.schedule is None for rule in candidates):
            self._decisions[key] = decision  # no time window: the same for every such event
        return decision


__all__ = ["RouteDecision", "Router", "in_schedule", "rule_matches"]
