"""Snapshots: only for START events, privacy-masked frame as JPEG, deleted after retention."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge.fusion import Fusion, FusionConfig, SmoothingConfig, SnapshotStore
from edge.values import Classification
from events import ModelRef, Phase
from models.card import LabelAlert

T0 = 1_760_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def _clip(at: float, score: float) -> Classification:
    return Classification(
        camera="cam1",
        clip_started_at=at - 1,
        clip_ended_at=at,
        scores={"fight": score},
        model=ModelRef(name="m", version="1"),
        inference_seconds=0.0,
    )


def test_snapshot_only_for_start_and_swept_after_retention(tmp_path: Path) -> None:
    clock = Clock()
    store = SnapshotStore(tmp_path / "snaps", retention_s=3600, clock=clock)
    masked = np.zeros((48, 64, 3), dtype=np.uint8)
    masked[:, 32:] = 255  # right half bright, left half "masked"
    taken: list[str] = []

    def take(camera: str, incident_id: str) -> str | None:
        ref = store.save(camera, incident_id, masked)
        if ref:
            taken.append(ref)
        return ref

    fusion = Fusion(
        FusionConfig(
            smoothing=SmoothingConfig(alpha=1, confirm_clips=1, clear_margin=0, clear_hold_s=0)
        ),
        site="s",
        agent="a",
        clock=clock,
        alerts={"fight": LabelAlert(category="fight", threshold=0.5)},
        snapshots=take,
    )
    (start,) = fusion.on_classification(_clip(T0, 0.9))
    clock.now += 1
    (update,) = fusion.on_classification(_clip(clock.now, 0.6))
    clock.now += 1
    (end,) = fusion.on_classification(_clip(clock.now, 0.1))
    assert [start.phase, update.phase, end.phase] == [Phase.START, Phase.UPDATE, Phase.END]
    assert start.evidence.snapshot_ref == taken[0]
    assert update.evidence.snapshot_ref is None and end.evidence.snapshot_ref is None
    assert len(taken) == 1
    path = tmp_path / "snaps" / taken[0]
    image = cv2.imread(str(path))
    assert image is not None
    assert image.shape == masked.shape
    assert image[:, :16].mean() < 10 and image[:, 48:].mean() > 240  # JPEG of the masked frame

    clock.now = T0 + 3599
    assert store.sweep() == 0 and path.exists()
    clock.now = T0 + 3601
    assert store.sweep() == 1 and not path.exists()


def test_sweep_leaves_foreign_files_alone(tmp_path: Path) -> None:
    clock = Clock()
    store = SnapshotStore(tmp_path, retention_s=1, clock=clock)
    (tmp_path / "notes.txt").write_text("keep me", encoding="utf-8")
    clock.now += 10
    assert store.sweep() == 0
    assert (tmp_path / "notes.txt").exists()
