"""Keep frames at the analysis rate, judged by capture timestamps."""

from __future__ import annotations


class FrameSampler:
    """Decide which frames to keep so that about ``fps`` frames per second pass.

    Frames are kept on a fixed schedule: one slot every ``1/fps`` seconds, so
    the rate does not drift. A frame may fill its slot a little early, by up
    to half the source's own frame period (estimated from the timestamps) and
    at most ``tolerance`` of an interval: arrival jitter then neither skips a
    slot nor doubles one, and the frame nearest the slot is the one kept.
    After a gap longer than an interval the schedule restarts at the next
    frame instead of bursting to catch up.
    """

    def __init__(self, fps: float, tolerance: float = 0.2) -> None:
        if fps <= 0:
            raise ValueError("fps must be positive")
        if not 0 <= tolerance < 1:
            raise ValueError("tolerance must be in [0, 1)")
        self.interval = 1.0 / fps
        self._max_slack = tolerance * self.interval
        self._due: float | None = None
        self._last: float | None = None
        self._period: float | None = None  # smoothed source frame period

    def keep(self, timestamp: float) -> bool:
        """Return whether the frame captured at ``timestamp`` (seconds) is kept."""
        self._observe(timestamp)
        if self._due is None or timestamp >= self._due + self.interval:
            self._due = timestamp + self.interval
            return True
        if timestamp >= self._due - self._slack():
            self._due += self.interval
            return True
        return False

    def _observe(self, timestamp: float) -> None:
        if self._last is not None:
            delta = timestamp - self._last
            if 0 < delta < self.interval:
                self._period = delta if self._period is None else 0.9 * self._period + 0.1 * delta
        self._last = timestamp

    def _slack(self) -> float:
        if self._period is None:
            return self._max_slack
        return min(self._max_slack, 0.5 * self._period)

    def reset(self) -> None:
        """Forget the schedule (the next frame is kept), e.g. after a reconnect."""
        self._due = None
        self._last = None
        self._period = None
