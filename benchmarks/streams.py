"""N real-time paced RTSP cameras served from this box by gst-rtsp-server.

Every mount serves the same looped H.264 clip (``harness.long_clip``) without
re-encoding, so the agent, the baseline and the decode ceiling read identical
streams.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from benchmarks.harness import long_clip, process_cpu_seconds
from tests.support.rtsp_server import RtspServer

STREAM_SECONDS = 300


class Cameras:
    """A running RTSP server with ``count`` mounts; ``urls`` and the server's CPU."""

    def __init__(self, server: RtspServer, count: int) -> None:
        self.server = server
        self.urls = [server.url(f"cam{index}") for index in range(count)]

    def cpu_seconds(self) -> float:
        """CPU seconds the server process has used so far."""
        process = self.server.process
        return process_cpu_seconds(process.pid) if process is not None else 0.0


@contextlib.contextmanager
def rtsp_cameras(count: int, width: int = 1280, height: int = 720) -> Iterator[Cameras]:
    """Serve ``count`` cameras (``width``x``height``, 25 fps) until the block ends."""
    clip = long_clip(width, height, STREAM_SECONDS)
    with tempfile.TemporaryDirectory(prefix="bench-rtsp-") as tmp:
        mounts = {f"cam{index}": clip for index in range(count)}
        server = RtspServer(mounts, Path(tmp) / "rtsp.log")
        server.start()
        try:
            yield Cameras(server, count)
        finally:
            server.kill()
