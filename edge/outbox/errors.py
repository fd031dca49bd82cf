"""Errors of the durable outbox.

OutboxError              base
├── SpoolError           the on-disk spool could not be opened, read or written
└── SpoolFullError       the spool is at its cap and the policy refused the event
"""

from __future__ import annotations


class OutboxError(Exception):
    """Something went wrong in the outbox; ``reason`` labels it in metrics."""

    reason = "outbox_error"


class SpoolError(OutboxError):
    """SQLite failed (disk full, permissions, corruption); the event was not stored."""

    reason = "spool_error"


class SpoolFullError(OutboxError):
    """The spool holds ``max_events`` and every stored event is more urgent than the new one."""

    reason = "spool_full_refused"
