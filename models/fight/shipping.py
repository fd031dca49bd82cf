"""Export, quantise, cross-check and describe the model: the last half of the build."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
import torch
from sklearn.metrics import roc_auc_score

from models.fight import evaluate as ev
from models.fight.card_content import INTENDED_USE, LIMITATIONS, PROVENANCE
from models.fight.cardfile import dump, strip_checksums, write_card
from models.fight.clips import ClipRef
from models.fight.errors import BuildError
from models.fight.export import ArrayReader, embed_card, export, quantize
from models.fight.extract import clip_inputs
from models.fight.frame_model import ClipModel, FrameModel
from models.fight.heads import FEATURE_DIM, ClipHead, ClipStatistics

log = logging.getLogger(__name__)
FILES = {
    "frame_model": "frame_model.onnx",
    "clip_head": "clip_head.onnx",
    "clip_model": "clip_model.onnx",
}
INT8_FILES = {"frame_model": "frame_model_int8.onnx", "clip_model": "clip_model_int8.onnx"}
AGREEMENT_TOLERANCE = 1e-3
CALIBRATION_EVERY = 8  # every 8th clip (both classes) feeds the int8 calibration
REFERENCE_PER_LABEL = 3


def session(path: Path, threads: int = 2) -> ort.InferenceSession:
    """A CPU session with a fixed thread count."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _run(sess: ort.InferenceSession, value: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    name = sess.get_inputs()[0].name
    return np.asarray(sess.run(None, {name: value})[0], dtype=np.float32)


def _export_all(
    out: Path,
    frame_model: FrameModel,
    head: ClipHead,
    clip_model: ClipModel,
    frames: int,
    size: int,
) -> None:
    export(
        frame_model,
        torch.zeros(2, 3, size, size),
        out / FILES["frame_model"],
        "frames",
        "features",
        {0: "frames"},
    )
    export(
        head,
        torch.rand(2, frames, FEATURE_DIM),
        out / FILES["clip_head"],
        "features",
        "probabilities",
        {0: "batch", 1: "time"},
    )
    export(
        clip_model,
        torch.zeros(1, frames, 3, size, size),
        out / FILES["clip_model"],
        "clip",
        "probabilities",
        {0: "batch"},
    )


def _quantize_all(out: Path, work: Path, inputs: list[npt.NDArray[np.float32]]) -> None:
    calibration = inputs[::CALIBRATION_EVERY]
    quantize(
        out / FILES["frame_model"],
        out / INT8_FILES["frame_model"],
        ArrayReader("frames", calibration),
        work,
    )
    clips = [clip[None] for clip in calibration]
    quantize(
        out / FILES["clip_model"], out / INT8_FILES["clip_model"], ArrayReader("clip", clips), work
    )


