"""OpenCV (FFmpeg backend) implementation of :class:`~edge.sources.stream.VideoStream`."""

from __future__ import annotations

import logging
import os
import threading
import time

import cv2
import numpy as np

from edge.sources.config import CameraConfig
from edge.sources.errors import EndOfStreamError, FrameDecodeError, StreamLostError, StreamOpenError
from edge.sources.stream import StreamInfo, file_path, is_live
from edge.values import Image

logger = logging.getLogger(__name__)

CAPTURE_OPTIONS_ENV = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
CAPTURE_OPTIONS = "rtsp_transport;tcp"
_options_lock = threading.Lock()
_options_set = False


def _ensure_capture_options() -> None:
    """Ask OpenCV's FFmpeg for RTSP over TCP, once, before the first capture opens.

    OpenCV reads this process-wide variable when it opens a capture; an
    operator's own setting wins. It is set before any capture exists, so no
    other thread is reading the environment at that moment.
    """
    global _options_set  # noqa: PLW0603 - one process-wide, set-once switch
    with _options_lock:
        if not _options_set:
            os.environ.setdefault(CAPTURE_OPTIONS_ENV, CAPTURE_OPTIONS)
            _options_set = True


class OpenCVStream:
    """A ``cv2.VideoCapture`` with FFmpeg timeouts and single-threaded decoding."""

    def __init__(self, config: CameraConfig) -> None:
        _ensure_capture_options()
        self._live = is_live(config.url)
        source = config.url if self._live else file_path(config.url)
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            int(config.open_timeout_seconds * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            int(config.read_timeout_seconds * 1000),
            cv2.CAP_PROP_N_THREADS,
            1,
        ]
        try:
            capture = cv2.VideoCapture(source, cv2.CAP_FFMPEG, params)
        except cv2.error as exc:
            raise StreamOpenError(f"OpenCV could not open the stream: {exc}") from exc
        if not capture.isOpened():
            capture.release()
            raise StreamOpenError("OpenCV could not open the stream")
        self._capture = capture
        fps = float(capture.get(cv2.CAP_PROP_FPS))
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self._info = StreamInfo(
            width=width if width > 0 else None,
            height=height if height > 0 else None,
            fps=fps if 0 < fps < 1000 else None,
            live=self._live,
        )
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self._frame_count = count if count > 0 and not self._live else None
        self._timeout_seconds = 0.95 * config.read_timeout_seconds
        self._position = 0
        self._ended = False
        self._last_activity = time.monotonic()

    @property
    def info(self) -> StreamInfo:
        """Size, nominal rate and whether it is live."""
        return self._info

    @property
    def last_activity(self) -> float:
        """When the last frame was grabbed (OpenCV does not expose packets)."""
        return self._last_activity

    def grab(self) -> None:
        """Decode the next frame (OpenCV's media times are unreliable: none is returned)."""
        if self._ended:
            raise EndOfStreamError("end of file")
        started = time.monotonic()
        if self._capture.grab():
            now = time.monotonic()
            if self._live and now - started >= self._timeout_seconds:
                # FFmpeg's interrupt callback fired: what came back is not a live frame
                self._ended = True
                raise StreamLostError(f"read timed out after {now - started:.1f} s")
            self._position += 1
            self._last_activity = now
            return
        self._ended = True
        if self._live:
            raise StreamLostError("read failed: the stream closed or timed out")
        if self._frame_count is not None and self._position < self._frame_count - 1:
            raise FrameDecodeError(
                f"file broke off at frame {self._position} of {self._frame_count} "
                "(truncated or corrupt)"
            )
        raise EndOfStreamError("end of file")

    def retrieve(self) -> Image:
        """Convert the last grabbed frame to BGR."""
        ok, image = self._capture.retrieve()
        if not ok or image is None:
            raise FrameDecodeError("could not convert the grabbed frame")
        result: Image = np.asarray(image, dtype=np.uint8)
        return result

    def close(self) -> None:
        """Release the capture."""
        self._capture.release()
