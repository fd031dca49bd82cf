"""Typed values that cross module boundaries inside the agent."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from events import ModelRef

Image = npt.NDArray[np.uint8]  # HxWx3 BGR
Tensor = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Frame:
    """A decoded frame the sampler kept (only kept frames are ever converted to BGR)."""

    camera: str
    seq: int  # index of the frame in the stream since the reader (re)connected
    captured_at: float  # wall-clock time.time() when the frame was grabbed
    image: Image


@dataclass(frozen=True, slots=True)
class PreparedFrame:
    """A frame after resize, privacy masking and normalisation (done once per frame)."""

    camera: str
    seq: int
    captured_at: float
    tensor: Tensor  # 3xHxW float32, normalised as the model card says


@dataclass(frozen=True, slots=True)
class Clip:
    """A window of consecutive prepared frames from one camera."""

    camera: str
    frames: tuple[PreparedFrame, ...]

    @property
    def started_at(self) -> float:
        """Capture time of the first frame."""
        return self.frames[0].captured_at

    @property
    def ended_at(self) -> float:
        """Capture time of the last frame (latency is measured from here)."""
        return self.frames[-1].captured_at


@dataclass(frozen=True, slots=True)
class Classification:
    """The model's verdict on one clip."""

    camera: str
    clip_started_at: float
    clip_ended_at: float
    scores: dict[str, float]  # label -> probability, labels from the model card
    model: ModelRef
    inference_seconds: float
