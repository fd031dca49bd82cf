"""Errors of clip assembly.

ClipError
 └── InvalidFrameError   a frame is not an HxWx3 uint8 BGR image
"""

from __future__ import annotations


class ClipError(Exception):
    """Base class of clip assembly errors."""


class InvalidFrameError(ClipError):
    """A frame handed to the preprocessor is not an HxWx3 uint8 BGR image."""
