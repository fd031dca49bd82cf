"""The swap point between the delivery core and each console protocol.

A protocol package provides a pure codec (no I/O) and a thin async transport
that implements :class:`OutputTransport`. The delivery core owns retries,
backoff, dead letters and the durable queue; a transport only tries once and
says how it went. Transports that also receive (DC-09 acks, radio replies,
legacy panels) talk back through :class:`AdapterContext`.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from events import ActionKind, Event


class Outcome(enum.StrEnum):
    """How one delivery attempt ended."""

    DELIVERED = "delivered"  # the peer acknowledged it
    RETRY = "retry"  # transient: peer down, timeout, NAK; the core retries with backoff
    REJECTED = "rejected"  # permanent: the peer will never take it; dead-lettered at once


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """The result of one delivery attempt, with a short human-readable detail."""

    outcome: Outcome
    detail: str = ""


@dataclass(frozen=True, slots=True)
class OutputHealth:
    """What a transport knows about its peer right now."""

    connected: bool
    detail: str = ""
    last_success_at: float | None = None  # time.time() of the last delivered attempt
    last_error: str | None = None


class OutputTransport(Protocol):
    """One configured output (a receiving centre, a VMS, a radio gateway, ...)."""

    @property
    def name(self) -> str:
        """The output's name from the adapter config."""
        ...

    async def start(self) -> None:
        """Open connections and start any inbound listeners."""
        ...

    async def deliver(self, event: Event) -> DeliveryResult:
        """Try once to deliver ``event``; never raise for peer problems."""
        ...

    def health(self) -> OutputHealth:
        """Current health, cheap to call (used by the API and metrics)."""
        ...

    async def close(self) -> None:
        """Stop listeners and close connections."""
        ...


@runtime_checkable
class BatchTransport(Protocol):
    """An output that can deliver several queued events better than one by one.

    Optional: the delivery worker hands a transport that has ``deliver_many`` a
    run of due queued events (oldest first); any other transport gets them one
    ``deliver`` call at a time, stopping after a RETRY (the default).
    """

    async def deliver_many(self, events: Sequence[Event]) -> list[DeliveryResult]:
        """Try once to deliver ``events`` in order, stopping after the first RETRY.

        Returns one result per event attempted, in order: a prefix of ``events``
        (at least one). Events after a RETRY are not sent, so nothing overtakes
        an event that must be retried; a REJECTED event does not stop the run.
        DELIVERED only for an event the peer acknowledged. Never raises for
        peer problems.
        """
        ...


class AdapterContext(Protocol):
    """What transports may ask of the adapter core (the inbound direction)."""

    async def operator_action(
        self,
        alert_ref: str,
        action: ActionKind,
        *,
        operator: str,
        channel: str,
        note: str = "",
    ) -> bool:
        """Apply an operator's answer to an alert.

        ``alert_ref`` is an event id, an incident id or an unambiguous prefix of
        one (radio handsets send short ids). Returns False when no open alert
        matches; the attempt is audited either way.
        """
        ...

    async def publish_event(self, event: Event) -> None:
        """Publish an event received from a legacy system (panel, camera) to MQTT."""
        ...
