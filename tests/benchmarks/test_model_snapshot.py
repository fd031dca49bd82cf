"""The benchmarks' copies of the shipped model load like the original (data file included)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.latency import always_alerting_card
from benchmarks.run_all import CARD, snapshot_model
from edge.inference import InferenceConfig, load_model
from models.card import load_card


def test_snapshot_copies_every_checked_file_and_loads(tmp_path: Path) -> None:
    copied = snapshot_model(CARD, tmp_path / "model")
    card = load_card(copied)
    assert card.streaming is not None
    for file in (card.streaming.frame_model, *card.int8.values()):
        for path, _ in file.checked_files(copied.parent):
            assert path.is_file()
            assert path.parent == (tmp_path / "model").resolve()
    loaded = load_model(InferenceConfig(card=copied, precision="int8"))
    assert loaded.card.name == load_card(CARD).name


def test_always_alerting_card_keeps_data_files_and_zeroes_thresholds(tmp_path: Path) -> None:
    card_path = always_alerting_card(CARD, tmp_path)
    card = load_card(card_path)
    assert card.streaming is not None
    data = card.streaming.frame_model.external_data
    assert data is not None and Path(data.path).is_absolute()
    assert all(alert.threshold == 0.0 for alert in card.alerts.values())
    load_model(InferenceConfig(card=card_path))
