"""Config models of the agent's camera and sensor sources (embedded in the agent config)."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

IDENTIFIER_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"

Identifier = Annotated[
    str,
    Field(pattern=IDENTIFIER_PATTERN, description="Lower-case identifier, safe as a topic level."),
]


class CameraConfig(BaseModel):
    """One camera: an RTSP (or other FFmpeg) URL or a video file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Identifier = Field(description="Camera id, used in events, metrics and logs.")
    url: str = Field(
        min_length=1,
        description="rtsp://user:pass@host/path, another FFmpeg URL, or a video file path. "
        "Put a password in the environment: url: rtsp://cam:${CAM1_PASSWORD}@10.0.0.7/stream1",
    )
    analysis_fps: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="Frames per second kept for analysis; every frame is still decoded, "
        "only kept frames are converted to images.",
    )
    backend: Literal["opencv", "pyav"] = Field(
        default="opencv", description="Decoder: OpenCV's FFmpeg backend or PyAV."
    )
    decode: Literal["all", "keyframes"] = Field(
        default="all",
        description="'keyframes' decodes only keyframes (about a tenth of the CPU; one frame "
        "per GOP, so motion between keyframes is not seen). Needs backend: pyav.",
    )
    loop: bool = Field(default=False, description="Files only: start again at the end.")
    pace: bool = Field(
        default=True,
        description="Files only: deliver frames at the file's own frame rate, like a live "
        "camera; false reads as fast as decoding allows (benchmarks).",
    )
    stale_after_seconds: float = Field(
        default=5.0,
        gt=0,
        le=120,
        description="A camera that delivers nothing for this long is reported down and reopened.",
    )
    reconnect_min_seconds: float = Field(
        default=0.5, gt=0, description="First reconnect delay (jittered, doubling)."
    )
    reconnect_max_seconds: float = Field(
        default=10.0, gt=0, description="Cap of the reconnect delay."
    )
    decode_nice: int = Field(
        default=19,
        ge=0,
        le=19,
        description="Added niceness of this camera's decode thread once its stream is open. "
        "On a saturated box the scheduler then runs inference, fusion and publishing first, "
        "so overload shows as decode lag (buffered by TCP, then counted) rather than delayed "
        "alerts. 20 RTSP cameras: capture -> classified p99 bucket 150 ms at 19 vs 250 ms at "
        "5 (benchmarks/README.md). 0 = same priority as the rest of the agent.",
    )
    open_timeout_seconds: float = Field(
        default=5.0, gt=0, le=120, description="FFmpeg timeout for opening the stream."
    )
    read_timeout_seconds: float = Field(
        default=5.0, gt=0, le=120, description="FFmpeg timeout for one read from the stream."
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.reconnect_min_seconds > self.reconnect_max_seconds:
            raise ValueError("reconnect_min_seconds must not exceed reconnect_max_seconds")
        if self.decode == "keyframes" and self.backend != "pyav":
            raise ValueError("decode: keyframes needs backend: pyav")
        return self


class SensorConfig(BaseModel):
    """Lamppost sensor intake: MQTT subscription and the HTTP push endpoint."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mqtt: bool = Field(
        default=True,
        description="Subscribe to streetsense/v1/<site>/<agent>/sensors/+ on the agent's broker.",
    )
    http: bool = Field(default=True, description="Accept POST /v1/sensors/{sensor}.")
    http_token: SecretStr | None = Field(
        default=None,
        description="Bearer token the HTTP endpoint requires; none accepts any caller. "
        "Take it from the environment: http_token: ${SENSOR_TOKEN}",
    )
    allowed_sensors: tuple[Identifier, ...] = Field(
        default=(), description="Sensor ids accepted; empty accepts any well-formed id."
    )
    max_payload_bytes: int = Field(
        default=8192, gt=0, le=1_048_576, description="Larger payloads are rejected unparsed."
    )
    max_readings_per_payload: int = Field(
        default=32, gt=0, le=1024, description="Most readings one payload may carry."
    )
    max_age_seconds: float = Field(
        default=300.0, gt=0, description="Readings older than this are rejected as stale."
    )
    max_future_seconds: float = Field(
        default=30.0,
        ge=0,
        description="Readings stamped further ahead than this (clock skew) are rejected.",
    )
