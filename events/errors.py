"""Errors raised while decoding wire payloads.

EventError                     base; ``reason`` is a short label for metrics
├── OversizePayloadError       payload larger than MAX_PAYLOAD_BYTES
├── MalformedPayloadError      not JSON, or not a JSON object
├── UnsupportedVersionError    schema_version missing or not supported
└── InvalidFieldError          a field is missing, of the wrong type or out of range
"""

from __future__ import annotations


class EventError(ValueError):
    """A wire payload was rejected; ``reason`` labels the rejection in metrics."""

    reason = "invalid"


class OversizePayloadError(EventError):
    """The payload exceeds the size limit and was not parsed."""

    reason = "oversize"


class MalformedPayloadError(EventError):
    """The payload is not a JSON object."""

    reason = "malformed"


class UnsupportedVersionError(EventError):
    """The payload declares a schema version this build does not speak."""

    reason = "unsupported_version"


class InvalidFieldError(EventError):
    """A field is missing, has the wrong type or is out of range."""

    reason = "invalid_field"
