"""Run a frame network over every clip once and cache the per-frame features."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from models.fight.clips import ClipRef, prepare, sample_frames

log = logging.getLogger(__name__)
Features = npt.NDArray[np.float32]
FrameFn = Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float32]]


def torch_frame_fn(module: torch.nn.Module) -> FrameFn:
    """Wrap a torch frame network as ``[N, 3, H, W] -> [N, D]`` on numpy arrays."""

    def run(batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        with torch.inference_mode():
            return np.asarray(module(torch.from_numpy(batch)).numpy(), dtype=np.float32)

    return run


def clip_inputs(refs: list[ClipRef], frames: int, size: int) -> list[npt.NDArray[np.float32]]:
    """Decoded, sampled and normalised inputs ``[T, 3, size, size]`` of every clip."""
    return [prepare(sample_frames(ref.path, frames), size) for ref in refs]


def cached_features(
    cache: Path,
    refs: list[ClipRef],
    inputs: Callable[[], list[npt.NDArray[np.float32]]],
    frame_fn: FrameFn,
) -> Features:
    """``[clips, T, D]`` features, from ``cache`` when it holds the same clips."""
    names = np.array([ref.name for ref in refs])
    if cache.is_file():
        stored = np.load(cache)
        if np.array_equal(stored["names"], names):
            log.info("features from cache %s", cache.name)
            return np.asarray(stored["features"], dtype=np.float32)
    features = np.stack([frame_fn(clip) for clip in inputs()]).astype(np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, names=names, features=features)
    return features
