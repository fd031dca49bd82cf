"""Pixel-level motion statistics used by the fight-model experiments (not shipped)."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest

from models.fight import motion

SIZE = 160


def _clip(steps: int, moving: bool) -> np.ndarray:
    """A textured static background with a bright square that moves in one corner."""
    rng = np.random.default_rng(0)
    background = rng.integers(40, 120, (SIZE, SIZE), dtype=np.uint8)
    frames = []
    for t in range(steps):
        frame = background.copy()
        x = 10 + (6 * t if moving else 0)
        frame[10:40, x : x + 30] = 230
        frames.append(frame)
    return np.stack(frames)


@pytest.mark.parametrize(
    ("fn", "width"),
    [
        (motion.difference_statistics, 80),
        (motion.flow_statistics, 48),
        (motion.lucas_kanade_statistics, 64),
        (motion.pyramid_flow_statistics, 48),
    ],
)
def test_statistics_have_fixed_length_and_are_finite(
    fn: Callable[[np.ndarray], np.ndarray], width: int
) -> None:
    for steps in (8, 16):
        vector = fn(_clip(steps, moving=True))
        assert vector.shape == (width,)
        assert np.isfinite(vector).all()


def test_static_clip_has_no_difference_energy() -> None:
    still = motion.difference_statistics(_clip(8, moving=False))
    moving = motion.difference_statistics(_clip(8, moving=True))
    assert np.abs(still[:5]).max() == 0.0  # mean over time of the raw cell statistics
    assert moving[1] > 0.01  # mean over time of the largest cell change


def test_flow_sees_localised_motion() -> None:
    still = motion.flow_statistics(_clip(8, moving=False))
    moving = motion.flow_statistics(_clip(8, moving=True))
    # Index 1: mean over time of the largest cell's flow magnitude; 5: max cell / mean cell.
    assert moving[1] > 10 * (still[1] + 1e-3)
    assert moving[5] > 3.0


def test_pyramid_flow_recovers_a_shift_on_contrasted_texture() -> None:
    rng = np.random.default_rng(1)
    texture = np.asarray(
        cv2.GaussianBlur(rng.random((80, 80)).astype(np.float32), (7, 7), 2.0), np.float32
    )
    contrasted = ((texture - texture.mean()) / texture.std() * 0.25 + 0.5).astype(np.float32)
    flow = motion.pyramid_flow(contrasted, np.roll(contrasted, 3, axis=1))  # 3 px right
    inner = flow[20:60, 20:60]
    assert abs(float(np.median(inner[..., 0])) - 3.0) < 0.2
    assert abs(float(np.median(inner[..., 1]))) < 0.2
    # The determinant damping shrinks the same shift on a dim, low-contrast texture.
    dim = motion.pyramid_flow(texture, np.roll(texture, 3, axis=1))
    assert 0.0 < float(np.median(dim[20:60, 20:60, 0])) < 1.0
