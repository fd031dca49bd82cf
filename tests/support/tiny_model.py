"""A tiny deterministic video classifier in both runtime forms, built with onnx.helper.

* frame model: ``frames`` [N, 3, S, S] -> global average pool -> fixed linear map
  -> ``features`` [N, 8];
* clip head: ``features`` [B, T, 8] -> mean absolute frame-to-frame feature change
  ``m`` -> logits ``[-K m + C, K m - C]`` -> softmax -> ``probabilities`` over
  ("still", "motion");
* fused clip model: ``clip`` [B, T, 3, S, S] -> the same computation in one graph.

A static clip scores "still", a clip whose colours change scores "motion".
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import yaml
from onnx import TensorProto, helper, numpy_helper

from models.card import sha256_of

FEATURES = 8
LABELS = ("still", "motion")
GAIN = 10.0  # K
BIAS = 1.0  # C
OPSET = 17

# Fixed projection of the 3 mean channel values to 8 features.
PROJECTION = np.cos(np.outer(np.arange(1, 4), np.arange(1, FEATURES + 1))).astype(np.float32)


def expected_motion(features: np.ndarray) -> np.ndarray:
    """Reference "motion" probability for feature windows [B, T, D] (what the head computes)."""
    change = np.abs(np.diff(features, axis=1)).mean(axis=(1, 2))
    return np.asarray(1.0 / (1.0 + np.exp(-2.0 * (GAIN * change - BIAS))))


def build_tiny_model(
    directory: Path,
    *,
    frames: int = 4,
    size: int = 32,
    stride: int = 1,
    sample_fps: float = 8.0,
    fixed_batch: int | None = None,
    int8_twin: bool = False,
) -> Path:
    """Write the ONNX files and a matching ``card.yaml`` into ``directory``; return the card path.

    ``fixed_batch`` exports every model with that static batch size instead of a
    dynamic one; ``int8_twin`` adds an "int8" entry for the frame model (a copy:
    it only exercises the card's twin selection).
    """
    directory.mkdir(parents=True, exist_ok=True)
    batch: int | str = fixed_batch if fixed_batch is not None else "batch"
    _save(_frame_model(batch, size), directory / "frame.onnx")
    _save(_clip_head(batch, frames), directory / "head.onnx")
    _save(_clip_model(batch, frames, size), directory / "clip.onnx")
    card: dict[str, Any] = {
        "name": "tiny-motion",
        "version": "1.0.0",
        "labels": list(LABELS),
        "alerts": {"motion": {"category": "motion", "threshold": 0.5, "severity": "low"}},
        "input": {
            "frames": frames,
            "height": size,
            "width": size,
            "color": "rgb",
            "sample_fps": sample_fps,
            "clip_stride_frames": stride,
        },
        "normalization": {"scale": 255.0, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
        "streaming": {
            "frame_model": _entry(directory, "frame.onnx"),
            "clip_head": _entry(directory, "head.onnx"),
            "feature_dim": FEATURES,
        },
        "fused": {"clip_model": _entry(directory, "clip.onnx")},
        "intended_use": "tests only",
    }
    if int8_twin:
        shutil.copyfile(directory / "frame.onnx", directory / "frame.int8.onnx")
        card["int8"] = {"frame_model": _entry(directory, "frame.int8.onnx", "int8")}
    path = directory / "card.yaml"
    path.write_text(yaml.safe_dump(card, sort_keys=False), encoding="utf-8")
    return path


def _entry(directory: Path, name: str, precision: str = "fp32") -> dict[str, str]:
    return {"path": name, "sha256": sha256_of(directory / name), "precision": precision}


def _save(graph: onnx.GraphProto, path: Path) -> None:
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="streetsense-tests"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _constant(name: str, value: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value), name=name)


def _head_nodes(features: str) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """Nodes from a [B, T, D] tensor named ``features`` to ``probabilities`` [B, 2]."""
    nodes = [
        helper.make_node("Slice", [features, "one", "max", "axis1"], ["later"]),
        helper.make_node("Slice", [features, "zero", "minus_one", "axis1"], ["earlier"]),
        helper.make_node("Sub", ["later", "earlier"], ["delta"]),
        helper.make_node("Abs", ["delta"], ["magnitude"]),
        helper.make_node("ReduceMean", ["magnitude"], ["change"], axes=[1, 2], keepdims=0),
        helper.make_node("Unsqueeze", ["change", "axis1"], ["change_column"]),
        helper.make_node("MatMul", ["change_column", "gain"], ["scaled"]),
        helper.make_node("Add", ["scaled", "bias"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
    ]
    constants = [
        _constant("zero", np.array([0], dtype=np.int64)),
        _constant("one", np.array([1], dtype=np.int64)),
        _constant("minus_one", np.array([-1], dtype=np.int64)),
        _constant("max", np.array([np.iinfo(np.int64).max], dtype=np.int64)),
        _constant("axis1", np.array([1], dtype=np.int64)),
        _constant("gain", np.array([[-GAIN, GAIN]], dtype=np.float32)),
        _constant("bias", np.array([BIAS, -BIAS], dtype=np.float32)),
    ]
    return nodes, constants


def _output(batch: int | str) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [batch, len(LABELS)])


def _frame_model(batch: int | str, size: int) -> onnx.GraphProto:
    nodes = [
        helper.make_node("GlobalAveragePool", ["frames"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["means"], axis=1),
        helper.make_node("MatMul", ["means", "projection"], ["features"]),
    ]
    return helper.make_graph(
        nodes,
        "tiny_frame_model",
        [helper.make_tensor_value_info("frames", TensorProto.FLOAT, [batch, 3, size, size])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [batch, FEATURES])],
        initializer=[_constant("projection", PROJECTION)],
    )


def _clip_head(batch: int | str, frames: int) -> onnx.GraphProto:
    nodes, constants = _head_nodes("features")
    return helper.make_graph(
        nodes,
        "tiny_clip_head",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [batch, frames, FEATURES])],
        [_output(batch)],
        initializer=constants,
    )


def _clip_model(batch: int | str, frames: int, size: int) -> onnx.GraphProto:
    head, constants = _head_nodes("clip_features")
    nodes = [
        helper.make_node("ReduceMean", ["clip"], ["means"], axes=[3, 4], keepdims=0),
        helper.make_node("MatMul", ["means", "projection"], ["clip_features"]),
        *head,
    ]
    return helper.make_graph(
        nodes,
        "tiny_clip_model",
        [helper.make_tensor_value_info("clip", TensorProto.FLOAT, [batch, frames, 3, size, size])],
        [_output(batch)],
        initializer=[_constant("projection", PROJECTION), *constants],
    )
