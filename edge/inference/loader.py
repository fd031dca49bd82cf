"""Load a model card, verify its ONNX files and create one onnxruntime session per part."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import onnx
import onnxruntime as ort
import yaml
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
from pydantic import ValidationError

from edge.inference.config import InferenceConfig
from edge.inference.errors import ModelError
from edge.inference.providers import ORT_PROVIDERS, select_providers
from edge.inference.runner import ORT_ERRORS, OnnxRunner, Stage
from events import ModelRef
from models.card import ModelCard, OnnxFile, load_card, sha256_of

logger = logging.getLogger(__name__)

Form = Literal["streaming", "fused"]
_Dims = tuple[int | None, ...]  # None: any size (the batch axis is checked separately)


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A verified model card with ready sessions, shared by all cameras."""

    card: ModelCard
    config: InferenceConfig
    form: Form
    providers: tuple[str, ...]  # what the sessions actually use, best first
    frame_model: OnnxRunner | None = None  # streaming form
    clip_head: OnnxRunner | None = None  # streaming form
    clip_model: OnnxRunner | None = None  # fused form

    @property
    def ref(self) -> ModelRef:
        """Name and version for events."""
        return ModelRef(name=self.card.name, version=self.card.version)


def load_model(config: InferenceConfig, available: Sequence[str] | None = None) -> LoadedModel:
    """Read and check the card and its files, then create the sessions.

    ``available`` overrides ``onnxruntime.get_available_providers()`` (for tests).
    Raises ``ModelError`` naming the file and the problem.
    """
    card = _read_card(config.card)
    form = _choose_form(card, config)
    files = _choose_files(card, form, config)
    card_dir = config.card.resolve().parent
    paths = {part: _verified(part, file, card_dir) for part, file in files.items()}
    offered = ort.get_available_providers() if available is None else list(available)
    providers = select_providers(config.providers, offered)
    skipped = [key for key in config.providers if ORT_PROVIDERS[key] not in providers]
    logger.info(
        "model %s %s (%s, %s): providers %s%s",
        card.name,
        card.version,
        form,
        config.precision,
        providers,
        f", not used: {skipped}" if skipped else "",
    )
    options = ort.SessionOptions()
    options.intra_op_num_threads = config.threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sessions = {part: _session(part, path, options, providers) for part, path in paths.items()}
    used = next(iter(sessions.values())).get_providers()
    if used[0] != providers[0]:
        logger.warning(
            "model %s: %s could not be used, running on %s", card.name, providers[0], used
        )
    spec = card.input
    frame = (3, spec.height, spec.width)
    labels = len(card.labels)
    if form == "streaming":
        assert card.streaming is not None  # _choose_form guarantees it
        dim = card.streaming.feature_dim
        return LoadedModel(
            card=card,
            config=config,
            form=form,
            providers=tuple(used),
            frame_model=_runner(
                "frame_model", sessions, paths, ("frames", frame), ("features", (dim,))
            ),
            clip_head=_runner(
                "clip_head",
                sessions,
                paths,
                ("features", (spec.frames, dim)),
                ("probabilities", (labels,)),
            ),
        )
    return LoadedModel(
        card=card,
        config=config,
        form=form,
        providers=tuple(used),
        clip_model=_runner(
            "clip_model",
            sessions,
            paths,
            ("clip", (spec.frames, *frame)),
            ("probabilities", (labels,)),
        ),
    )


def _read_card(path: Path) -> ModelCard:
    if not path.is_file():
        raise ModelError(f"model card not found: {path}")
    try:
        return load_card(path)
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise ModelError(f"invalid model card {path}: {exc}") from exc


def _choose_form(card: ModelCard, config: InferenceConfig) -> Form:
    if config.form == "auto":
        return "streaming" if card.streaming is not None else "fused"
    if getattr(card, config.form) is None:
        raise ModelError(f"model card {config.card} has no {config.form} form")
    return config.form


def _choose_files(card: ModelCard, form: Form, config: InferenceConfig) -> dict[Stage, OnnxFile]:
    files: dict[Stage, OnnxFile]
    if form == "streaming":
        assert card.streaming is not None
        files = {"frame_model": card.streaming.frame_model, "clip_head": card.streaming.clip_head}
    else:
        assert card.fused is not None
        files = {"clip_model": card.fused.clip_model}
    if config.precision == "int8":
        twins = {part: card.int8[part] for part in files if part in card.int8}
        if not twins:
            raise ModelError(
                f"precision int8 requested but model card {config.card} has no int8 twin "
                f"for {', '.join(files)}"
            )
        files.update(twins)
    return files


