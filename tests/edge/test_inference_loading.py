"""Model loading: provider selection, checksums, forms, precision and shape checks."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import yaml
from pydantic import ValidationError

from edge.inference import InferenceConfig, ModelError, load_model, select_providers
from models.card import sha256_of
from tests.support.tiny_model import FEATURES, build_tiny_model

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TRT = "TensorrtExecutionProvider"
OPENVINO = "OpenVINOExecutionProvider"


@pytest.mark.parametrize(
    ("preference", "available", "expected"),
    [
        (["cpu"], [CPU], [CPU]),
        (["tensorrt", "cuda", "openvino", "cpu"], [CPU], [CPU]),
        (["tensorrt", "cuda", "cpu"], [TRT, CUDA, CPU], [TRT, CUDA, CPU]),
        (["cuda", "tensorrt"], [TRT, CUDA, CPU], [CUDA, TRT, CPU]),
        (["tensorrt", "cuda"], [CUDA, CPU], [CUDA, CPU]),
        (["openvino"], [OPENVINO, CPU], [OPENVINO, CPU]),
        (["cuda"], ["AzureExecutionProvider", CPU], [CPU]),
        (["cpu", "cuda"], [CUDA, CPU], [CPU]),  # nothing after the last resort is used
        (["cuda", "cuda", "cpu"], [CUDA, CPU], [CUDA, CPU]),
        (["cuda"], [], [CPU]),
    ],
)
def test_provider_selection(
    preference: list[Any], available: list[str], expected: list[str]
) -> None:
    assert select_providers(preference, available) == expected


def test_unknown_provider_key_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="providers"):
        InferenceConfig.model_validate({"card": "card.yaml", "providers": ["tpu"]})
    with pytest.raises(ValidationError, match="Extra inputs"):
        InferenceConfig.model_validate({"card": "card.yaml", "batch": 4})


@pytest.fixture
def card(tmp_path: Path) -> Path:
    return build_tiny_model(tmp_path / "tiny")


def _edit_card(card: Path, **changes: Any) -> None:
    raw = yaml.safe_load(card.read_text())
    for dotted, value in changes.items():
        node = raw
        *parents, leaf = dotted.split("__")
        for key in parents:
            node = node[key]
        if value is None:
            del node[leaf]
        else:
            node[leaf] = value
    card.write_text(yaml.safe_dump(raw))


def test_loads_streaming_by_default_and_logs_providers(
    card: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="edge.inference.loader")
    model = load_model(InferenceConfig(card=card, providers=("cuda", "cpu")), available=[CPU])
    assert model.form == "streaming"
    assert model.providers == (CPU,)
    assert model.frame_model is not None
    assert model.clip_head is not None
    assert model.clip_model is None
    assert model.ref.name == "tiny-motion"
    assert model.ref.version == "1.0.0"
    assert "not used: ['cuda']" in caplog.text
    features = model.frame_model.run(np.zeros((3, 3, 32, 32), dtype=np.float32))
    assert features.shape == (3, FEATURES)


def test_fused_form_on_request(card: Path) -> None:
    model = load_model(InferenceConfig(card=card, form="fused"))
    assert model.form == "fused"
    assert model.clip_model is not None
    assert model.frame_model is None


def test_auto_uses_fused_when_the_card_has_only_that(card: Path) -> None:
    _edit_card(card, streaming=None)
    assert load_model(InferenceConfig(card=card)).form == "fused"
    with pytest.raises(ModelError, match="has no streaming form"):
        load_model(InferenceConfig(card=card, form="streaming"))


def test_missing_file_names_the_file(card: Path) -> None:
    (card.parent / "head.onnx").unlink()
    with pytest.raises(ModelError, match=r"clip_head file missing: .*head\.onnx"):
        load_model(InferenceConfig(card=card))


def test_checksum_mismatch_names_the_file(card: Path) -> None:
    path = card.parent / "frame.onnx"
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ModelError, match=r"frame_model file .*frame\.onnx fails its checksum"):
        load_model(InferenceConfig(card=card))
    # the fused form does not use that file and still loads
    assert load_model(InferenceConfig(card=card, form="fused")).form == "fused"


def test_missing_or_invalid_card(tmp_path: Path, card: Path) -> None:
    with pytest.raises(ModelError, match="model card not found"):
        load_model(InferenceConfig(card=tmp_path / "nope.yaml"))
    _edit_card(card, labels=[])
    with pytest.raises(ModelError, match="invalid model card"):
        load_model(InferenceConfig(card=card))
    card.write_text("name: [unclosed")
    with pytest.raises(ModelError, match="invalid model card"):
        load_model(InferenceConfig(card=card))


def test_not_an_onnx_file(card: Path) -> None:
    path = card.parent / "head.onnx"
    path.write_bytes(b"not a model")
    _edit_card(card, streaming__clip_head__sha256=sha256_of(path))
    with pytest.raises(ModelError, match=r"clip_head file .* could not be loaded by onnxruntime"):
        load_model(InferenceConfig(card=card))


@pytest.mark.parametrize(
    ("changes", "form", "message"),
    [
        ({"input__height": 64}, "streaming", r"frame_model frame\.onnx: input 'frames' has shape"),
        ({"input__width": 16}, "fused", r"clip_model clip\.onnx: input 'clip' has shape"),
        ({"input__frames": 8}, "streaming", r"clip_head head\.onnx: input 'features'"),
        ({"streaming__feature_dim": 16}, "streaming", r"output 'features' has shape"),
        ({"labels": ["a", "b", "c"], "alerts": {}}, "fused", r"output 'probabilities'"),
    ],
)
def test_shape_mismatch_with_the_card(
    card: Path, changes: dict[str, Any], form: Any, message: str
) -> None:
    _edit_card(card, **changes)
    with pytest.raises(ModelError, match=message):
        load_model(InferenceConfig(card=card, form=form))


def test_int8_uses_the_twin(tmp_path: Path) -> None:
    card = build_tiny_model(tmp_path / "int8", int8_twin=True)
    twin = card.parent / "frame.int8.onnx"
    twin.write_bytes(twin.read_bytes() + b"\0")
    assert load_model(InferenceConfig(card=card)).form == "streaming"  # fp32 does not read it
    with pytest.raises(ModelError, match=r"frame\.int8\.onnx fails its checksum"):
        load_model(InferenceConfig(card=card, precision="int8"))


def test_int8_without_twins_is_an_error(card: Path) -> None:
    with pytest.raises(ModelError, match="no int8 twin for frame_model, clip_head"):
        load_model(InferenceConfig(card=card, precision="int8"))


@pytest.mark.parametrize(("batch", "calls"), [(1, 5), (2, 3), (4, 2)])
def test_fixed_batch_model_is_fed_in_chunks(tmp_path: Path, batch: int, calls: int) -> None:
    card = build_tiny_model(tmp_path / "fixed", fixed_batch=batch)
    model = load_model(InferenceConfig(card=card))
    assert model.frame_model is not None
    assert model.frame_model.fixed_batch == batch
    frames = np.random.default_rng(1).random((5, 3, 32, 32), dtype=np.float32)
    features = model.frame_model.run(frames)
    assert model.frame_model.calls == calls
    assert model.frame_model.items == 5
    reference = load_model(InferenceConfig(card=build_tiny_model(tmp_path / "dynamic")))
    assert reference.frame_model is not None
    np.testing.assert_allclose(features, reference.frame_model.run(frames), atol=1e-6)
    assert reference.frame_model.calls == 1


def _frame_weights_outside(card: Path, declare: bool = True) -> Path:
    """Move the tiny frame model's tensors into ``frame.data``; list it in the card if asked."""
    path = card.parent / "frame.onnx"
    model = onnx.load(str(path))
    onnx.save_model(
        model, str(path), save_as_external_data=True, location="frame.data", size_threshold=0
    )
    data = card.parent / "frame.data"
    changes: dict[str, Any] = {"streaming__frame_model__sha256": sha256_of(path)}
    if declare:
        changes["streaming__frame_model__external_data"] = {
            "path": "frame.data",
            "sha256": sha256_of(data),
        }
    _edit_card(card, **changes)
    return data


