"""CPU cost of the shipped model's parts, through the agent's own loader and sessions.

These are the inference terms of the combined ceiling (see :mod:`benchmarks.cameras`);
the full raw onnxruntime table (fp32/int8, batch 1..8, 1 and 2 threads) is
:mod:`benchmarks.model_bench`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.harness import Measurement


@dataclass(frozen=True)
class ModelCosts:
    """CPU milliseconds per item (medians over runs), as the agent runs the model."""

    frame_ms: Measurement  # frame model, per frame, at the agent's max batch
    head_ms: Measurement  # clip head, per clip (features in), batch of clips
    fused_ms: Measurement  # fused clip model, per clip, batch 1 (the baseline's way)
    frame_int8_ms: Measurement  # the card's int8 frame model, per frame (empty without one)
    batch: int
    threads: int
    providers: tuple[str, ...] = ()  # what the agent's loader selected from its config


def _cpu_ms_per_item(
    call: Callable[[np.ndarray], np.ndarray], batch: np.ndarray, seconds: float
) -> float:
    call(batch)  # warm up
    items = 0
    cpu0 = time.process_time()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        call(batch)
        items += batch.shape[0]
    return 1000.0 * (time.process_time() - cpu0) / items


def measure_model_costs(card: Path, runs: int = 3, seconds: float = 2.0) -> ModelCosts:
    """Frame-model, clip-head and fused-model CPU cost with the agent's default settings."""
    from edge.inference import InferenceConfig, ModelError, load_model

    config = InferenceConfig(card=card)
    frame = Measurement("frame model, per frame", "CPU ms")
    head = Measurement("clip head, per clip", "CPU ms")
    fused = Measurement("fused clip model, per clip (batch 1)", "CPU ms")
    frame_int8 = Measurement("int8 frame model, per frame", "CPU ms")
    spec = None
    batch = config.max_batch
    providers: tuple[str, ...] = ()
    for _ in range(runs):
        model = load_model(config)
        providers = model.providers
        spec = model.card.input
        rng = np.random.default_rng(0)
        frames = rng.standard_normal((batch, 3, spec.height, spec.width), dtype=np.float32)
        if model.frame_model is not None and model.clip_head is not None:
            features = model.frame_model.run(frames)
            frame.samples.append(_cpu_ms_per_item(model.frame_model.run, frames, seconds))
            clips = np.stack([np.stack([features[0]] * spec.frames)] * batch)
            head.samples.append(_cpu_ms_per_item(model.clip_head.run, clips, seconds / 2))
        try:
            int8 = load_model(InferenceConfig(card=card, precision="int8"))
            if int8.frame_model is not None:
                frame_int8.samples.append(_cpu_ms_per_item(int8.frame_model.run, frames, seconds))
        except ModelError:
            pass  # no int8 twin
        try:
            fused_model = load_model(InferenceConfig(card=card, form="fused"))
        except ModelError:
            continue  # a card without a fused form
        if fused_model.clip_model is not None:
            clip = rng.standard_normal(
                (1, spec.frames, 3, spec.height, spec.width), dtype=np.float32
            )
            fused.samples.append(_cpu_ms_per_item(fused_model.clip_model.run, clip, seconds))
    return ModelCosts(frame, head, fused, frame_int8, batch, config.threads, providers)
