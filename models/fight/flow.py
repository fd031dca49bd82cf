"""Dense optical flow and pixel-motion statistics of a clip, as ONNX-exportable torch code.

The clip head computes these from the blurred grayscale thumbnails the frame model
emits (``[B, T, S, S]`` in [0, 1]): a coarse-to-fine Lucas-Kanade flow between
consecutive thumbnails (:func:`pyramid_flow`), summarised per pair over a grid of
cells (:func:`flow_step_statistics`) and over time, plus frame-difference statistics
(:func:`difference_statistics`). ``models.fight.motion`` holds the numpy/OpenCV
version the experiments used; the tests check that both flows agree.

Only operations that export to ONNX opset 17 and that static int8 quantisation of
``Conv`` nodes leaves alone are used: slicing and adding for the filters (no
``Conv``, so the quantised twins keep the flow in float), ``AveragePool`` for box
filters, ``Resize`` for upsampling, ``GridSample`` for warping and ``TopK`` for
medians and largest cells. Fixed-size thumbnails and fixed real-time sampling mean
the statistics do not depend on the camera's resolution or frame rate.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

FLOW_LEVELS = 3
FLOW_WINDOW = 7
FLOW_ITERATIONS = 2
FLOW_STEP_LIMIT = 2.0  # pixels per Lucas-Kanade update, as in the experiments
DETERMINANT_FLOOR = 1e-5  # damps the flow where texture is faint (see motion.pyramid_flow)
GRID = 4
TOP = 3
_EPS = 1e-3
FLOW_STEP_STATS = 12
FLOW_DIM = 4 * FLOW_STEP_STATS
DIFFERENCE_DIM = 4 * 4 * 5
MOTION_DIM = DIFFERENCE_DIM + FLOW_DIM


def _reflect(image: torch.Tensor, pad: int) -> torch.Tensor:
    """Mirror ``pad`` pixels on each side, edge pixel not repeated (OpenCV's REFLECT_101)."""
    return F.pad(image, (pad, pad, pad, pad), mode="reflect")


def _taps_w(padded: torch.Tensor, taps: tuple[float, ...]) -> torch.Tensor:
    """Correlate along the width with ``taps`` (input padded by ``len(taps) // 2``)."""
    width = padded.shape[-1] - len(taps) + 1
    out = padded[..., 0:width] * taps[0]
    for index, tap in enumerate(taps[1:], start=1):
        if tap:
            out = out + padded[..., index : index + width] * tap
    return out


def _taps_h(padded: torch.Tensor, taps: tuple[float, ...]) -> torch.Tensor:
    """Correlate along the height with ``taps`` (input padded by ``len(taps) // 2``)."""
    height = padded.shape[-2] - len(taps) + 1
    out = padded[..., 0:height, :] * taps[0]
    for index, tap in enumerate(taps[1:], start=1):
        if tap:
            out = out + padded[..., index : index + height, :] * tap
    return out


def binomial_blur(image: torch.Tensor) -> torch.Tensor:
    """5x5 binomial (near-Gaussian, sigma ~1) blur of ``[N, C, H, W]``, edges mirrored.

    Four 2x2 box means in a row are exactly the separable [1, 4, 6, 4, 1] / 16 kernel
    (four ``AveragePool`` nodes instead of dozens of slices).
    """
    out = _reflect(image, 2)
    for _ in range(4):
        out = F.avg_pool2d(out, 2, stride=1)
    return out


def pyr_down(image: torch.Tensor) -> torch.Tensor:
    """Blur and keep every second pixel: OpenCV's ``pyrDown`` for even sizes."""
    return binomial_blur(image)[..., ::2, ::2]


def _gradients(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """3x3 Sobel derivatives divided by 8 (x, y), edges mirrored."""
    padded = _reflect(image, 1)
    ix = _taps_h(_taps_w(padded, (-1.0, 0.0, 1.0)), (1 / 8, 2 / 8, 1 / 8))
    iy = _taps_w(_taps_h(padded, (-1.0, 0.0, 1.0)), (1 / 8, 2 / 8, 1 / 8))
    return ix, iy


def _box(image: torch.Tensor, window: int) -> torch.Tensor:
    """Mean over a ``window`` x ``window`` square around each pixel, edges mirrored."""
    return F.avg_pool2d(_reflect(image, window // 2), window, stride=1)


def _warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``image`` ``[N, 1, H, W]`` at pixel + flow (bilinear, border pixels repeated)."""
    height, width = int(image.shape[-2]), int(image.shape[-1])  # static: folded into constants
    xs = torch.arange(width, dtype=image.dtype).view(1, 1, width)
    ys = torch.arange(height, dtype=image.dtype).view(1, height, 1)
    gx = (xs + flow[:, 0]) * (2.0 / (width - 1)) - 1.0
    gy = (ys + flow[:, 1]) * (2.0 / (height - 1)) - 1.0
    grid = torch.stack([gx, gy], dim=-1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


def _lk_level(
    a: torch.Tensor, b: torch.Tensor, flow: torch.Tensor, window: int, iterations: int
) -> torch.Tensor:
    """Refine ``flow`` ``[N, 2, H, W]`` from ``a`` to ``b`` by warped Lucas-Kanade steps."""
    ix, iy = _gradients(a)
    sxx, syy, sxy = _box(ix * ix, window), _box(iy * iy, window), _box(ix * iy, window)
    det = sxx * syy - sxy * sxy + DETERMINANT_FLOOR
    for _ in range(iterations):
        it = _warp(b, flow) - a
        sxt, syt = _box(ix * it, window), _box(iy * it, window)
        du = -(syy * sxt - sxy * syt) / det
        dv = -(sxx * syt - sxy * sxt) / det
        step = torch.cat([du, dv], dim=1).clamp(-FLOW_STEP_LIMIT, FLOW_STEP_LIMIT)
        flow = flow + step
    return flow


def pyramid_flow(
    a: torch.Tensor,
    b: torch.Tensor,
    levels: int = FLOW_LEVELS,
    window: int = FLOW_WINDOW,
    iterations: int = FLOW_ITERATIONS,
) -> torch.Tensor:
    """Coarse-to-fine Lucas-Kanade flow ``[N, 2, H, W]`` (pixels) from ``a`` to ``b`` ``[N, 1, H, W]``.

    H and W must be divisible by ``2 ** (levels - 1)``.
    """
    pyramid_a, pyramid_b = [a], [b]
    for _ in range(levels - 1):
        pyramid_a.append(pyr_down(pyramid_a[-1]))
        pyramid_b.append(pyr_down(pyramid_b[-1]))
    zero = torch.zeros_like(pyramid_a[-1])
    flow = torch.cat([zero, zero], dim=1)
    for level, (level_a, level_b) in enumerate(
        zip(reversed(pyramid_a), reversed(pyramid_b), strict=True)
    ):
        if level:
            size = (int(level_a.shape[-2]), int(level_a.shape[-1]))
            flow = F.interpolate(flow, size=size, mode="bilinear", align_corners=False) * 2
        flow = _lk_level(level_a, level_b, flow, window, iterations)
    return flow


def cell_means(image: torch.Tensor, grid: int = GRID) -> torch.Tensor:
    """``[N, C, S, S]`` -> ``[N, C, grid * grid]`` means over square cells (S divisible by grid)."""
    side = int(image.shape[-1]) // grid
    return F.avg_pool2d(image, side).flatten(2)


def _median(values: torch.Tensor) -> torch.Tensor:
    """Median over the last axis (mean of the two middle values for an even count), keepdim."""
    count = int(values.shape[-1])
    # Unsorted selection of the lower half, then its largest one or two values.
    lowest = torch.topk(values, count // 2 + 1, dim=-1, largest=False, sorted=False).values
    if count % 2:
        return lowest.amax(-1, keepdim=True)
    return torch.topk(lowest, 2, dim=-1).values.mean(-1, keepdim=True)


def _std(values: torch.Tensor, dim: int) -> torch.Tensor:
    """Population standard deviation (numpy's default)."""
    mean = values.mean(dim, keepdim=True)
    return ((values - mean) ** 2).mean(dim).sqrt()


def flow_step_statistics(flow: torch.Tensor) -> torch.Tensor:
    """Per-pair statistics ``[B, P, 12]`` of a clip's flow fields ``[B, P, 2, S, S]``.

    Cell magnitudes (mean, max, std, mean of the top 3, top 3 over the frame's median
    magnitude, max over mean), direction coherence of the strongest cells and
    magnitude-weighted coherence, change of flow since the previous pair (max, mean,
    top 3 over median; zero for the first pair) and the log median magnitude (camera
    motion). All pairs at once, so the exported graph does not grow with the clip length.
    """
    pairs, size = int(flow.shape[1]), int(flow.shape[-1])
    magnitude = (flow * flow).sum(2).sqrt()
    median = _median(magnitude.flatten(2)) + 0.05
    cells = cell_means(magnitude)
    vectors = cell_means(flow.reshape(-1, pairs * 2, size, size)).reshape(-1, pairs, 2, GRID * GRID)
    coherence = (vectors * vectors).sum(2).sqrt() / (cells + _EPS)
    delta = flow[:, 1:] - flow[:, :-1]
    moved = cell_means((delta * delta).sum(2).sqrt())
    change = torch.cat([torch.zeros_like(cells[:, :1]), moved], dim=1)
    strongest, where = torch.topk(cells, TOP, dim=-1)
    top = strongest.mean(-1, keepdim=True)
    mean = cells.mean(-1, keepdim=True)
    peak = cells.amax(-1, keepdim=True)
    top_change = torch.topk(change, TOP, dim=-1).values.mean(-1, keepdim=True)
    return torch.cat(
        [
            mean,
            peak,
            _std(cells, -1).unsqueeze(-1),
            top,
            top / median,
            peak / (mean + _EPS),
            torch.gather(coherence, -1, where).mean(-1, keepdim=True),
            (coherence * cells).sum(-1, keepdim=True) / (cells.sum(-1, keepdim=True) + _EPS),
            change.amax(-1, keepdim=True),
            change.mean(-1, keepdim=True),
            top_change / median,
            torch.log(median),
        ],
        dim=-1,
    )


def _summarise_steps(steps: torch.Tensor) -> torch.Tensor:
    """``[B, P, K]`` -> ``[B, 4K]``: mean, max, std over pairs, mean over pairs after the first."""
    return torch.cat([steps.mean(1), steps.amax(1), _std(steps, 1), steps[:, 1:].mean(1)], dim=1)


def clip_flow(gray: torch.Tensor, **pyramid: int) -> torch.Tensor:
    """``[B, T, S, S]`` thumbnails -> flow ``[B, T-1, 2, S, S]`` between consecutive frames.

    ``pyramid`` overrides :func:`pyramid_flow`'s levels, window or iterations (experiments).
    """
    steps, size = int(gray.shape[1]), int(gray.shape[-1])
    a = gray[:, :-1].reshape(-1, 1, size, size)
    b = gray[:, 1:].reshape(-1, 1, size, size)
    return pyramid_flow(a, b, **pyramid).reshape(-1, steps - 1, 2, size, size)


def flow_statistics(gray: torch.Tensor, **pyramid: int) -> torch.Tensor:
    """``[B, T, S, S]`` thumbnails -> ``[B, FLOW_DIM]`` pyramidal-flow statistics (T >= 3)."""
    return _summarise_steps(flow_step_statistics(clip_flow(gray, **pyramid)))


def _over_cells(cells: torch.Tensor) -> torch.Tensor:
    """``[B, P, cells]`` -> ``[B, P, 5]``: mean, max, std, top-3 mean, max / mean."""
    mean = cells.mean(-1, keepdim=True)
    peak = cells.amax(-1, keepdim=True)
    top = torch.topk(cells, TOP, dim=-1).values.mean(-1, keepdim=True)
    return torch.cat([mean, peak, _std(cells, -1).unsqueeze(-1), top, peak / (mean + 1e-6)], dim=-1)


def _over_time(per_pair: torch.Tensor) -> torch.Tensor:
    """``[B, P, K]`` -> ``[B, 4K]``: mean, max, std and min over pairs."""
    return torch.cat(
        [per_pair.mean(1), per_pair.amax(1), _std(per_pair, 1), per_pair.amin(1)], dim=1
    )


def difference_statistics(gray: torch.Tensor) -> torch.Tensor:
    """``[B, T, S, S]`` thumbnails -> ``[B, DIFFERENCE_DIM]`` frame-difference statistics.

    Absolute differences of consecutive frames per cell: raw, divided by the frame's
    contrast, divided by the median cell (flicker, shake), and the second difference
    (acceleration) over contrast, each summarised over cells and then over time.
    """
    cells = cell_means((gray[:, 1:] - gray[:, :-1]).abs())
    frames = gray[:, :-1].flatten(2)
    contrast = _std(frames, -1).unsqueeze(-1) + _EPS
    median = _median(cells) + _EPS
    second = cell_means((gray[:, 2:] - 2 * gray[:, 1:-1] + gray[:, :-2]).abs()) / contrast[:, 1:]
    return torch.cat(
        [
            _over_time(_over_cells(cells)),
            _over_time(_over_cells(cells / contrast)),
            _over_time(_over_cells(cells / median)),
            _over_time(_over_cells(second)),
        ],
        dim=1,
    )


def motion_statistics(gray: torch.Tensor, **pyramid: int) -> torch.Tensor:
    """``[B, T, S, S]`` thumbnails -> ``[B, MOTION_DIM]``: difference then flow statistics."""
    return torch.cat([difference_statistics(gray), flow_statistics(gray, **pyramid)], dim=1)
