"""The decoder interface a camera reader drives, and URL helpers.

A :class:`VideoStream` is one open stream: ``grab()`` decodes the next frame
without converting it, ``retrieve()`` converts the last grabbed frame to a BGR
image (called only for frames the sampler keeps). Backends: OpenCV
(``edge.sources.opencv_stream``) and PyAV (``edge.sources.pyav_stream``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from edge.sources.config import CameraConfig
from edge.values import Image

LIVE_SCHEMES = frozenset(
    {"rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "rtp", "srt"}
)


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """What is known about a stream once it is open."""

    width: int | None
    height: int | None
    fps: float | None  # nominal frame rate, when the container says
    live: bool


class VideoStream(Protocol):
    """One open camera stream (a swap point: OpenCV, PyAV, a test double)."""

    @property
    def info(self) -> StreamInfo:
        """Size, nominal rate and whether it is live."""
        ...

    @property
    def last_activity(self) -> float:
        """``time.monotonic()`` when data last arrived (a packet, even if not decoded)."""
        ...

    def grab(self) -> float | None:
        """Decode the next frame; return its media time in seconds when known.

        Raises EndOfStreamError at the end of a file, StreamLostError when a live stream
        stops, FrameDecodeError for a frame that could not be decoded (the next
        call may succeed).
        """
        ...

    def retrieve(self) -> Image:
        """Convert the last grabbed frame to a BGR image; FrameDecodeError if it cannot."""
        ...

    def close(self) -> None:
        """Release the stream (idempotent)."""
        ...


StreamOpener = Callable[[CameraConfig], VideoStream]


def is_live(url: str) -> bool:
    """Whether ``url`` is a network stream rather than a file."""
    scheme = urlsplit(url).scheme.lower()
    return scheme in LIVE_SCHEMES


def file_path(url: str) -> str:
    """The local path of a file URL (``file:///x`` or a plain path)."""
    parts = urlsplit(url)
    return parts.path if parts.scheme == "file" else url


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (safe for logs and health)."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port is not None else ""
    netloc = f"{user}:***@{host}{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
