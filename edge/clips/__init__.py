"""Clip assembly: privacy masks, per-frame preprocessing and sliding windows per camera."""

from edge.clips.config import ClipConfig, PrivacyMaskConfig
from edge.clips.errors import ClipError, InvalidFrameError
from edge.clips.mask import PrivacyMasker
from edge.clips.preprocess import Preprocessor, ProcessedFrame
from edge.clips.window import ClipAssembler, Timed, Windower, WindowSpec

__all__ = [
    "ClipAssembler",
    "ClipConfig",
    "ClipError",
    "InvalidFrameError",
    "Preprocessor",
    "PrivacyMaskConfig",
    "PrivacyMasker",
    "ProcessedFrame",
    "Timed",
    "WindowSpec",
    "Windower",
]
