"""Input sources of the edge agent: camera readers and lamppost sensor intake."""

from edge.sources.camera import CameraReader, FrameSink, build_reader
from edge.sources.config import CameraConfig, SensorConfig
from edge.sources.health import CameraHealth
from edge.sources.sampler import FrameSampler

__all__ = [
    "CameraConfig",
    "CameraHealth",
    "CameraReader",
    "FrameSampler",
    "FrameSink",
    "SensorConfig",
    "build_reader",
]
