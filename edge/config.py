"""The agent's config file: one pydantic model, loaded with path-and-line errors.

Everything but ``site`` and ``agent`` has a default, so a minimal config is::

    site: oslo
    agent: post-17
    cameras:
      - name: cam1
        url: rtsp://cam1:${CAM1_PASSWORD}@10.0.0.7/stream1

Relative paths (model card, spool, snapshots) are relative to the working
directory of the agent process. Secrets come from the environment
(``${NAME}``), see :mod:`streetsense.configfile`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from edge.clips.config import ClipConfig, PrivacyMaskConfig
from edge.fusion.config import FusionConfig
from edge.inference.config import InferenceConfig
from edge.outbox.config import BrokerConfig, OutboxConfig
from edge.sources.config import CameraConfig, SensorConfig
from models.card import load_card
from streetsense.configfile import load_config

IDENTIFIER = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
Identifier = Annotated[str, Field(pattern=IDENTIFIER)]

DEFAULT_CARD = Path("models/fight/card.yaml")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgentCameraConfig(CameraConfig):
    """A camera, plus the privacy masks blanked before anything is analysed or stored."""

    privacy_masks: tuple[PrivacyMaskConfig, ...] = Field(
        default=(),
        description="Polygons (normalised 0..1 coordinates) blanked on every frame of this camera.",
    )


class ApiConfig(_Strict):
    """The agent's HTTP API: health, readiness, metrics, recent events, sensor push."""

    enabled: bool = Field(default=True, description="Serve the API.")
    host: str = Field(default="127.0.0.1", description="Address to bind (0.0.0.0 for all).")
    port: int = Field(default=9180, ge=0, le=65535, description="Port (0 = any free port).")
    token: SecretStr | None = Field(
        default=None,
        description="Bearer token for the sensor push endpoint (overrides sensors.http_token) "
        "and snapshot downloads. Take it from the environment: token: ${AGENT_API_TOKEN}",
    )


class SnapshotConfig(_Strict):
    """Privacy-masked JPEG snapshots, written only when an incident starts."""

    enabled: bool = Field(default=False, description="Write a snapshot for each START event.")
    directory: Path = Field(default=Path("var/snapshots"), description="Where snapshots go.")
    retention_s: float = Field(
        default=7 * 24 * 3600.0, gt=0, description="Snapshots older than this are deleted."
    )
    jpeg_quality: int = Field(default=80, ge=10, le=100, description="JPEG quality.")


class PipelineConfig(_Strict):
    """Queues between the agent's stages and its supervision periods."""

    fusion_queue_size: int = Field(
        default=1024,
        ge=1,
        description="Classifications and readings waiting for fusion; when full, new items "
        "are dropped and counted (drops{stage='fusion', reason='queue_full'}).",
    )
    model_retry_s: float = Field(
        default=30.0, gt=0, description="How often a missing or invalid model is retried."
    )
    recent_events: int = Field(
        default=200, ge=1, le=10_000, description="Events kept for /v1/events/recent."
    )


class AgentConfig(_Strict):
    """The whole agent config file."""

    site: Identifier = Field(description="Site id (topic level), e.g. the city or district.")
    agent: Identifier = Field(description="This agent's id, unique within the site.")
    broker: BrokerConfig = Field(default=BrokerConfig(), description="MQTT broker connection.")
    outbox: OutboxConfig = Field(default=OutboxConfig(), description="Durable event spool.")
    cameras: tuple[AgentCameraConfig, ...] = Field(default=(), description="Cameras to analyse.")
    sensors: SensorConfig = Field(default=SensorConfig(), description="Lamppost sensor intake.")
    model: InferenceConfig = Field(
        default=InferenceConfig(card=DEFAULT_CARD),
        description="Video model and inference settings (default: the shipped fight model).",
    )
    clips: ClipConfig = Field(default=ClipConfig(), description="Clip windowing.")
    fusion: FusionConfig = Field(default=FusionConfig(), description="Fusion rules.")
    api: ApiConfig = Field(default=ApiConfig(), description="HTTP API.")
    snapshots: SnapshotConfig = Field(default=SnapshotConfig(), description="Incident snapshots.")
    pipeline: PipelineConfig = Field(default=PipelineConfig(), description="Queues and timers.")

    @model_validator(mode="after")
    def _unique_cameras(self) -> Self:
        names = [camera.name for camera in self.cameras]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"camera names must be unique; repeated: {duplicates}")
        return self

    @model_validator(mode="after")
    def _analysis_rate_from_card(self) -> Self:
        """Cameras without an explicit ``analysis_fps`` sample at the model's ``sample_fps``.

        A clip sampled at another rate than the model was trained on would be judged
        to have gaps (or worse, classified on a different time scale).
        """
        unset = [c for c in self.cameras if "analysis_fps" not in c.model_fields_set]
        if not unset:
            return self
        try:
            sample_fps = load_card(self.model.card).input.sample_fps
        except (OSError, ValueError):
            return self  # no readable card yet: the agent reports the model problem itself
        cameras = tuple(
            camera.model_copy(update={"analysis_fps": sample_fps}) if camera in unset else camera
            for camera in self.cameras
        )
        object.__setattr__(self, "cameras", cameras)
        return self


def load_agent_config(path: Path) -> AgentConfig:
    """Read and validate an agent config file (``ConfigError`` lists every problem)."""
    return load_config(path, AgentConfig)
