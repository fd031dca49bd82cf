"""Cameras sampled at their own rate (keyframes-only decode) still form clips, without gap drops."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from edge.agent.pipeline import KEYFRAME_INTERVAL_LIMIT_S, camera_intervals
from edge.config import AgentConfig
from edge.inference import InferenceConfig, InferenceEngine, load_model
from edge.values import Classification, PreparedFrame
from tests.support.frames import camera_name, sample
from tests.support.tiny_model import build_tiny_model


def frames(camera: str, count: int, interval: float) -> list[PreparedFrame]:
    return [
        PreparedFrame(
            camera, seq, 1000.0 + seq * interval, np.full((3, 32, 32), seq % 3, np.float32)
        )
        for seq in range(count)
    ]


def run(card: Path, interval: float | None) -> tuple[int, float]:
    """Feed one keyframe a second from a fresh camera; return (clips classified, gap drops)."""
    camera = camera_name()
    results: list[Classification] = []
    done = threading.Event()

    def on_result(result: Classification) -> None:
        results.append(result)
        if len(results) >= 5:
            done.set()

    engine = InferenceEngine(
        load_model(InferenceConfig(card=card, max_wait_ms=1)),
        on_result,
        camera_intervals={camera: interval} if interval is not None else None,
    )
    engine.start()
    before = sample("streetsense_drops_total", camera, stage="clip", reason="gap")
    for frame in frames(camera, 8, interval=1.0):  # the card samples at 8 fps
        assert engine.submit_frame(frame)
    done.wait(5)
    engine.stop()
    after = sample("streetsense_drops_total", camera, stage="clip", reason="gap")
    return len(results), after - before


def test_keyframe_camera_forms_clips_with_its_own_interval(tmp_path: Path) -> None:
    card = build_tiny_model(tmp_path / "model", frames=4, size=32, sample_fps=8.0)
    clips, gaps = run(card, KEYFRAME_INTERVAL_LIMIT_S)
    assert clips == 5  # windows at frames 4..8, stride 1
    assert gaps == 0


def test_without_its_interval_every_keyframe_is_a_gap(tmp_path: Path) -> None:
    card = build_tiny_model(tmp_path / "model", frames=4, size=32, sample_fps=8.0)
    clips, gaps = run(card, None)
    assert clips == 0
    assert gaps > 0


def test_intervals_from_the_agent_config(tmp_path: Path) -> None:
    card = build_tiny_model(tmp_path / "model", sample_fps=8.0)
    config = AgentConfig.model_validate(
        {
            "site": "s",
            "agent": "a",
            "model": {"card": str(card)},
            "cameras": [
                {"name": "normal", "url": "rtsp://x/1"},
                {"name": "slow", "url": "rtsp://x/2", "analysis_fps": 2},
                {"name": "kf", "url": "rtsp://x/3", "backend": "pyav", "decode": "keyframes"},
            ],
        }
    )
    assert camera_intervals(config) == {
        "normal": 0.125,
        "slow": 0.5,
        "kf": KEYFRAME_INTERVAL_LIMIT_S,
    }
