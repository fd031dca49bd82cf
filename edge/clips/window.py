"""Sliding windows over one camera's sampled frames (or their features), with gap detection.

A window of ``size`` items is emitted every ``stride`` pushes once ``size`` items
are buffered. Gaps are judged by capture time, not by ``seq`` (a reader restarts
``seq`` when it reconnects): consecutive items more than ``gap_factor`` sample
intervals apart mean ``round(dt / interval) - 1`` sampled frames are missing,
counted as ``DROPS{stage="clip", reason="gap"}``. A window missing more than
``max_missing`` frames inside it is not emitted (``reason="gap_in_window"``). An
item captured before the previous one (a wall-clock step) restarts the window
(``reason="out_of_order"``), so a clock set back does not stall analysis.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, replace
from itertools import islice
from typing import Generic, Protocol, TypeVar

from edge.clips.config import ClipConfig
from edge.metrics import DROPS
from edge.values import Clip, PreparedFrame
from models.card import InputSpec

logger = logging.getLogger(__name__)


class Timed(Protocol):
    """Anything stamped with the capture time of its frame."""

    @property
    def captured_at(self) -> float:
        """Wall-clock capture time in seconds."""
        ...


ItemT = TypeVar("ItemT", bound=Timed)


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """Window geometry and gap tolerance."""

    size: int  # T, items per window
    stride: int  # pushes between window starts
    interval_s: float  # expected time between sampled frames
    gap_factor: float = 1.5
    max_missing: int = 1

    def __post_init__(self) -> None:
        if self.size < 1 or self.stride < 1 or self.interval_s <= 0 or self.gap_factor <= 1:
            raise ValueError(f"invalid window spec {self}")

    def for_interval(self, interval_s: float | None) -> WindowSpec:
        """This spec judging gaps against a camera's own sampling interval, when it has one."""
        return self if interval_s is None else replace(self, interval_s=interval_s)

    @classmethod
    def from_card(cls, spec: InputSpec, config: ClipConfig | None = None) -> WindowSpec:
        """Window spec from a card's input spec, with the agent's clip overrides."""
        config = config or ClipConfig()
        return cls(
            size=spec.frames,
            stride=config.stride_frames or spec.clip_stride_frames,
            interval_s=1.0 / spec.sample_fps,
            gap_factor=config.gap_factor,
            max_missing=config.max_missing_frames,
        )


class Windower(Generic[ItemT]):
    """Ring buffer of one camera's last ``size`` items; not thread-safe (one owner)."""

    def __init__(self, camera: str, spec: WindowSpec) -> None:
        self.camera = camera
        self.spec = spec
        self._items: deque[ItemT] = deque(maxlen=spec.size)
        self._missing_before: deque[int] = deque(maxlen=spec.size)
        self._pushed = 0
        self._last_at: float | None = None

    def push(self, item: ItemT) -> tuple[ItemT, ...] | None:
        """Add the next item; returns a complete window when one is due and clean."""
        missing = 0
        if self._last_at is not None:
            elapsed = item.captured_at - self._last_at
            if elapsed < 0:
                # a reader delivers in order, so this is a clock step: start afresh
                DROPS.labels(camera=self.camera, stage="clip", reason="out_of_order").inc()
                logger.warning(
                    "camera %s: capture time went back %.3f s, window restarted",
                    self.camera,
                    -elapsed,
                )
                self.reset()
            else:
                missing = self._missing(elapsed)
        self._last_at = item.captured_at
        self._items.append(item)
        self._missing_before.append(missing)
        self._pushed += 1
        if len(self._items) < self.spec.size or (self._pushed - self.spec.size) % self.spec.stride:
            return None
        in_window = sum(islice(self._missing_before, 1, None))
        if in_window > self.spec.max_missing:
            DROPS.labels(camera=self.camera, stage="clip", reason="gap_in_window").inc()
            logger.debug("camera %s: window skipped, %s frames missing", self.camera, in_window)
            return None
        return tuple(self._items)

    def reset(self) -> None:
        """Forget buffered items (e.g. when the camera's stream was replaced)."""
        self._items.clear()
        self._missing_before.clear()
        self._pushed = 0
        self._last_at = None

    def _missing(self, elapsed: float) -> int:
        interval = self.spec.interval_s
        if elapsed <= self.spec.gap_factor * interval:
            return 0
        missing = max(1, round(elapsed / interval) - 1)
        DROPS.labels(camera=self.camera, stage="clip", reason="gap").inc(missing)
        logger.debug(
            "camera %s: %.3f s between sampled frames, %s missing", self.camera, elapsed, missing
        )
        return missing


class ClipAssembler:
    """Per-camera windows of prepared frames, emitted as ``Clip`` values (fused form)."""

    def __init__(self, spec: WindowSpec, intervals: Mapping[str, float] | None = None) -> None:
        self.spec = spec
        self._intervals = dict(intervals or {})
        self._windows: dict[str, Windower[PreparedFrame]] = {}

    def push(self, frame: PreparedFrame) -> Clip | None:
        """Add a camera's next prepared frame; returns a clip when one is due."""
        windower = self._windows.get(frame.camera)
        if windower is None:
            windower = self._windows[frame.camera] = Windower(
                frame.camera, self.spec.for_interval(self._intervals.get(frame.camera))
            )
        window = windower.push(frame)
        return None if window is None else Clip(camera=frame.camera, frames=window)

    def reset(self, camera: str) -> None:
        """Forget a camera's buffered frames."""
        windower = self._windows.get(camera)
        if windower is not None:
            windower.reset()
