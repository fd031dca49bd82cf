"""Helpers for camera tests: a thread-safe frame sink and polling waits."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

from prometheus_client import REGISTRY

from edge.values import Frame


class FrameCollector:
    """A sink that keeps every frame it is given (metadata only after the first few)."""

    def __init__(self, keep_images: int = 3) -> None:
        self._lock = threading.Lock()
        self.frames: list[Frame] = []
        self.images_kept = keep_images

    def __call__(self, frame: Frame) -> None:
        with self._lock:
            if len(self.frames) >= self.images_kept:
                frame = Frame(frame.camera, frame.seq, frame.captured_at, frame.image[:1, :1])
            self.frames.append(frame)

    def snapshot(self) -> list[Frame]:
        """A copy of the frames so far."""
        with self._lock:
            return list(self.frames)

    def __len__(self) -> int:
        with self._lock:
            return len(self.frames)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``condition`` until true; return the seconds it took; fail after ``timeout``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - start


def sample(name: str, camera: str, **labels: str) -> float:
    """A metric sample's value for ``camera`` (0.0 when the series does not exist yet)."""
    value = REGISTRY.get_sample_value(name, {"camera": camera, **labels})
    return 0.0 if value is None else value


def camera_name() -> str:
    """A camera name unique to this test (metrics are process-wide)."""
    return f"cam-{uuid.uuid4().hex[:10]}"
