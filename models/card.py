"""Model card schema: what the agent needs to run a video classifier, and why to trust it.

A card is YAML next to the ONNX files and is also embedded in each ONNX file's
metadata (key ``streetsense.card``). Two runtime forms are described:

* ``streaming``: ``frame_model`` (``frames`` [N, 3, H, W] -> ``features`` [N, D])
  runs once per sampled frame; ``clip_head`` (``features`` [B, T, D] ->
  ``probabilities`` [B, L]) runs per clip, so overlapping windows reuse features.
* ``fused``: one ``clip_model`` (``clip`` [B, T, 3, H, W] -> ``probabilities`` [B, L]).

Either form is optional, but a card must describe at least one.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputSpec(_Strict):
    """How frames must be sampled and shaped before the model sees them."""

    frames: int = Field(ge=1, le=64, description="Frames per clip (T).")
    height: int = Field(ge=16, le=1024, description="Frame height in pixels after resize.")
    width: int = Field(ge=16, le=1024, description="Frame width in pixels after resize.")
    color: Literal["rgb", "bgr"] = Field(
        default="rgb", description="Channel order the model expects."
    )
    sample_fps: float = Field(gt=0, le=60, description="Frame rate the clip frames are sampled at.")
    clip_stride_frames: int = Field(
        default=1, ge=1, description="Sampled frames between the starts of consecutive windows."
    )


class Normalization(_Strict):
    """``x = (pixel / scale - mean) / std`` per channel, in the model's channel order."""

    scale: float = Field(default=255.0, gt=0)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


class DataFile(_Strict):
    """A file of ONNX external data (tensors kept outside the graph), with its checksum."""

    path: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    def resolve(self, card_dir: Path) -> Path:
        """Absolute path of the file."""
        return (card_dir / self.path).resolve()


class OnnxFile(_Strict):
    """One ONNX file, relative to the card, with its checksum.

    ``external_data`` names the file holding the tensors the graph keeps outside
    itself (several models may share one); it must sit in the model's folder, where
    onnxruntime looks for it, and it is the only external file the model may use.
    """

    path: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    precision: Literal["fp32", "int8"] = "fp32"
    external_data: DataFile | None = None

    def resolve(self, card_dir: Path) -> Path:
        """Absolute path of the file."""
        return (card_dir / self.path).resolve()

    def checked_files(self, card_dir: Path) -> list[tuple[Path, str]]:
        """Every file this model needs, with the checksum the card gives it."""
        files = [(self.resolve(card_dir), self.sha256)]
        if self.external_data is not None:
            files.append((self.external_data.resolve(card_dir), self.external_data.sha256))
        return files


class StreamingForm(_Strict):
    """Backbone per frame plus a temporal head per clip."""

    frame_model: OnnxFile
    clip_head: OnnxFile
    feature_dim: int = Field(ge=1)


class FusedForm(_Strict):
    """A single model that takes the whole clip."""

    clip_model: OnnxFile


class LabelAlert(_Strict):
    """When a label becomes an alert suggestion, and how urgent it is."""

    category: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    threshold: float = Field(ge=0, le=1, description="Probability at or above which a clip counts.")
    severity: Literal["info", "low", "medium", "high", "critical"] = "high"


class ModelCard(_Strict):
    """Everything the agent needs to run a model, plus the evidence a city needs to judge it."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    version: str = Field(min_length=1, max_length=64)
    task: Literal["video-classification"] = "video-classification"
    labels: tuple[str, ...] = Field(min_length=1, description="Output order of probabilities.")
    alerts: dict[str, LabelAlert] = Field(
        description="Labels that raise suggestions; other labels never alert."
    )
    input: InputSpec
    normalization: Normalization
    streaming: StreamingForm | None = None
    fused: FusedForm | None = None
    int8: dict[str, OnnxFile] = Field(
        default_factory=dict,
        description="Quantised twins, keyed 'frame_model', 'clip_head' or 'clip_model'.",
    )
    provenance: dict[str, Any] = Field(default_factory=dict)
    evaluation: dict[str, Any] = Field(default_factory=dict)
    intended_use: str = ""
    limitations: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> ModelCard:
        if self.streaming is None and self.fused is None:
            raise ValueError("a model card must describe a streaming or a fused form")
        unknown = set(self.alerts) - set(self.labels)
        if unknown:
            raise ValueError(f"alerts name labels the model does not output: {sorted(unknown)}")
        return self


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_card(path: Path) -> ModelCard:
    """Read and validate a model card YAML file."""
    with path.open(encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)
    return ModelCard.model_validate(raw)
