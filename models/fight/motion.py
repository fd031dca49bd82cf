"""Pixel-level motion statistics of a clip, for the experiments in ``models.fight.experiments``.

Not part of the shipped model: :mod:`models.fight.flow` is the torch/ONNX version of
:func:`pyramid_flow` and its statistics that the clip head ships (the tests check that
the two agree). Each function takes a clip's grayscale frames
``[T, H, W]`` uint8 (already resized to a fixed square, so source resolution and
frame rate are normalised away) and returns one fixed-length vector:

* :func:`difference_statistics`: absolute frame differences on a grid of cells,
  summarised over cells (mean, max, std, top-3 mean, max / mean) and over time
  (mean, max, std, min), raw, divided by the frame's contrast, divided by the
  median cell (global change such as flicker or camera shake), plus the second
  difference (acceleration).
* :func:`flow_statistics`: dense Farneback optical flow between consecutive
  frames, per-cell magnitude, direction coherence and change of flow, with the
  top cells also divided by the median magnitude (camera motion).
* :func:`lucas_kanade_statistics`: the same from a single-scale Lucas-Kanade flow
  and the normal flow, i.e. from operations an ONNX graph could express.
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import numpy.typing as npt

Gray = npt.NDArray[np.uint8]
Vector = npt.NDArray[np.float64]
_EPS = 1e-3


def over_time(per_step: npt.NDArray[np.floating]) -> Vector:
    """``[steps, K]`` -> ``[4K]``: mean, max, std and min over time."""
    p = np.asarray(per_step, dtype=np.float64)
    return np.concatenate([p.mean(0), p.max(0), p.std(0), p.min(0)])


def over_cells(cells: npt.NDArray[np.floating], top: int = 3) -> npt.NDArray[np.float64]:
    """``[steps, cells]`` -> ``[steps, 5]``: mean, max, std, top-k mean and max / mean."""
    c = np.asarray(cells, dtype=np.float64)
    ordered = np.sort(c, -1)
    mean = c.mean(-1)
    return np.stack(
        [mean, c.max(-1), c.std(-1), ordered[..., -top:].mean(-1), c.max(-1) / (mean + 1e-6)], -1
    )


def _shrink(frames: Gray, size: int) -> npt.NDArray[np.float32]:
    return np.stack(
        [cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in frames]
    ).astype(np.float32)


def _cell_mean(image: npt.NDArray[np.floating], grid: int) -> npt.NDArray[np.float64]:
    """``[..., S, S]`` -> ``[..., grid * grid]`` means over square cells."""
    side = image.shape[-1] // grid
    lead = image.shape[:-2]
    blocks = np.asarray(image, np.float64).reshape(*lead, grid, side, grid, side)
    return np.asarray(blocks.mean((-3, -1)).reshape(*lead, grid * grid), dtype=np.float64)


def difference_statistics(frames: Gray, size: int = 64, grid: int = 4) -> Vector:
    """Frame-difference statistics (80 values for the defaults)."""
    gray = _shrink(frames, size) / 255.0
    diff = np.abs(np.diff(gray, axis=0))
    cells = _cell_mean(diff, grid)
    contrast = gray[:-1].std((1, 2))[:, None] + _EPS
    median = np.median(cells, -1, keepdims=True) + _EPS
    second = _cell_mean(np.abs(np.diff(gray, 2, axis=0)), grid) / contrast[1:]
    return np.concatenate(
        [
            over_time(over_cells(cells)),
            over_time(over_cells(cells / contrast)),
            over_time(over_cells(cells / median)),
            over_time(over_cells(second)),
        ]
    )


def _flow_step(
    flow: npt.NDArray[np.float32], previous: npt.NDArray[np.float32] | None, grid: int
) -> list[float]:
    """Per-pair statistics of one dense flow field ``[S, S, 2]``."""
    magnitude = np.linalg.norm(flow, axis=-1)
    median = float(np.median(magnitude)) + 0.05
    cells = _cell_mean(magnitude, grid)
    mean_vector = np.stack([_cell_mean(flow[..., 0], grid), _cell_mean(flow[..., 1], grid)], -1)
    coherence = np.linalg.norm(mean_vector, axis=-1) / (cells + _EPS)
    if previous is None:
        change = np.zeros_like(cells)
    else:
        change = _cell_mean(np.linalg.norm(flow - previous, axis=-1), grid)
    strongest = np.argsort(cells)[-3:]
    top = float(cells[strongest].mean())
    return [
        float(cells.mean()),
        float(cells.max()),
        float(cells.std()),
        top,
        top / median,
        float(cells.max() / (cells.mean() + _EPS)),
        float(coherence[strongest].mean()),
        float((coherence * cells).sum() / (cells.sum() + _EPS)),
        float(change.max()),
        float(change.mean()),
        float(np.sort(change)[-3:].mean() / median),
        float(np.log(median)),
    ]


def _summarise_steps(steps: list[list[float]]) -> Vector:
    p = np.asarray(steps, dtype=np.float64)
    return np.concatenate([p.mean(0), p.max(0), p.std(0), p[1:].mean(0)])


def flow_statistics(frames: Gray, size: int = 80, grid: int = 4) -> Vector:
    """Farneback flow statistics (48 values for the defaults)."""
    small = _shrink(frames, size).astype(np.uint8)
    steps: list[list[float]] = []
    previous: npt.NDArray[np.float32] | None = None
    empty = np.zeros((size, size, 2), np.float32)
    for a, b in itertools.pairwise(small):
        flow = np.asarray(
            cv2.calcOpticalFlowFarneback(a, b, empty.copy(), 0.5, 3, 9, 3, 5, 1.1, 0), np.float32
        )
        steps.append(_flow_step(flow, previous, grid))
        previous = flow
    return _summarise_steps(steps)


def _box(image: npt.NDArray[np.float32], window: int) -> npt.NDArray[np.float32]:
    return np.asarray(cv2.blur(image, (window, window)), dtype=np.float32)


def lucas_kanade_statistics(frames: Gray, size: int = 64, grid: int = 4, window: int = 5) -> Vector:
    """Single-scale Lucas-Kanade and normal-flow statistics (64 values for the defaults)."""
    gray = np.stack([cv2.GaussianBlur(f, (5, 5), 1.0) for f in _shrink(frames, size) / 255.0])
    steps: list[list[float]] = []
    previous: npt.NDArray[np.float32] | None = None
    for a, b in itertools.pairwise(gray):
        middle = (a + b) / 2
        ix, iy, it = np.gradient(middle, axis=1), np.gradient(middle, axis=0), b - a
        sxx, syy, sxy = _box(ix * ix, window), _box(iy * iy, window), _box(ix * iy, window)
        sxt, syt = _box(ix * it, window), _box(iy * it, window)
        det = sxx * syy - sxy**2 + 1e-4
        u = -(syy * sxt - sxy * syt) / det
        v = -(sxx * syt - sxy * sxt) / det
        flow = np.clip(np.stack([u, v], -1), -4, 4).astype(np.float32)
        normal = _cell_mean(np.abs(it) / (np.sqrt(ix**2 + iy**2) + 0.01), grid)
        steps.append(
            [
                *_flow_step(flow, previous, grid),
                float(normal.mean()),
                float(normal.max()),
                float(normal.std()),
                float(np.sort(normal)[-3:].mean() / (np.median(normal) + _EPS)),
            ]
        )
        previous = flow
    return _summarise_steps(steps)


def _lk_level(
    a: npt.NDArray[np.float32],
    b: npt.NDArray[np.float32],
    flow: npt.NDArray[np.float32],
    window: int,
    iterations: int,
) -> npt.NDArray[np.float32]:
    """Refine ``flow`` from ``a`` to ``b`` by Lucas-Kanade steps, warping ``b`` each time."""
    height, width = a.shape
    grid_x, grid_y = np.meshgrid(
        np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)
    )
    ix = np.asarray(cv2.Sobel(a, cv2.CV_32F, 1, 0, ksize=3) / 8, np.float32)
    iy = np.asarray(cv2.Sobel(a, cv2.CV_32F, 0, 1, ksize=3) / 8, np.float32)
    sxx, syy, sxy = _box(ix * ix, window), _box(iy * iy, window), _box(ix * iy, window)
    det = sxx * syy - sxy**2 + 1e-5
    for _ in range(iterations):
        warped = np.asarray(
            cv2.remap(
                b,
                grid_x + flow[..., 0],
                grid_y + flow[..., 1],
                cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REPLICATE,
            ),
            np.float32,
        )
        it = warped - a
        sxt, syt = _box(ix * it, window), _box(iy * it, window)
        du = -(syy * sxt - sxy * syt) / det
        dv = -(sxx * syt - sxy * sxt) / det
        flow = flow + np.clip(np.stack([du, dv], -1), -2, 2).astype(np.float32)
    return flow


def pyramid_flow(
    a: npt.NDArray[np.float32],
    b: npt.NDArray[np.float32],
    levels: int = 3,
    window: int = 7,
    iterations: int = 2,
) -> npt.NDArray[np.float32]:
    """Coarse-to-fine Lucas-Kanade flow ``[H, W, 2]`` from ``a`` to ``b``.

    Built only from operations an ONNX graph has (convolutions, box filters,
    2x down/up-sampling, bilinear warping as in ``GridSample``). The constant 1e-5
    added to each 2x2 system's determinant damps the flow towards zero where the
    texture has little contrast (intensities in [0, 1]): exact on high-contrast
    texture, a shrunken motion measure on dim, flat surveillance frames. The
    experiments' numbers are for exactly this damped form.
    """
    pyramid_a, pyramid_b = [a], [b]
    for _ in range(levels - 1):
        pyramid_a.append(np.asarray(cv2.pyrDown(pyramid_a[-1]), np.float32))
        pyramid_b.append(np.asarray(cv2.pyrDown(pyramid_b[-1]), np.float32))
    flow = np.zeros((*pyramid_a[-1].shape, 2), np.float32)
    for level_a, level_b in zip(reversed(pyramid_a), reversed(pyramid_b), strict=True):
        if flow.shape[:2] != level_a.shape:
            size = (level_a.shape[1], level_a.shape[0])
            flow = np.asarray(cv2.resize(flow, size), np.float32) * 2
        flow = _lk_level(level_a, level_b, flow, window, iterations)
    return flow


def pyramid_flow_statistics(frames: Gray, size: int = 80, grid: int = 4) -> Vector:
    """The :func:`flow_statistics` summary of :func:`pyramid_flow` (48 values)."""
    small = _shrink(frames, size) / 255.0
    blurred = np.stack([cv2.GaussianBlur(f, (5, 5), 1.0) for f in small]).astype(np.float32)
    steps: list[list[float]] = []
    previous: npt.NDArray[np.float32] | None = None
    for a, b in itertools.pairwise(blurred):
        flow = pyramid_flow(a, b)
        steps.append(_flow_step(flow, previous, grid))
        previous = flow
    return _summarise_steps(steps)
