"""Sliding windows: stride, gap detection and per-camera clip assembly (table-driven)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY
from pydantic import ValidationError

from edge.clips import ClipAssembler, ClipConfig, Windower, WindowSpec
from edge.values import PreparedFrame
from models.card import InputSpec

_cameras = itertools.count()


@dataclass(frozen=True)
class Item:
    index: int
    captured_at: float


def _drops(camera: str, reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "streetsense_drops_total", {"camera": camera, "stage": "clip", "reason": reason}
    )
    return value or 0.0


def _run(spec: WindowSpec, steps: list[float]) -> tuple[str, list[list[int]]]:
    """Push items spaced ``steps`` sample intervals apart; return the windows' item indices."""
    camera = f"window-{next(_cameras)}"
    windower: Windower[Item] = Windower(camera, spec)
    at = 1000.0
    windows = []
    for index, step in enumerate([0.0, *steps]):
        at += step * spec.interval_s
        window = windower.push(Item(index, at))
        if window is not None:
            windows.append([item.index for item in window])
    return camera, windows


@pytest.mark.parametrize(
    ("size", "stride", "count", "expected"),
    [
        (4, 1, 6, [[0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5]]),
        (4, 2, 8, [[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7]]),
        (3, 3, 9, [[0, 1, 2], [3, 4, 5], [6, 7, 8]]),
        (2, 5, 12, [[0, 1], [5, 6], [10, 11]]),
        (5, 1, 4, []),
        (1, 1, 3, [[0], [1], [2]]),
    ],
)
def test_window_stride(size: int, stride: int, count: int, expected: list[list[int]]) -> None:
    spec = WindowSpec(size=size, stride=stride, interval_s=0.125)
    camera, windows = _run(spec, [1.0] * (count - 1))
    assert windows == expected
    assert _drops(camera, "gap") == 0
    assert _drops(camera, "gap_in_window") == 0


@pytest.mark.parametrize(
    ("steps", "max_missing", "expected", "gaps", "skipped"),
    [
        # jitter below the gap factor (1.5 intervals) is not a gap
        ([1.4, 0.6, 1.0, 1.3], 0, [[0, 1, 2, 3], [1, 2, 3, 4]], 0, 0),
        # one sampled frame missing between items 2 and 3, tolerated
        ([1.0, 1.0, 2.0, 1.0], 1, [[0, 1, 2, 3], [1, 2, 3, 4]], 1, 0),
        # the same gap with no tolerance: both windows spanning it are skipped
        ([1.0, 1.0, 2.0, 1.0, 1.0, 1.0], 0, [[3, 4, 5, 6]], 1, 3),
        # three missing: windows containing both sides are skipped, then windows resume
        ([1.0, 4.0, 1.0, 1.0, 1.0], 1, [[2, 3, 4, 5]], 3, 2),
        # a long outage (camera down for a minute)
        ([1.0, 1.0, 1.0, 480.0, 1.0, 1.0, 1.0], 1, [[0, 1, 2, 3], [4, 5, 6, 7]], 479, 3),
    ],
)
def test_gap_detection(
    steps: list[float], max_missing: int, expected: list[list[int]], gaps: int, skipped: int
) -> None:
    spec = WindowSpec(size=4, stride=1, interval_s=0.125, max_missing=max_missing)
    camera, windows = _run(spec, steps)
    assert windows == expected
    assert _drops(camera, "gap") == gaps
    assert _drops(camera, "gap_in_window") == skipped


def test_clock_step_back_restarts_the_window() -> None:
    spec = WindowSpec(size=3, stride=1, interval_s=0.125)
    camera, windows = _run(spec, [1.0, 1.0, -3600.0, 1.0, 1.0, 1.0])
    # item 3 was stamped an hour before item 2: the window restarts there
    assert windows == [[0, 1, 2], [3, 4, 5], [4, 5, 6]]
    assert _drops(camera, "out_of_order") == 1
    assert _drops(camera, "gap") == 0


def test_reset_forgets_buffered_items() -> None:
    windower: Windower[Item] = Windower("reset", WindowSpec(size=2, stride=1, interval_s=0.1))
    assert windower.push(Item(0, 1.0)) is None
    windower.reset()
    assert windower.push(Item(1, 0.5)) is None  # an earlier time is fine after a reset
    window = windower.push(Item(2, 0.6))
    assert window is not None
    assert [item.index for item in window] == [1, 2]


def test_spec_from_card_and_config() -> None:
    spec = InputSpec(frames=8, height=32, width=32, color="rgb", sample_fps=4, clip_stride_frames=2)
    assert WindowSpec.from_card(spec) == WindowSpec(size=8, stride=2, interval_s=0.25)
    config = ClipConfig(stride_frames=4, gap_factor=2.5, max_missing_frames=0)
    assert WindowSpec.from_card(spec, config) == WindowSpec(
        size=8, stride=4, interval_s=0.25, gap_factor=2.5, max_missing=0
    )


def test_assembler_keeps_cameras_apart() -> None:
    assembler = ClipAssembler(WindowSpec(size=3, stride=1, interval_s=0.125))
    tensor = np.zeros((3, 4, 4), dtype=np.float32)
    clips = []
    for seq in range(4):
        for camera in ("asm-a", "asm-b"):
            frame = PreparedFrame(camera, seq, 1000.0 + seq * 0.125, tensor)
            clip = assembler.push(frame)
            if clip is not None:
                clips.append(clip)
    assert [(clip.camera, [f.seq for f in clip.frames]) for clip in clips] == [
        ("asm-a", [0, 1, 2]),
        ("asm-b", [0, 1, 2]),
        ("asm-a", [1, 2, 3]),
        ("asm-b", [1, 2, 3]),
    ]
    assert clips[0].started_at == 1000.0
    assert clips[0].ended_at == 1000.25


@settings(max_examples=150, deadline=None)
@given(
    size=st.integers(1, 6),
    stride=st.integers(1, 4),
    max_missing=st.integers(0, 3),
    steps=st.lists(
        st.one_of(
            st.just(1.0),
            st.floats(0.5, 1.4),  # jitter, not a gap
            # n intervals, off the rounding boundaries: n - 1 frames missing
            st.builds(lambda n, jitter: n + jitter, st.integers(2, 6), st.floats(-0.3, 0.3)),
        ),
        max_size=40,
    ),
)
def test_window_invariants(size: int, stride: int, max_missing: int, steps: list[float]) -> None:
    spec = WindowSpec(size=size, stride=stride, interval_s=0.125, max_missing=max_missing)
    camera, windows = _run(spec, steps)
    count = len(steps) + 1
    due = max(0, (count - size) // stride + 1)
    # every due window is either emitted or counted as skipped, never silently lost
    assert len(windows) + _drops(camera, "gap_in_window") == due
    missing = [0] + [max(1, round(step) - 1) if step > 1.5 else 0 for step in steps]
    assert _drops(camera, "gap") == sum(missing)
    for window in windows:
        assert window == list(range(window[0], window[0] + size))
        assert (window[-1] + 1 - size) % stride == 0
        assert sum(missing[window[0] + 1 : window[-1] + 1]) <= max_missing


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"gap_factor": 1.0}, "greater than 1"),
        ({"stride_frames": 0}, "greater than or equal to 1"),
        ({"max_missing_frames": -1}, "greater than or equal to 0"),
        ({"window": 8}, "Extra inputs"),
    ],
)
def test_clip_config_rejects_bad_values(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ClipConfig.model_validate(raw)
