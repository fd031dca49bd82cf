"""Jittered, capped exponential backoff ("full jitter")."""

from __future__ import annotations

import random


class Backoff:
    """Delay before the next attempt: uniform in [base/2, min(cap, base * 2**failures)]."""

    def __init__(self, base_s: float, cap_s: float, rng: random.Random | None = None) -> None:
        self._base = base_s
        self._cap = max(cap_s, base_s)
        self._rng = rng or random.Random()
        self.failures = 0

    def next_delay(self) -> float:
        """Record a failure and return how long to wait."""
        ceiling = min(self._cap, self._base * 2**self.failures)
        self.failures = min(self.failures + 1, 32)
        return self._rng.uniform(min(self._base / 2, ceiling), ceiling)

    def reset(self) -> None:
        """A success: the next failure waits about ``base`` again."""
        self.failures = 0
