"""Per-camera health: a frozen snapshot and the thread-safe tracker that fills it."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

FPS_WINDOW_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class CameraHealth:
    """A snapshot of one camera reader's state."""

    name: str
    url: str  # password redacted
    backend: str
    connected: bool  # delivering frames now
    ended: bool  # a file without ``loop`` reached its end; the reader stopped
    fps_in: float  # frames decoded per second over the last few seconds
    frames_decoded: int
    decode_errors: int
    reconnects: int
    last_frame_age: float | None  # seconds since the last decoded frame; None before the first
    width: int | None
    height: int | None
    last_error: str | None


class HealthTracker:
    """Counters written by a reader's threads, read as a :class:`CameraHealth` snapshot."""

    def __init__(self, name: str, url: str, backend: str) -> None:
        self._lock = threading.Lock()
        self.name = name
        self.url = url
        self.backend = backend
        self.started_at = time.monotonic()
        self.connected = False
        self.ended = False
        self.frames_decoded = 0
        self.decode_errors = 0
        self.reconnects = 0
        self.last_frame_at: float | None = None  # monotonic
        self.width: int | None = None
        self.height: int | None = None
        self.last_error: str | None = None
        self._history: deque[tuple[float, int]] = deque()

    def frame(self, now: float) -> None:
        """Count one decoded frame at monotonic time ``now``."""
        with self._lock:
            self.frames_decoded += 1
            self.last_frame_at = now

    def decode_error(self, message: str) -> None:
        """Count one frame that could not be decoded."""
        with self._lock:
            self.decode_errors += 1
            self.last_error = message

    def error(self, message: str) -> None:
        """Record the latest problem (shown in health)."""
        with self._lock:
            self.last_error = message

    def reconnect(self) -> None:
        """Count one reopening of the stream."""
        with self._lock:
            self.reconnects += 1

    def size(self, width: int | None, height: int | None) -> None:
        """Record the frame size of the open stream."""
        with self._lock:
            self.width, self.height = width, height

    def set_connected(self, connected: bool) -> None:
        """Record whether frames are arriving."""
        with self._lock:
            self.connected = connected

    def set_ended(self) -> None:
        """Record that a file without ``loop`` reached its end."""
        with self._lock:
            self.ended = True
            self.connected = False

    def frame_age(self, now: float) -> float:
        """Seconds since the last frame (since the reader started, before the first)."""
        with self._lock:
            return now - (self.last_frame_at or self.started_at)

    def sample_fps(self, now: float) -> float:
        """Record the frame count at ``now`` and return the rate over the recent window.

        Called periodically by the reader's watchdog, which is its only caller.
        """
        with self._lock:
            count = self.frames_decoded
        history = self._history
        history.append((now, count))
        while len(history) > 2 and history[1][0] <= now - FPS_WINDOW_SECONDS:
            history.popleft()
        then, then_count = history[0]
        return (count - then_count) / (now - then) if now > then else 0.0

    def snapshot(self, now: float, fps: float) -> CameraHealth:
        """A consistent copy of the counters."""
        with self._lock:
            age = None if self.last_frame_at is None else now - self.last_frame_at
            return CameraHealth(
                name=self.name,
                url=self.url,
                backend=self.backend,
                connected=self.connected,
                ended=self.ended,
                fps_in=fps,
                frames_decoded=self.frames_decoded,
                decode_errors=self.decode_errors,
                reconnects=self.reconnects,
                last_frame_age=age,
                width=self.width,
                height=self.height,
                last_error=self.last_error,
            )
