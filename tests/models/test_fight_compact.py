"""Compact weight storage: int8 twin plus float16 remainder, one shared external data file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_static,
)

from models.fight.compact import ALIGN, compact
from models.fight.errors import BuildError

RNG = np.random.default_rng(7)
WEIGHT = RNG.normal(0, 0.2, (32, 16, 3, 3)).astype(np.float32)  # 4608 values: stored compactly
BIAS = RNG.normal(0, 0.1, 32).astype(np.float32)  # small: stays in the graph as float32
INPUTS = [RNG.normal(0, 1, (1, 16, 8, 8)).astype(np.float32) for _ in range(4)]


class _Reader(CalibrationDataReader):  # type: ignore[misc]
    def __init__(self) -> None:
        self._left = list(INPUTS)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return {"x": self._left.pop()} if self._left else None


def _conv_model(path: Path, weight: np.ndarray, relu: bool = False) -> Path:
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["y" if not relu else "c"], pads=[1] * 4)]
    if relu:
        nodes.append(helper.make_node("Relu", ["c"], ["y"]))
    graph = helper.make_graph(
        nodes,
        "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 32, 8, 8])],
        [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(BIAS, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _int8_twin(source: Path, target: Path) -> Path:
    quantize_static(
        str(source),
        str(target),
        _Reader(),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        per_channel=True,
        reduce_range=True,
        op_types_to_quantize=["Conv"],
    )
    return target


def _outputs(path: Path) -> list[np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return [np.asarray(session.run(None, {"x": x})[0]) for x in INPUTS]


def _largest_difference(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return max(float(np.abs(x - y).max()) for x, y in zip(a, b, strict=True))


def test_fp32_weights_share_the_int8_bytes_and_stay_close(tmp_path: Path) -> None:
    plain = _conv_model(tmp_path / "plain.onnx", WEIGHT)
    fused = _conv_model(tmp_path / "fused.onnx", WEIGHT, relu=True)
    twin = _int8_twin(plain, tmp_path / "plain_int8.onnx")
    half = _conv_model(tmp_path / "half.onnx", WEIGHT.astype(np.float16).astype(np.float32))
    before = {path: _outputs(path) for path in (plain, fused, twin)}

    counts = compact([plain, fused], [twin], tmp_path / "weights.data")

    assert counts == {"int8_plus_float16": 2, "float16": 0}
    # one int8 copy and one float16 remainder for three models, not 3 x 18 kB of float32
    size = (tmp_path / "weights.data").stat().st_size
    assert size <= WEIGHT.size * (1 + 2) + 2 * ALIGN
    np.testing.assert_array_equal(np.concatenate(_outputs(twin)), np.concatenate(before[twin]))
    error = _largest_difference(_outputs(plain), before[plain])
    half_error = _largest_difference(_outputs(half), before[plain])
    assert error < half_error / 20  # far closer to float32 than plain float16 weights
    assert _largest_difference(_outputs(fused), before[fused]) == pytest.approx(error, abs=1e-6)
    for path in (plain, fused, twin):
        assert path.stat().st_size < 4096  # the graphs no longer hold the weight


def test_a_weight_without_int8_twin_is_stored_as_float16(tmp_path: Path) -> None:
    other = _conv_model(tmp_path / "other.onnx", WEIGHT * 1.5)
    twin = _int8_twin(_conv_model(tmp_path / "plain.onnx", WEIGHT), tmp_path / "twin.onnx")
    before = _outputs(other)
    assert compact([other], [twin], tmp_path / "weights.data") == {
        "int8_plus_float16": 0,
        "float16": 1,
    }
    model = onnx.load(str(other), load_external_data=False)
    assert model.graph.initializer[0].data_type == TensorProto.FLOAT16
    # held by one model only, so it stays in the graph and the data file is empty
    assert model.graph.initializer[0].data_location == TensorProto.DEFAULT
    assert (tmp_path / "weights.data").stat().st_size == 0
    assert _largest_difference(_outputs(other), before) < 1e-2


def test_compacting_twice_is_refused(tmp_path: Path) -> None:
    plain = _conv_model(tmp_path / "plain.onnx", WEIGHT)
    twin = _int8_twin(plain, tmp_path / "twin.onnx")
    compact([plain], [twin], tmp_path / "weights.data")
    with pytest.raises(BuildError, match="already uses external data"):
        compact([plain], [twin], tmp_path / "weights.data")