def test_external_data_listed_in_the_card_loads(card: Path) -> None:
    frames = np.random.default_rng(2).random((2, 3, 32, 32), dtype=np.float32)
    inline = load_model(InferenceConfig(card=card)).frame_model
    assert inline is not None
    expected = inline.run(frames)
    data = _frame_weights_outside(card)
    assert data.stat().st_size > 0
    assert len(
        onnx.load(str(card.parent / "frame.onnx"), load_external_data=False).graph.initializer
    )
    outside = load_model(InferenceConfig(card=card)).frame_model
    assert outside is not None
    np.testing.assert_array_equal(outside.run(frames), expected)


def test_external_data_is_checksummed(card: Path) -> None:
    data = _frame_weights_outside(card)
    data.write_bytes(data.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(
        ModelError, match=r"frame_model external data .*frame\.data fails its checksum"
    ):
        load_model(InferenceConfig(card=card))
    data.unlink()
    with pytest.raises(ModelError, match=r"frame_model external data missing: .*frame\.data"):
        load_model(InferenceConfig(card=card))


def test_external_data_the_card_does_not_list_is_refused(card: Path) -> None:
    _frame_weights_outside(card, declare=False)
    with pytest.raises(
        ModelError, match=r"reads external data 'frame\.data' that the card does not"
    ):
        load_model(InferenceConfig(card=card))
