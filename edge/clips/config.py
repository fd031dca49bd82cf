"""Config models for clip assembly: privacy masks per camera, windowing per agent."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

Coordinate = Annotated[float, Field(ge=0.0, le=1.0)]
Point = tuple[Coordinate, Coordinate]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PrivacyMaskConfig(_Strict):
    """One polygon blanked (filled black) on the full frame before analysis or storage.

    Points are ``[x, y]`` in normalised image coordinates (0..1, origin top left),
    so a mask survives a change of camera resolution.
    """

    name: str = Field(
        default="",
        max_length=64,
        description="Optional label, e.g. 'neighbour window', for audits.",
    )
    points: list[Point] = Field(
        min_length=3,
        description="Polygon corners as [x, y] pairs in 0..1 image coordinates, in drawing order.",
    )

    @field_validator("points")
    @classmethod
    def _has_area(cls, points: list[Point]) -> list[Point]:
        twice_area = sum(
            x0 * y1 - x1 * y0
            for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1], strict=True)
        )
        if abs(twice_area) < 1e-9:
            raise ValueError("polygon has zero area (points are collinear or repeated)")
        return points


class ClipConfig(_Strict):
    """How sampled frames become clips (windows); the clip length comes from the model card."""

    stride_frames: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Sampled frames between consecutive window starts; default: the card's "
        "clip_stride_frames. Larger strides cost less inference and add latency.",
    )
    gap_factor: float = Field(
        default=1.5,
        gt=1.0,
        le=10.0,
        description="Consecutive sampled frames further apart than this many sample intervals "
        "mean sampled frames went missing (counted as drops, reason 'gap').",
    )
    max_missing_frames: int = Field(
        default=1,
        ge=0,
        le=64,
        description="A window missing more sampled frames than this is not classified "
        "(counted as drops, reason 'gap_in_window').",
    )
