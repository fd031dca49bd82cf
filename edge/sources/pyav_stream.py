"""PyAV implementation of :class:`~edge.sources.stream.VideoStream`, with keyframe-only decoding."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

import av

from edge.sources.config import CameraConfig
from edge.sources.errors import EndOfStreamError, FrameDecodeError, StreamLostError, StreamOpenError
from edge.sources.stream import StreamInfo, file_path, is_live
from edge.values import Image

logger = logging.getLogger(__name__)


class PyAVStream:
    """An ``av`` container decoding its first video stream on one thread.

    With ``decode: keyframes`` the decoder skips every non-key frame
    (``skip_frame="NONKEY"``): packets are still read (so liveness is judged
    on them) but only keyframes cost decode time.
    """

    def __init__(self, config: CameraConfig) -> None:
        self._live = is_live(config.url)
        source = config.url if self._live else file_path(config.url)
        options = {"rtsp_transport": "tcp"} if source.lower().startswith("rtsp") else {}
        try:
            container: Any = av.open(
                source,
                options=options,
                timeout=(config.open_timeout_seconds, config.read_timeout_seconds),
            )
        except (av.error.FFmpegError, OSError) as exc:
            raise StreamOpenError(f"PyAV could not open the stream: {exc}") from exc
        try:
            stream = container.streams.video[0]
        except IndexError as exc:
            container.close()
            raise StreamOpenError("the stream has no video track") from exc
        context = stream.codec_context
        context.thread_count = 1
        if config.decode == "keyframes":
            context.skip_frame = "NONKEY"
        self._container = container
        self._stream = stream
        rate = stream.average_rate
        self._info = StreamInfo(
            width=context.width or None,
            height=context.height or None,
            fps=float(rate) if rate else None,
            live=self._live,
        )
        self._packets: Iterator[Any] = container.demux(stream)
        self._pending: deque[Any] = deque()
        self._frame: Any = None
        self._timeout_seconds = 0.95 * config.read_timeout_seconds
        self._last_activity = time.monotonic()
        self._closed = False

    @property
    def info(self) -> StreamInfo:
        """Size, nominal rate and whether it is live."""
        return self._info

    @property
    def last_activity(self) -> float:
        """When the last packet arrived (also while non-key frames are skipped)."""
        return self._last_activity

    def grab(self) -> float | None:
        """Read packets until a frame is decoded; return its media time in seconds."""
        while not self._pending:
            packet = self._next_packet()
            try:
                frames = self._stream.decode(packet)
            except av.error.FFmpegError as exc:
                raise FrameDecodeError(f"could not decode a packet: {exc}") from exc
            self._pending.extend(frames)
        self._frame = self._pending.popleft()
        media_time = self._frame.time
        return float(media_time) if media_time is not None else None

    def _next_packet(self) -> Any:
        started = time.monotonic()
        try:
            packet = next(self._packets)
        except StopIteration:
            if self._live:
                raise StreamLostError("the stream ended") from None
            raise EndOfStreamError("end of file") from None
        except av.error.EOFError as exc:
            if self._live:
                raise StreamLostError(f"the stream ended: {exc}") from exc
            raise EndOfStreamError("end of file") from exc
        except (av.error.FFmpegError, OSError) as exc:
            if self._live:
                raise StreamLostError(f"read failed: {exc}") from exc
            self._packets = iter(())
            raise FrameDecodeError(f"could not read the file: {exc}") from exc
        now = time.monotonic()
        if self._live and now - started >= self._timeout_seconds:
            # FFmpeg's interrupt callback fired: the stream stalled for the whole read timeout
            self._packets = iter(())
            raise StreamLostError(f"read timed out after {now - started:.1f} s")
        self._last_activity = now
        return packet

    def retrieve(self) -> Image:
        """Convert the last decoded frame to BGR."""
        if self._frame is None:
            raise FrameDecodeError("no frame was grabbed")
        try:
            image: Image = self._frame.to_ndarray(format="bgr24")
        except (av.error.FFmpegError, ValueError) as exc:
            raise FrameDecodeError(f"could not convert the frame: {exc}") from exc
        return image

    def close(self) -> None:
        """Close the container."""
        if not self._closed:
            self._closed = True
            self._container.close()
