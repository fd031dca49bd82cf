"""Errors raised while building or loading the fight model.

BuildError
    the build cannot proceed (weights, data or export failed)
ClipError
    a video file cannot be decoded into a clip
"""

from __future__ import annotations


class BuildError(RuntimeError):
    """The model build cannot proceed."""


class ClipError(ValueError):
    """A video file cannot be decoded into a clip."""
