"""Errors of the agent's input sources.

SourceError                  base
├── StreamOpenError          a camera stream could not be opened
├── EndOfStreamError              a file reached its end (a clean stop)
├── StreamLostError               a live stream stopped delivering (connection lost, read timeout)
├── FrameDecodeError         one frame or packet could not be decoded (counted, not fatal)
└── SensorRejectedError           a sensor payload was rejected; ``reason`` labels the metric
"""

from __future__ import annotations


class SourceError(Exception):
    """Base of every error raised by ``edge.sources``."""


class StreamOpenError(SourceError):
    """The stream could not be opened (unreachable, refused, not a video, timed out)."""


class EndOfStreamError(SourceError):
    """A file reached its end."""


class StreamLostError(SourceError):
    """A live stream stopped delivering frames; the reader reopens it."""


class FrameDecodeError(SourceError):
    """One frame or packet could not be decoded; the stream may continue."""


class SensorRejectedError(SourceError):
    """A sensor payload was rejected; ``reason`` is a short, stable metric label."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
