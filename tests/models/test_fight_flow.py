"""The clip head's optical flow and motion statistics (torch, exported to ONNX)."""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch", reason="the model build extras (pip install -e '.[model]')")

from models.fight import flow, motion  # noqa: E402
from models.fight.export import export  # noqa: E402
from models.fight.heads import MotionStatistics  # noqa: E402
from models.fight.layout import FEATURE_DIM, FLOW_START, FLOW_THUMB  # noqa: E402

SIZE = FLOW_THUMB


def _texture(seed: int = 0, side: int = 140, sigma: float = 1.5) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    noise = rng.random((side, side)).astype(np.float32)
    blurred = cv2.GaussianBlur(noise, (0, 0), sigma)
    return np.asarray((blurred - blurred.min()) / (blurred.max() - blurred.min()), np.float32)


def _shifted_pair(dx: int, dy: int) -> tuple[np.ndarray, np.ndarray]:
    """``b`` shows ``a``'s content moved by (dx, dy) pixels."""
    base = _texture()
    a = base[30 : 30 + SIZE, 30 : 30 + SIZE].copy()
    b = base[30 - dy : 30 - dy + SIZE, 30 - dx : 30 - dx + SIZE].copy()
    return a, b


def _t(image: np.ndarray) -> Any:
    return torch.from_numpy(image)[None, None]


def _clip(moving: bool, steps: int = 8) -> np.ndarray:
    """``[T, S, S]``: a textured background; a patch moves to and fro when ``moving``."""
    base = _texture(1, side=SIZE)
    patch = _texture(2, side=24, sigma=1.0)
    frames = []
    for t in range(steps):
        frame = base.copy()
        x = 12 + (5 * (t % 4) if moving else 0)
        frame[30:54, x : x + 24] = patch
        frames.append(frame)
    return np.stack(frames)


def test_flow_matches_the_experiments_numpy_version() -> None:
    a, b = _shifted_pair(3, -2)
    reference = motion.pyramid_flow(a, b)
    ours = flow.pyramid_flow(_t(a), _t(b))[0].permute(1, 2, 0).numpy()
    assert np.abs(ours - reference).max() < 1e-4


def test_flow_recovers_a_translation() -> None:
    a, b = _shifted_pair(3, -2)
    converged = flow.pyramid_flow(_t(a), _t(b), iterations=5)[0]
    inner = converged[:, 10:-10, 10:-10].flatten(1).median(dim=1).values
    assert inner[0].item() == pytest.approx(3.0, abs=0.1)
    assert inner[1].item() == pytest.approx(-2.0, abs=0.1)
    # The shipped setting (2 steps per level) stops short but points the right way.
    shipped = flow.pyramid_flow(_t(a), _t(b))[0]
    inner = shipped[:, 10:-10, 10:-10].flatten(1).median(dim=1).values
    assert 0.85 * 3 < inner[0].item() <= 3.1
    assert -2.1 <= inner[1].item() < -0.85 * 2


def test_filters_match_opencv() -> None:
    image = _texture()[:SIZE, :SIZE]
    kernel = np.array([1, 4, 6, 4, 1], np.float32) / 16
    blurred = cv2.sepFilter2D(image, -1, kernel, kernel, borderType=cv2.BORDER_REFLECT_101)
    assert np.abs(flow.binomial_blur(_t(image))[0, 0].numpy() - blurred).max() < 1e-6
    assert np.abs(flow.pyr_down(_t(image))[0, 0].numpy() - cv2.pyrDown(image)).max() < 1e-6


def test_statistics_match_the_numpy_summaries() -> None:
    gray = _clip(moving=True)
    steps: list[list[float]] = []
    previous = None
    for a, b in itertools.pairwise(gray):
        field = motion.pyramid_flow(a, b)
        steps.append(motion._flow_step(field, previous, flow.GRID))
        previous = field
    expected_flow = motion._summarise_steps(steps)
    diff = np.abs(np.diff(gray, axis=0))
    cells = motion._cell_mean(diff, flow.GRID)
    contrast = gray[:-1].std((1, 2))[:, None] + 1e-3
    median = np.median(cells, -1, keepdims=True) + 1e-3
    second = motion._cell_mean(np.abs(np.diff(gray, 2, axis=0)), flow.GRID) / contrast[1:]
    expected_difference = np.concatenate(
        [
            motion.over_time(motion.over_cells(cells)),
            motion.over_time(motion.over_cells(cells / contrast)),
            motion.over_time(motion.over_cells(cells / median)),
            motion.over_time(motion.over_cells(second)),
        ]
    )
    ours = flow.motion_statistics(torch.from_numpy(gray)[None])[0].double().numpy()
    assert ours.shape == (flow.MOTION_DIM,)
    expected = np.concatenate([expected_difference, expected_flow])
    assert np.abs(ours - expected).max() < 1e-4 * max(1.0, np.abs(expected).max())


def test_moving_patch_stands_out_and_a_still_clip_has_no_motion() -> None:
    still = flow.motion_statistics(torch.from_numpy(_clip(moving=False))[None])[0]
    moving = flow.motion_statistics(torch.from_numpy(_clip(moving=True))[None])[0]
    assert torch.isfinite(moving).all() and torch.isfinite(still).all()
    flow_part = slice(flow.DIFFERENCE_DIM, None)
    # Index 1 of the flow block: mean over time of the strongest cell's flow magnitude.
    assert moving[flow_part][1] > 0.5
    assert still[flow_part][1] < 1e-3
    assert still[:5].abs().max() == 0.0  # no frame difference at all


def test_exported_motion_statistics_match_torch_and_hold_no_conv(tmp_path: Path) -> None:
    features = torch.rand(3, 8, FEATURE_DIM)
    features[:, :, FLOW_START:] = torch.from_numpy(
        np.stack([_clip(True), _clip(False), _clip(True)[::-1].copy()])
    ).flatten(2)
    path = tmp_path / "motion.onnx"
    with warnings.catch_warnings():  # legacy exporter, fixed thumbnail sizes, strided slices
        warnings.simplefilter("ignore")
        export(
            MotionStatistics(), features, path, "features", "statistics", {0: "batch", 1: "time"}
        )
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert "Conv" not in ops  # static int8 quantisation of Conv nodes must leave the flow alone
    assert {"GridSample", "AveragePool", "TopK"} <= ops
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"features": features.numpy()})[0]
    with torch.inference_mode():
        expected = MotionStatistics()(features).numpy()
    assert np.abs(got - expected).max() < 1e-3 * max(1.0, float(np.abs(expected).max()))
