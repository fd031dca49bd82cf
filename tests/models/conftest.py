"""Fixtures for the shipped model: its card and onnxruntime sessions over its files."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort
import pytest

from models import shipped_card_path
from models.card import ModelCard, load_card


def open_session(path: Path) -> ort.InferenceSession:
    """A one-thread CPU session (tests share two cores with everyone else)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="session")
def card() -> ModelCard:
    """The shipped, validated model card."""
    return load_card(shipped_card_path())


@pytest.fixture(scope="session")
def card_dir() -> Path:
    """Folder of the shipped card and its ONNX files."""
    return shipped_card_path().parent


@pytest.fixture(scope="session")
def sessions(card: ModelCard, card_dir: Path) -> dict[str, ort.InferenceSession]:
    """Sessions keyed 'frame_model', 'clip_head', 'clip_model' and '<form>_int8'."""
    assert card.streaming is not None
    assert card.fused is not None
    out = {
        "frame_model": open_session(card.streaming.frame_model.resolve(card_dir)),
        "clip_head": open_session(card.streaming.clip_head.resolve(card_dir)),
        "clip_model": open_session(card.fused.clip_model.resolve(card_dir)),
    }
    for form, entry in card.int8.items():
        out[f"{form}_int8"] = open_session(entry.resolve(card_dir))
    return out
