"""Shrink the exported ONNX files without retraining anything: a step of the build.

Two rewrites of files that already exist:

* ``store_compact``: each large float32 convolution weight W of the fp32 models is
  stored as the int8 weight q and per-channel step s that the int8 twin already
  ships, plus a float16 remainder r = W - q * s (at most half a step), and rebuilt
  in the graph as ``Cast(q) * s + Cast(r)``. onnxruntime folds these constant nodes
  when it creates a session, so inference runs the same float32 convolutions at the
  same speed; W is kept to about 2^-12 of a quantisation step (plain float16 weights
  moved the probabilities ~180x more, see models/README.md). A weight without an
  int8 twin is stored as float16 behind a ``Cast``.
* ``share_weights``: the large initializers that several models hold go into one
  external data file, each distinct tensor once: the frame model, the fused clip
  model and both int8 forms hold the same backbone, so its int8 bytes and float16
  remainders are stored once; the clip heads stay in their graphs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.external_data_helper import uses_external_data

from models.fight.errors import BuildError

FLOAT16_MIN_ELEMENTS = 1024  # smaller tensors (biases, scales, the head) stay float32
EXTERNAL_MIN_BYTES = 1024  # smaller tensors stay inside the graph
ALIGN = 64  # byte alignment of every tensor in the data file


def _int8_weights(coarse: onnx.ModelProto) -> list[tuple[onnx.TensorProto, np.ndarray]]:
    """Every int8 weight that ``coarse`` dequantises per output channel, with its float scales."""
    inits = {tensor.name: tensor for tensor in coarse.graph.initializer}
    found = []
    for node in coarse.graph.node:
        if node.op_type != "DequantizeLinear" or node.input[0] not in inits:
            continue
        q = inits[node.input[0]]
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        if q.data_type != TensorProto.INT8 or len(node.input) < 3 or axis != 0:
            continue
        zero = numpy_helper.to_array(inits[node.input[2]])
        if np.any(zero != 0):
            continue
        scale = numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)
        found.append((q, scale))
    return found


def _match(
    weight: np.ndarray, candidates: list[tuple[onnx.TensorProto, np.ndarray]]
) -> tuple[onnx.TensorProto, np.ndarray] | None:
    """The int8 tensor that quantises ``weight`` (within half a step per channel), if any."""
    for q, scale in candidates:
        if tuple(q.dims) != weight.shape or scale.shape != (weight.shape[0],):
            continue
        step = scale.reshape(-1, *([1] * (weight.ndim - 1)))
        error = np.abs(weight - numpy_helper.to_array(q).astype(np.float32) * step)
        if np.all(error <= step * 0.5001):
            return q, step
    return None


def store_compact(model: onnx.ModelProto, coarse: list[onnx.ModelProto]) -> dict[str, int]:
    """Store large float32 ``Conv`` weights as float16, or as int8 plus a float16 remainder.

    A weight that one of the ``coarse`` (int8 QDQ) models quantises becomes
    ``Cast(q) * scale + Cast(remainder)``, reusing that model's int8 bytes: the
    remainder is at most half a quantisation step, so float16 keeps it to about
    2^-12 of a step. Any other large weight becomes ``Cast(float16)``. Returns how
    many weights took each way.
    """
    graph = model.graph
    weights = {node.input[1] for node in graph.node if node.op_type == "Conv"}
    candidates = [item for other in coarse for item in _int8_weights(other)]
    added: list[onnx.NodeProto] = []
    extra: list[onnx.TensorProto] = []
    counts = {"int8_plus_float16": 0, "float16": 0}
    for tensor in graph.initializer:
        if tensor.name not in weights or tensor.data_type != TensorProto.FLOAT:
            continue
        value = numpy_helper.to_array(tensor)
        if value.size < FLOAT16_MIN_ELEMENTS:
            continue
        name = tensor.name
        match = _match(value, candidates)
        if match is None:
            half = value.astype(np.float16)
            tensor.CopyFrom(numpy_helper.from_array(half, f"{name}_float16"))
            added.append(_cast(f"{name}_float16", name))
            counts["float16"] += 1
            continue
        q, step = match
        coarse_value = numpy_helper.to_array(q).astype(np.float32) * step
        remainder = (value.astype(np.float64) - coarse_value).astype(np.float16)
        tensor.CopyFrom(numpy_helper.from_array(remainder, f"{name}_remainder"))
        extra.append(numpy_helper.from_array(numpy_helper.to_array(q), f"{name}_int8"))
        extra.append(numpy_helper.from_array(step, f"{name}_step"))
        added += [
            _cast(f"{name}_int8", f"{name}_int8_float"),
            _cast(f"{name}_remainder", f"{name}_remainder_float"),
            helper.make_node("Mul", [f"{name}_int8_float", f"{name}_step"], [f"{name}_coarse"]),
            helper.make_node("Add", [f"{name}_coarse", f"{name}_remainder_float"], [name]),
        ]
        counts["int8_plus_float16"] += 1
    graph.initializer.extend(extra)
    nodes = [*added, *graph.node]
    del graph.node[:]
    graph.node.extend(nodes)
    return counts


def _cast(source: str, target: str) -> onnx.NodeProto:
    return helper.make_node("Cast", [source], [target], name=f"{target}_cast", to=TensorProto.FLOAT)


def _external(tensor: onnx.TensorProto, location: str, offset: int, length: int) -> None:
    """Point ``tensor`` at ``length`` bytes of ``location`` from ``offset``."""
    tensor.ClearField("raw_data")
    del tensor.external_data[:]
    for key, value in (("location", location), ("offset", offset), ("length", length)):
        entry = tensor.external_data.add()
        entry.key = key
        entry.value = str(value)
    tensor.data_location = TensorProto.EXTERNAL


def _key(tensor: onnx.TensorProto) -> tuple[bytes, bytes]:
    """Identity of a tensor's content (dtype, shape, bytes) and the bytes themselves."""
    raw = numpy_helper.to_array(tensor).tobytes()
    header = f"{tensor.data_type}:{list(tensor.dims)}:".encode()
    return hashlib.sha256(header + raw).digest(), raw


