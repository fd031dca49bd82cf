"""Decode threads run at a lower priority than the rest of the agent."""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

from edge.sources import CameraConfig
from edge.sources.camera import CameraReader
from edge.sources.errors import StreamLostError
from edge.sources.priority import lower_thread_priority
from edge.sources.stream import StreamInfo, VideoStream
from edge.values import Frame, Image

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="per-thread nice values are a Linux feature"
)


def _nice_of_this_thread() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def _in_thread(increment: int) -> tuple[bool, int, int]:
    result: list[tuple[bool, int, int]] = []

    def work() -> None:
        before = _nice_of_this_thread()
        changed = lower_thread_priority(increment)
        result.append((changed, before, _nice_of_this_thread()))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    return result[0]


def test_lowering_affects_only_the_calling_thread() -> None:
    main_before = _nice_of_this_thread()
    changed, before, after = _in_thread(3)
    assert changed
    assert after == min(19, before + 3)
    assert _nice_of_this_thread() == main_before


def test_zero_leaves_the_priority_alone() -> None:
    changed, before, after = _in_thread(0)
    assert not changed
    assert after == before


def test_camera_config_bounds_the_increment() -> None:
    assert CameraConfig(name="cam", url="x.mp4").decode_nice == 19
    with pytest.raises(ValueError, match="less than or equal to 19"):
        CameraConfig(name="cam", url="x.mp4", decode_nice=20)


class _RecordingStream:
    """A stream that records the nice value of the thread decoding it, then ends."""

    def __init__(self, seen: dict[str, int], decoded: threading.Event) -> None:
        self._seen = seen
        self._decoded = decoded

    @property
    def info(self) -> StreamInfo:
        return StreamInfo(width=32, height=32, fps=25.0, live=True)

    @property
    def last_activity(self) -> float:
        return time.monotonic()

    def grab(self) -> float | None:
        self._seen.setdefault("grab", _nice_of_this_thread())
        self._decoded.set()
        raise StreamLostError("this test's stream ends after one grab")

    def retrieve(self) -> Image:
        raise AssertionError("nothing is retrieved in this test")

    def close(self) -> None:
        pass


def test_streams_open_at_normal_priority_and_decode_at_the_lower_one() -> None:
    seen: dict[str, int] = {}
    decoded = threading.Event()

    def opener(config: CameraConfig) -> VideoStream:
        seen.setdefault("open", _nice_of_this_thread())
        return _RecordingStream(seen, decoded)

    def sink(frame: Frame) -> None:
        raise AssertionError("no frame can arrive")

    base = _nice_of_this_thread()
    config = CameraConfig(name="cam", url="rtsp://127.0.0.1:1/none", decode_nice=4)
    reader = CameraReader(config, sink, opener=opener)
    reader.start()
    try:
        assert decoded.wait(10)
    finally:
        reader.stop()
    assert seen["open"] == base  # opening (serialised in OpenCV) is not slowed down
    assert seen["grab"] == min(19, base + 4)
    assert _nice_of_this_thread() == base
