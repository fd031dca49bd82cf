"""Per-camera, per-label score smoothing with hysteresis (pure state, no clock reads)."""

from __future__ import annotations

from dataclasses import dataclass

from edge.fusion.config import SmoothingConfig


@dataclass(slots=True)
class LabelTrack:
    """Smoothed score of one alert label on one camera, and whether it is active.

    Enter: the EMA is at or above ``threshold`` for ``confirm_clips`` clips in a row.
    Leave: the EMA stays below ``threshold - clear_margin`` for ``clear_hold_s``
    (measured in clip time), or no clip arrives for ``stale_after_s`` (see
    :meth:`expire`).
    """

    threshold: float
    config: SmoothingConfig
    ema: float | None = None
    streak: int = 0
    active: bool = False
    below_since: float | None = None
    last_at: float = 0.0
    last_score: float = 0.0

    def update(self, score: float, at: float) -> bool:
        """Feed one clip's score captured at ``at``; return whether the label is active."""
        cfg = self.config
        self.ema = score if self.ema is None else cfg.alpha * score + (1 - cfg.alpha) * self.ema
        self.last_at = at
        self.last_score = score
        if self.ema >= self.threshold:
            self.streak += 1
        else:
            self.streak = 0
        if not self.active:
            if self.streak >= cfg.confirm_clips:
                self.active = True
                self.below_since = None
            return self.active
        if self.ema < self.threshold - cfg.clear_margin:
            if self.below_since is None:
                self.below_since = at
            if at - self.below_since >= cfg.clear_hold_s:
                self._reset()
        else:
            self.below_since = None
        return self.active

    def expire(self, now: float) -> bool:
        """Deactivate when no clip arrived for ``stale_after_s``; return True if it did."""
        if self.active and now - self.last_at >= self.config.stale_after_s:
            self._reset()
            return True
        return False

    @property
    def confidence(self) -> float:
        """The smoothed score, clamped to [0, 1]."""
        return min(1.0, max(0.0, self.ema or 0.0))

    def _reset(self) -> None:
        self.active = False
        self.streak = 0
        self.below_since = None
        self.ema = None