def _agreement(
    out: Path, clip_model: ClipModel, inputs: list[npt.NDArray[np.float32]]
) -> dict[str, Any]:
    """Largest probability differences between torch, streaming ONNX and fused ONNX."""
    frame_s, head_s, fused_s = (
        session(out / FILES[k]) for k in ("frame_model", "clip_head", "clip_model")
    )
    worst = {"streaming_vs_fused": 0.0, "fused_vs_torch": 0.0, "streaming_vs_torch": 0.0}
    for clip in inputs[:: max(1, len(inputs) // 6)]:
        streaming = _run(head_s, _run(frame_s, clip)[None])
        fused = _run(fused_s, clip[None])
        with torch.inference_mode():
            reference = clip_model(torch.from_numpy(clip[None])).numpy()
        worst["streaming_vs_fused"] = max(
            worst["streaming_vs_fused"], float(np.abs(streaming - fused).max())
        )
        worst["fused_vs_torch"] = max(
            worst["fused_vs_torch"], float(np.abs(fused - reference).max())
        )
        worst["streaming_vs_torch"] = max(
            worst["streaming_vs_torch"], float(np.abs(streaming - reference).max())
        )
    if max(worst.values()) > AGREEMENT_TOLERANCE:
        raise BuildError(f"ONNX forms disagree: {worst}")
    return {k: float(f"{v:.2e}") for k, v in worst.items()}


def _speed(path: Path, example: npt.NDArray[np.float32], repeats: int = 7) -> float:
    """Median milliseconds per call on one thread (a summary; benchmarks/ has the full table)."""
    sess = session(path, threads=1)
    _run(sess, example)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        _run(sess, example)
        times.append(time.perf_counter() - start)
    return round(float(np.median(times)) * 1000, 2)


def _int8_report(
    out: Path,
    y: npt.NDArray[np.int64],
    groups: npt.NDArray[np.str_],
    features: npt.NDArray[np.float32],
    inputs: list[npt.NDArray[np.float32]],
    threshold: float,
) -> dict[str, Any]:
    """int8 against fp32: agreement of the shipped head's verdicts, nested CV, speed."""
    int8_s, head_s = session(out / INT8_FILES["frame_model"]), session(out / FILES["clip_head"])
    int8_features = np.stack([_run(int8_s, clip) for clip in inputs])
    p32 = _run(head_s, features)[:, 1]
    p8 = _run(head_s, int8_features)[:, 1]
    with torch.inference_mode():
        x8 = ClipStatistics()(torch.from_numpy(int8_features)).double().numpy()
    cv8 = ev.cross_validate(x8, y, groups)
    batch = inputs[0]
    return {
        "shipped_head_on_all_clips": {
            "note": "in-sample (the head was fit on these clips): shows the quantisation change only",
            "label_agreement_at_threshold": round(
                float(((p32 >= threshold) == (p8 >= threshold)).mean()), 3
            ),
            "max_abs_probability_change": round(float(np.abs(p32 - p8).max()), 4),
            "fp32_roc_auc": round(float(roc_auc_score(y, p32)), 3),
            "int8_roc_auc": round(float(roc_auc_score(y, p8)), 3),
        },
        "nested_cv_on_int8_features_threshold_0.5": ev.summarise(y, cv8, 0.5),
        "speed_ms_batch8_1thread_median": {
            "frame_model_fp32": _speed(out / FILES["frame_model"], batch),
            "frame_model_int8": _speed(out / INT8_FILES["frame_model"], batch),
            "clip_model_fp32": _speed(out / FILES["clip_model"], batch[None]),
            "clip_model_int8": _speed(out / INT8_FILES["clip_model"], batch[None]),
        },
    }


def _references(
    out: Path,
    refs: list[ClipRef],
    y: npt.NDArray[np.int64],
    oof: npt.NDArray[np.float64],
    inputs: list[npt.NDArray[np.float32]],
    threshold: float,
) -> dict[str, str]:
    """Clips that out-of-fold scoring and both shipped fused models classify correctly, by margin."""
    fp32, int8 = session(out / FILES["clip_model"]), session(out / INT8_FILES["clip_model"])
    margin = np.where(y == 1, oof - threshold, threshold - oof)
    chosen: dict[str, str] = {}
    for label in (1, 0):
        count = 0
        for index in np.argsort(-margin):
            if y[index] != label or count == REFERENCE_PER_LABEL:
                continue
            scores = [_run(s, inputs[index][None])[0, 1] for s in (fp32, int8)]
            if all((score >= threshold) == bool(label) for score in scores):
                chosen[refs[index].name] = "fight" if label else "no_fight"
                count += 1
    return chosen


def ship(
    *,
    out: Path,
    work: Path,
    refs: list[ClipRef],
    y: npt.NDArray[np.int64],
    features: npt.NDArray[np.float32],
    frame_model: FrameModel,
    head: ClipHead,
    clip_model: ClipModel,
    threshold: float,
    oof_scores: npt.NDArray[np.float64],
    evaluation: dict[str, Any],
    spec: dict[str, Any],
    normalization: dict[str, Any],
    labels: tuple[str, ...],
) -> None:
    """Export every form, check them, and write the card into ``out``."""
    frames, size = int(spec["frames"]), int(spec["height"])
    groups = np.array([ref.group for ref in refs])
    _export_all(out, frame_model, head, clip_model, frames, size)
    inputs = clip_inputs(refs, frames, size)
    _quantize_all(out, work, inputs)
    evaluation["onnx_agreement_max_abs_probability"] = _agreement(out, clip_model, inputs)
    evaluation["int8_vs_fp32"] = _int8_report(out, y, groups, features, inputs, threshold)
    evaluation["reference_clips"] = _references(out, refs, y, oof_scores, inputs, threshold)
    raw: dict[str, Any] = {
        "name": "streetsense-fight",
        "version": "1.0.0",
        "task": "video-classification",
        "labels": list(labels),
        "alerts": {"fight": {"category": "fight", "threshold": threshold, "severity": "high"}},
        "input": spec,
        "normalization": normalization,
        "streaming": {
            "frame_model": {"path": FILES["frame_model"], "precision": "fp32"},
            "clip_head": {"path": FILES["clip_head"], "precision": "fp32"},
            "feature_dim": FEATURE_DIM,
        },
        "fused": {"clip_model": {"path": FILES["clip_model"], "precision": "fp32"}},
        "int8": {k: {"path": v, "precision": "int8"} for k, v in INT8_FILES.items()},
        "provenance": PROVENANCE,
        "evaluation": evaluation,
        "intended_use": INTENDED_USE,
        "limitations": list(LIMITATIONS),
    }
    text = dump(strip_checksums(raw))
    for name in (*FILES.values(), *INT8_FILES.values()):
        embed_card(out / name, text)
    card = write_card(raw, out / "card.yaml")
    log.info("wrote %s %s with threshold %.3f", card.name, card.version, threshold)
