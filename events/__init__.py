"""StreetSense wire contract: the normalised event, operator actions, topics and codec.

Both the edge agent and the broker adapter import this package and nothing of
each other. It does no I/O at import time and pulls in only msgspec.
"""

from events.codec import (
    MAX_PAYLOAD_BYTES,
    decode_action,
    decode_event,
    decode_status,
    encode,
)
from events.errors import (
    EventError,
    InvalidFieldError,
    MalformedPayloadError,
    OversizePayloadError,
    UnsupportedVersionError,
)
from events.model import (
    SCHEMA_VERSION,
    ActionKind,
    AgentState,
    AgentStatus,
    Event,
    Evidence,
    ModelRef,
    OperatorAction,
    Phase,
    SensorReading,
    Severity,
    Source,
    SourceKind,
    new_id,
    utc_now,
)

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "SCHEMA_VERSION",
    "ActionKind",
    "AgentState",
    "AgentStatus",
    "Event",
    "EventError",
    "Evidence",
    "InvalidFieldError",
    "MalformedPayloadError",
    "ModelRef",
    "OperatorAction",
    "OversizePayloadError",
    "Phase",
    "SensorReading",
    "Severity",
    "Source",
    "SourceKind",
    "UnsupportedVersionError",
    "decode_action",
    "decode_event",
    "decode_status",
    "encode",
    "new_id",
    "utc_now",
]
