"""Errors raised by the broker adapter core.

BrokerError                    base of everything the adapter core raises
├── OutputTypeError            an output's ``type`` is not in the registry
├── StorageError               the database failed or holds unexpected data
├── AlertNotFoundError         no alert matches an id or prefix
├── AmbiguousAlertError        a prefix matches several alerts
└── AlertStateError            the alert is closed, the action no longer applies
"""

from __future__ import annotations


class BrokerError(Exception):
    """Base class of the adapter core's errors."""


class OutputTypeError(BrokerError):
    """An output names a ``type`` no registered plug-in provides."""


class StorageError(BrokerError):
    """The storage backend failed; the message says which operation."""


class AlertNotFoundError(BrokerError):
    """No alert matches the given event id, incident id or prefix."""


class AmbiguousAlertError(BrokerError):
    """A prefix matches more than one alert."""


class AlertStateError(BrokerError):
    """The alert is already closed (confirmed or dismissed)."""
