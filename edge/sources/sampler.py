"""Keep frames at the analysis rate, judged by capture timestamps."""

from __future__ import annotations


class FrameSampler:
    """Decide which frames to keep so that about ``fps`` frames per second pass.

    Frames are kept on a fixed schedule (one slot every ``1/fps`` seconds). A
    frame is kept when it arrives no earlier than ``tolerance`` of an interval
    before its slot, so timestamp jitter neither skips a slot nor doubles one.
    After a gap longer than an interval the schedule restarts at the next frame
    instead of bursting to catch up.
    """

    def __init__(self, fps: float, tolerance: float = 0.2) -> None:
        if fps <= 0:
            raise ValueError("fps must be positive")
        if not 0 <= tolerance < 1:
            raise ValueError("tolerance must be in [0, 1)")
        self.interval = 1.0 / fps
        self._slack = tolerance * self.interval
        self._due: float | None = None

    def keep(self, timestamp: float) -> bool:
        """Return whether the frame captured at ``timestamp`` (seconds) is kept."""
        if self._due is None or timestamp >= self._due + self.interval:
            self._due = timestamp + self.interval
            return True
        if timestamp >= self._due - self._slack:
            self._due += self.interval
            return True
        return False

    def reset(self) -> None:
        """Forget the schedule (the next frame is kept), e.g. after a reconnect."""
        self._due = None
