"""The shipped fight model: files, checksums, card, embedded metadata, I/O contract."""

from __future__ import annotations

from pathlib import Path

import onnx
import onnxruntime as ort
import pytest
import yaml

from models import shipped_card_path
from models.card import ModelCard, OnnxFile, sha256_of
from models.fight.cardfile import strip_checksums

CARD_KEY = "streetsense.card"
FORMS = [
    "frame_model",
    "clip_head",
    "clip_model",
    "frame_model_int8",
    "clip_head_int8",
    "clip_model_int8",
]


def _entries(card: ModelCard) -> dict[str, OnnxFile]:
    assert card.streaming is not None
    assert card.fused is not None
    entries = {
        "frame_model": card.streaming.frame_model,
        "clip_head": card.streaming.clip_head,
        "clip_model": card.fused.clip_model,
    }
    entries.update({f"{k}_int8": v for k, v in card.int8.items()})
    return entries


def test_card_validates_and_names_both_forms_and_int8(card: ModelCard) -> None:
    assert card.labels == ("no_fight", "fight")
    assert set(card.alerts) == {"fight"}
    assert card.alerts["fight"].category == "fight"
    assert card.alerts["fight"].severity == "high"
    assert 0 < card.alerts["fight"].threshold < 1
    assert card.streaming is not None
    assert card.fused is not None
    assert set(card.int8) == {"frame_model", "clip_head", "clip_model"}
    assert all(entry.precision == "int8" for entry in card.int8.values())
    assert card.input.sample_fps == pytest.approx(card.input.frames / 2.0)


def test_no_untrained_classes_are_claimed(card: ModelCard) -> None:
    text = " ".join(card.labels) + " " + " ".join(card.alerts)
    for claim in ("fall", "fire", "loiter"):
        assert claim not in text


@pytest.mark.parametrize("form", FORMS)
def test_shipped_file_matches_card_checksum(card: ModelCard, card_dir: Path, form: str) -> None:
    entry = _entries(card)[form]
    files = entry.checked_files(card_dir)
    for path, expected in files:
        assert path.is_file()
        assert sha256_of(path) == expected
    # the backbone's weights live in the shared data file, not in each graph
    assert files[0][0].stat().st_size < 512 * 1024
    assert (len(files) == 2) == form.startswith(("frame_model", "clip_model"))


def test_backbone_weights_are_shipped_once(card: ModelCard, card_dir: Path) -> None:
    data = {entry.external_data for entry in _entries(card).values() if entry.external_data}
    assert len(data) == 1  # fp32 and int8, streaming and fused: one weights file
    shipped = {
        path for entry in _entries(card).values() for path, _ in entry.checked_files(card_dir)
    }
    assert {path.name for path in card_dir.glob("*.onnx")} <= {path.name for path in shipped}
    # 6.9 MB of backbone weights plus seven graphs; the optical-flow clip heads are ~1,700
    # small nodes each (~0.3 MB), which took the total from 7.8 MB (model 1.0) to 8.7 MB.
    assert sum(path.stat().st_size for path in shipped) < 9 * 1000 * 1000


def test_fp32_files_hold_no_float16_arithmetic(card: ModelCard, card_dir: Path) -> None:
    """Weights are stored compactly but every Cast turns them back into float32 at load time."""
    assert card.fused is not None
    model = onnx.load(str(card.fused.clip_model.resolve(card_dir)), load_external_data=False)
    stored = {t.name: t.data_type for t in model.graph.initializer}
    assert onnx.TensorProto.FLOAT16 in stored.values()
    for node in model.graph.node:
        if node.op_type == "Cast" and stored.get(node.input[0]) == onnx.TensorProto.FLOAT16:
            assert {a.name: a.i for a in node.attribute}["to"] == onnx.TensorProto.FLOAT
    conv_weights = {node.input[1] for node in model.graph.node if node.op_type == "Conv"}
    assert not any(stored.get(name) == onnx.TensorProto.FLOAT16 for name in conv_weights)


@pytest.mark.parametrize("form", FORMS)
def test_embedded_metadata_is_the_card_without_checksums(
    card: ModelCard, card_dir: Path, form: str
) -> None:
    model = onnx.load(str(_entries(card)[form].resolve(card_dir)), load_external_data=False)
    embedded = {p.key: p.value for p in model.metadata_props}[CARD_KEY]
    on_disk = yaml.safe_load(shipped_card_path().read_text(encoding="utf-8"))
    assert yaml.safe_load(embedded) == strip_checksums(on_disk)


def test_io_contract_matches_the_card(
    card: ModelCard, sessions: dict[str, ort.InferenceSession]
) -> None:
    assert card.streaming is not None
    spec = card.input
    for name in ("frame_model", "frame_model_int8"):
        (inp,) = sessions[name].get_inputs()
        (out,) = sessions[name].get_outputs()
        assert (inp.name, out.name) == ("frames", "features")
        assert inp.shape[1:] == [3, spec.height, spec.width]
        assert isinstance(inp.shape[0], str)  # dynamic batch
        assert out.shape[1] == card.streaming.feature_dim
    for name in ("clip_head", "clip_head_int8"):
        (inp,) = sessions[name].get_inputs()
        assert inp.name == "features"
        assert inp.shape[2] == card.streaming.feature_dim
        assert sessions[name].get_outputs()[0].name == "probabilities"
    for name in ("clip_model", "clip_model_int8"):
        (inp,) = sessions[name].get_inputs()
        assert inp.name == "clip"
        assert inp.shape[1:] == [spec.frames, 3, spec.height, spec.width]
        assert isinstance(inp.shape[0], str)
        assert sessions[name].get_outputs()[0].shape[1] == len(card.labels)


def test_card_reports_grouped_evaluation_beside_the_baseline(card: ModelCard) -> None:
    evaluation = card.evaluation
    shipped = evaluation["shipped_head_threshold_0.5"]
    baseline = evaluation["baseline_160px_8frames_mean_plus_change"]
    for section in (shipped, baseline):
        assert {"mean", "std", "min", "max"} <= set(section["roc_auc"])
    assert shipped["roc_auc"]["mean"] > baseline["roc_auc"]["mean"]
    point = evaluation["shipped_head_operating_point"]
    assert point["threshold"] == card.alerts["fight"].threshold
    assert "false_alarms_per_hour" in point
    assert len(evaluation["reference_clips"]) >= 4
