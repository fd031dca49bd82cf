"""Fusion: smoothing with hysteresis, sensor rules, correlation and incident grouping.

Pure logic with an injected clock; :class:`Fusion` is the entry point.
"""

from edge.fusion.config import (
    CorrelationRule,
    FusionConfig,
    IncidentConfig,
    SensorRule,
    SmoothingConfig,
)
from edge.fusion.engine import Fusion
from edge.fusion.incidents import IncidentKey, Observation, SnapshotTaker
from edge.fusion.snapshots import SnapshotStore

__all__ = [
    "CorrelationRule",
    "Fusion",
    "FusionConfig",
    "IncidentConfig",
    "IncidentKey",
    "Observation",
    "SensorRule",
    "SmoothingConfig",
    "SnapshotStore",
    "SnapshotTaker",
]
