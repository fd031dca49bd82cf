"""Config model of the inference stage."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ProviderKey = Literal["tensorrt", "cuda", "openvino", "cpu"]


class InferenceConfig(BaseModel):
    """Which model to run, where, and how to batch it across cameras."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    card: Path = Field(description="Path of the model card YAML; ONNX paths are relative to it.")
    form: Literal["streaming", "fused", "auto"] = Field(
        default="auto",
        description="'streaming' (frame model per frame + clip head per window, reuses features), "
        "'fused' (clip model per window) or 'auto' (streaming when the card has it).",
    )
    precision: Literal["fp32", "int8"] = Field(
        default="fp32",
        description="'int8' uses the card's quantised twins where it has them (fp32 elsewhere).",
    )
    providers: tuple[ProviderKey, ...] = Field(
        default=("cpu",),
        min_length=1,
        description="Execution providers in order of preference; unavailable ones are skipped "
        "and CPU is always the last resort.",
    )
    threads: int = Field(
        default=1,
        ge=1,
        le=64,
        description="onnxruntime intra-op threads (leave cores for decoding on a small box).",
    )
    max_batch: int = Field(
        default=8, ge=1, le=64, description="Most frames (or clips) in one onnxruntime run."
    )
    max_wait_ms: float = Field(
        default=10.0,
        ge=0.0,
        le=1000.0,
        description="Longest a queued item waits for a batch to fill (latency budget).",
    )
    queue_size: int = Field(
        default=256,
        ge=1,
        le=100_000,
        description="Bounded input queue; when full, new items are dropped and counted "
        "(drops{stage='inference', reason='queue_full'}).",
    )