def share_weights(models: list[onnx.ModelProto], data: Path) -> int:
    """Move the large initializers that several ``models`` hold into ``data``, each once.

    Tensors are the same when dtype, shape and bytes are. A tensor only one model
    holds (the clip heads) stays in its graph, so ``data`` changes only when the
    shared backbone does. The file is written in the order the tensors first
    appear, so the same models give the same bytes. Returns the size of the file.
    """
    holders: dict[bytes, set[int]] = {}
    for index, model in enumerate(models):
        for tensor in model.graph.initializer:
            key, raw = _key(tensor)
            if len(raw) >= EXTERNAL_MIN_BYTES:
                holders.setdefault(key, set()).add(index)
    offsets: dict[bytes, tuple[int, int]] = {}
    blob = bytearray()
    for model in models:
        for tensor in model.graph.initializer:
            key, raw = _key(tensor)
            if len(holders.get(key, ())) < 2:
                continue
            if key not in offsets:
                blob += bytes(-len(blob) % ALIGN)
                offsets[key] = (len(blob), len(raw))
                blob += raw
            for field in ("float_data", "int32_data", "int64_data", "double_data"):
                tensor.ClearField(field)
            _external(tensor, data.name, *offsets[key])
    data.write_bytes(bytes(blob))
    return len(blob)


def save(model: onnx.ModelProto, path: Path) -> None:
    """Write the graph only (its external data is already on disk) and check it."""
    path.write_bytes(model.SerializeToString())
    onnx.checker.check_model(str(path))


def load_graph(path: Path) -> onnx.ModelProto:
    """The model with any external data left on disk."""
    return onnx.load(str(path), load_external_data=False)


def compact(fp32: list[Path], int8: list[Path], data: Path) -> dict[str, int]:
    """Rewrite the ``fp32`` and ``int8`` models in place to share one ``data`` file.

    The models must be self-contained, as exported. Returns how many weights were
    stored each way (see ``store_compact``).
    """
    for path in (*fp32, *int8):
        if any(uses_external_data(t) for t in load_graph(path).graph.initializer):
            raise BuildError(f"{path} already uses external data: compact the exported files")
    coarse = [onnx.load(str(path)) for path in int8]
    models = [onnx.load(str(path)) for path in fp32]
    counts = {"int8_plus_float16": 0, "float16": 0}
    for model in models:
        for way, count in store_compact(model, coarse).items():
            counts[way] += count
    share_weights([*models, *coarse], data)
    for model, path in zip([*models, *coarse], [*fp32, *int8], strict=True):
        save(model, path)
    return counts
