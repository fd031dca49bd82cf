"""Cameras waiting for their turn to open (OpenCV opens one at a time) are not restarted."""

from __future__ import annotations

import threading
import time

import numpy as np

from edge import metrics
from edge.sources import CameraConfig
from edge.sources.camera import CameraReader
from edge.sources.stream import StreamInfo, VideoStream
from edge.values import Frame, Image

OPEN_SECONDS = 0.4


class _SlowToOpen:
    """A live stream whose opening takes a while; then a frame every 40 ms."""

    def __init__(self) -> None:
        time.sleep(OPEN_SECONDS)
        self._last = time.monotonic()

    @property
    def info(self) -> StreamInfo:
        return StreamInfo(width=16, height=16, fps=25.0, live=True)

    @property
    def last_activity(self) -> float:
        return self._last

    def grab(self) -> float | None:
        time.sleep(0.04)
        self._last = time.monotonic()
        return None

    def retrieve(self) -> Image:
        return np.zeros((16, 16, 3), dtype=np.uint8)

    def close(self) -> None:
        pass


def test_queued_opens_are_not_mistaken_for_stalled_cameras() -> None:
    opened: dict[str, int] = {}
    concurrent = {"now": 0, "most": 0}
    lock = threading.Lock()

    def opener(config: CameraConfig) -> VideoStream:
        with lock:
            opened[config.name] = opened.get(config.name, 0) + 1
            concurrent["now"] += 1
            concurrent["most"] = max(concurrent["most"], concurrent["now"])
        try:
            return _SlowToOpen()
        finally:
            with lock:
                concurrent["now"] -= 1

    def sink(frame: Frame) -> None:
        pass

    names = [f"turn{index}" for index in range(5)]
    # The allowance for one open (0.3 + 0.3 s) is far shorter than the line (5 x 0.4 s).
    readers = [
        CameraReader(
            CameraConfig(
                name=name,
                url=f"rtsp://127.0.0.1:1/{name}",
                open_timeout_seconds=0.3,
                stale_after_seconds=0.3,
            ),
            sink,
            opener=opener,
        )
        for name in names
    ]
    for reader in readers:
        reader.start()
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not all(r.health().connected for r in readers):
            time.sleep(0.05)
        assert all(reader.health().connected for reader in readers)
    finally:
        for reader in readers:
            reader.stop()
    assert concurrent["most"] == 1  # one open at a time, as OpenCV does anyway
    assert opened == dict.fromkeys(names, 1)  # nobody was abandoned and reopened
    for name in names:
        assert metrics.RECONNECTS.labels(camera=name)._value.get() == 0
