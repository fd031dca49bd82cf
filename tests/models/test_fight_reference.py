"""The shipped model classifies the card's reference clips as its evaluation says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from models.card import ModelCard
from models.fight.clips import prepare, sample_frames

pytestmark = pytest.mark.data


def _run(session: ort.InferenceSession, value: np.ndarray) -> np.ndarray:
    return np.asarray(session.run(None, {session.get_inputs()[0].name: value})[0])


def _clip_path(root: Path, name: str) -> Path:
    return root / ("fight" if name.startswith("fi") else "noFight") / f"{name}.mp4"


def test_reference_clips_get_their_labels(
    shared_data: Path, card: ModelCard, sessions: dict[str, ort.InferenceSession]
) -> None:
    references: dict[str, str] = card.evaluation["reference_clips"]
    assert set(references.values()) == {"fight", "no_fight"}
    spec = card.input
    threshold = card.alerts["fight"].threshold
    fight = card.labels.index("fight")
    for name, expected in references.items():
        frames = sample_frames(
            _clip_path(shared_data / "fight-surv", name), spec.frames, spec.frames / spec.sample_fps
        )
        clip = prepare(frames, spec.height)
        fused = _run(sessions["clip_model"], clip[None])[0, fight]
        streaming = _run(sessions["clip_head"], _run(sessions["frame_model"], clip)[None])[0, fight]
        int8 = _run(sessions["clip_model_int8"], clip[None])[0, fight]
        int8_streaming = _run(
            sessions["clip_head_int8"], _run(sessions["frame_model_int8"], clip)[None]
        )[0, fight]
        for score in (fused, streaming, int8, int8_streaming):
            assert ("fight" if score >= threshold else "no_fight") == expected, (name, score)