def _verified(part: str, file: OnnxFile, card_dir: Path) -> Path:
    """The model's path once it and its external data match the card's checksums."""
    for index, (path, expected) in enumerate(file.checked_files(card_dir)):
        what = f"{part} file" if index == 0 else f"{part} external data"
        if not path.is_file():
            raise ModelError(f"{what} missing: {path}")
        actual = sha256_of(path)
        if actual != expected:
            raise ModelError(
                f"{what} {path} fails its checksum: the card says {expected}, the file is {actual}"
            )
    path = file.resolve(card_dir)
    declared = file.external_data.resolve(card_dir) if file.external_data is not None else None
    for location in _external_locations(path):
        if (path.parent / location).resolve() != declared:
            raise ModelError(
                f"{part} file {path} reads external data {location!r} that the card does not "
                "list with a checksum"
            )
    return path


def _external_locations(path: Path) -> set[str]:
    """Files the model's tensors point to (onnxruntime reads them next to the model)."""
    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, OSError, ValueError):
        return set()  # not a model: onnxruntime says why when it tries to load it
    found: set[str] = set()
    graphs = [model.graph]
    while graphs:
        graph = graphs.pop()
        tensors = list(graph.initializer)
        for node in graph.node:
            for attribute in node.attribute:
                if attribute.type == onnx.AttributeProto.TENSOR:
                    tensors.append(attribute.t)
                if attribute.type == onnx.AttributeProto.GRAPH:
                    graphs.append(attribute.g)
                tensors += attribute.tensors
                graphs += attribute.graphs
        for tensor in tensors:
            if tensor.data_location == onnx.TensorProto.EXTERNAL:
                found |= {e.value for e in tensor.external_data if e.key == "location"}
    return found


def _session(
    part: str, path: Path, options: ort.SessionOptions, providers: list[str]
) -> ort.InferenceSession:
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except ORT_ERRORS as exc:
        raise ModelError(f"{part} file {path} could not be loaded by onnxruntime: {exc}") from exc


def _runner(
    part: Stage,
    sessions: dict[Stage, ort.InferenceSession],
    paths: dict[Stage, Path],
    expected_in: tuple[str, _Dims],
    expected_out: tuple[str, _Dims],
) -> OnnxRunner:
    """Check the part's single input and output against the card; build its runner."""
    session = sessions[part]
    where = f"{part} {paths[part].name}"
    (model_in, *extra_in) = session.get_inputs()
    model_out = session.get_outputs()
    in_name, in_dims = expected_in
    out_name, out_dims = expected_out
    if extra_in or model_in.name != in_name:
        names = [node.name for node in session.get_inputs()]
        raise ModelError(f"{where}: expected one input {in_name!r}, the model has {names}")
    if model_in.type != "tensor(float)":
        raise ModelError(f"{where}: input {in_name!r} is {model_in.type}, expected tensor(float)")
    out_names = [node.name for node in model_out]
    if out_name not in out_names:
        raise ModelError(f"{where}: expected an output {out_name!r}, the model has {out_names}")
    _check_shape(where, "input", in_name, model_in.shape, in_dims)
    output = model_out[out_names.index(out_name)]
    _check_shape(where, "output", out_name, output.shape, out_dims)
    batch = model_in.shape[0]
    fixed = batch if isinstance(batch, int) and batch > 0 else None
    return OnnxRunner(part, session, in_name, out_name, fixed)


def _check_shape(
    where: str, kind: str, name: str, shape: Sequence[int | str | None], expected: _Dims
) -> None:
    """``shape`` is the model's (batch first); symbolic dimensions match anything."""
    wanted = ["batch", *(str(dim) for dim in expected)]
    mismatch = len(shape) != len(expected) + 1 or any(
        isinstance(have, int) and have > 0 and want is not None and have != want
        for have, want in zip(shape[1:], expected, strict=False)
    )
    if mismatch:
        raise ModelError(
            f"{where}: {kind} {name!r} has shape {list(shape)}, the card expects "
            f"[{', '.join(wanted)}]"
        )
