"""Jittered, capped exponential backoff for reconnect loops."""

from __future__ import annotations

import random


class Backoff:
    """Delays from ``minimum`` doubling to ``maximum``, each drawn uniformly below its ceiling.

    Full jitter (uniform between ``minimum`` and the current ceiling) keeps many
    cameras behind one switch from reconnecting in lockstep.
    """

    def __init__(self, minimum: float, maximum: float, rng: random.Random | None = None) -> None:
        if not 0 < minimum <= maximum:
            raise ValueError("need 0 < minimum <= maximum")
        self.minimum = minimum
        self.maximum = maximum
        self.attempt = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        """Return the delay before the next attempt and advance."""
        ceiling = min(self.maximum, self.minimum * 2.0 ** min(self.attempt, 32))
        self.attempt += 1
        return self._rng.uniform(self.minimum, ceiling)

    def reset(self) -> None:
        """Start again from the minimum (after a connection that worked)."""
        self.attempt = 0
