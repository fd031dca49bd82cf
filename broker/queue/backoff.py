"""Jittered, capped exponential backoff between delivery attempts."""

from __future__ import annotations

import random

from broker.config import RetryPolicy


def retry_delay(policy: RetryPolicy, attempts: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt (1-based).

    The ceiling doubles per attempt from ``base_s`` up to ``cap_s``; the delay
    is drawn uniformly from the upper half of it ("equal jitter"), so many
    outputs failing together do not retry in lockstep, yet no retry comes
    sooner than half the ceiling.
    """
    exponent = min(max(attempts - 1, 0), 62)
    ceiling = min(policy.cap_s, policy.base_s * (2.0**exponent))
    draw = (rng or random).uniform(0.5, 1.0)
    return ceiling * draw
