"""Brute-force protection: a peer with too many failed logins is refused for a while."""

from __future__ import annotations

from collections import OrderedDict, deque
from datetime import datetime, timedelta


class AuthThrottle:
    """Counts failed authentications per peer address in a sliding window.

    After ``max_failures`` failures within ``window`` a peer is locked out for
    ``lockout``: even correct credentials are refused then. At most
    ``max_peers`` addresses are tracked (the least recently failing is
    forgotten first), so a flood of addresses costs bounded memory.
    ``max_failures`` 0 disables the throttle.
    """

    def __init__(
        self,
        max_failures: int = 10,
        *,
        window: timedelta = timedelta(seconds=60),
        lockout: timedelta = timedelta(seconds=60),
        max_peers: int = 10_000,
    ) -> None:
        self._max_failures = max_failures
        self._window = window
        self._lockout = lockout
        self._max_peers = max_peers
        self._failures: OrderedDict[str, deque[datetime]] = OrderedDict()
        self._locked: dict[str, datetime] = {}

    def locked(self, peer: str, now: datetime) -> bool:
        """Whether ``peer`` is locked out right now."""
        until = self._locked.get(peer)
        if until is None:
            return False
        if now >= until:
            del self._locked[peer]
            return False
        return True

    def failed(self, peer: str, now: datetime) -> None:
        """Record a failed authentication of ``peer``."""
        if self._max_failures <= 0:
            return
        times = self._failures.pop(peer, None) or deque()
        times.append(now)
        while times and now - times[0] > self._window:
            times.popleft()
        if len(times) >= self._max_failures:
            self._locked[peer] = now + self._lockout
            times.clear()
        else:
            self._failures[peer] = times
        while len(self._failures) > self._max_peers:
            self._failures.popitem(last=False)
        if len(self._locked) > self._max_peers:
            for stale in [p for p, until in self._locked.items() if until <= now]:
                del self._locked[stale]
