"""The adapter core: accept events, keep alerts, apply operator actions.

:class:`AdapterCore` is the :class:`broker.outputs.base.AdapterContext` the
transports call back into. Accepting a batch of events is one exclusive
transaction: dedupe, queue for every routed output, open or update alerts and
append the audit rows; only after it commits are the MQTT messages
acknowledged (see :mod:`broker.ingest`).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from broker import alerts, audit, dedupe, metrics
from broker.errors import AlertNotFoundError, AlertStateError, AmbiguousAlertError
from broker.intake import EventIn
from broker.queue.base import DeliveryQueue, NewDelivery, QueueItem
from broker.routing import RouteDecision, Router
from broker.storage import Database, Tx
from events import ActionKind, Event, OperatorAction, encode, new_id, topics, utc_now

logger = logging.getLogger(__name__)

ADAPTER = "adapter"  # the actor of the adapter's own audit rows


class Publisher(Protocol):
    """Publishes to MQTT (implemented by :class:`broker.ingest.MqttIngest`)."""

    async def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        """Publish one message; QoS 1 unless told otherwise."""
        ...


class AcceptResult(enum.StrEnum):
    """What became of one accepted event."""

    QUEUED = "queued"
    UNROUTED = "unrouted"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class Acceptance:
    """What became of one event, and the outputs it was queued for."""

    result: AcceptResult
    outputs: tuple[str, ...] = ()


_DUPLICATE = Acceptance(AcceptResult.DUPLICATE)
_UNROUTED = Acceptance(AcceptResult.UNROUTED)


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    """An applied operator action and the alert it changed."""

    action: OperatorAction
    alert: alerts.Alert


class AdapterCore:
    """Accepts events, tracks alerts and applies operator actions."""

    def __init__(
        self,
        *,
        database: Database,
        queue: DeliveryQueue,
        router: Router,
        publisher: Publisher | None = None,
        clock: Callable[[], float] = time.time,
        instance: str = "",
    ) -> None:
        self.database = database
        self.instance = instance  # recorded in audit rows (which instance did it)
        self.queue = queue
        self.router = router
        self.publisher = publisher
        self._clock = clock
        self._wakers: dict[str, Callable[[], None]] = {}

    def on_enqueued(self, output: str, wake: Callable[[], None]) -> None:
        """Call ``wake`` (from any thread) after deliveries are queued for ``output``."""
        self._wakers[output] = wake

    # -- accepting events -------------------------------------------------

    def accept(self, batch: Sequence[EventIn]) -> list[Acceptance]:
        """Dedupe, route, queue, alert and audit a batch in one transaction."""
        now = self._clock()
        with self.database.transaction(exclusive=True) as tx:
            results = self._accept_batch(tx, batch, now)
        touched: set[str] = set()
        accepted_by: Counter[str] = Counter()
        unrouted_by: Counter[str] = Counter()
        duplicates = 0
        for item, accepted in zip(batch, results, strict=True):
            if accepted.result is AcceptResult.DUPLICATE:
                duplicates += 1
                continue
            accepted_by[item.event.category] += 1
            if accepted.result is AcceptResult.UNROUTED:
                unrouted_by[item.event.category] += 1
            touched.update(accepted.outputs)
        if duplicates:
            metrics.DUPLICATES.inc(duplicates)
        for category, count in accepted_by.items():
            metrics.EVENTS_IN.labels(category).inc(count)
        for category, count in unrouted_by.items():
            metrics.UNROUTED.labels(category).inc(count)
        for output in touched:
            wake = self._wakers.get(output)
            if wake is not None:
                wake()
        return results

    def _accept_batch(self, tx: Tx, batch: Sequence[EventIn], now: float) -> list[Acceptance]:
        """The same as accepting each event in turn, with one batched write per table."""
        fresh = dedupe.first_sightings(tx, [item.event.event_id for item in batch], now)
        results: list[Acceptance] = []
        deliveries: list[NewDelivery] = []
        reviewed: list[tuple[Event, str]] = []
        entries: list[audit.NewEntry] = []
        for item, first in zip(batch, fresh, strict=True):
            if not first:
                results.append(_DUPLICATE)
                continue
            event = item.event
            decision = self.router.route(event)
            if decision.outputs:
                published_at = event.published_at.timestamp()
                deliveries.extend(
                    NewDelivery(output, event.event_id, item.payload, published_at)
                    for output in decision.outputs
                )
                if event.requires_review:
                    reviewed.append((event, item.payload))
                results.append(Acceptance(AcceptResult.QUEUED, decision.outputs))
            else:
                results.append(_UNROUTED)
            entries.append(self._accepted_entry(event, decision))
        self.queue.enqueue_many(tx, deliveries, now)
        alerts.record_events(tx, reviewed, now)
        audit.Chain(tx).extend(entries)
        return results

    def _accepted_entry(self, event: Event, decision: RouteDecision) -> audit.NewEntry:
        return audit.NewEntry(
            actor=ADAPTER,
            channel="mqtt",
            action="event.accepted",
            subject=event.event_id,
            details={
                "incident_id": event.incident_id,
                "site": event.site,
                "agent": event.agent,
                "category": event.category,
                "severity": event.severity.value,
                "phase": event.phase.value,
                "outputs": list(decision.outputs),
                "rules": list(decision.rules),
                "instance": self.instance,
            },
        )

    async def accept_async(self, batch: Sequence[EventIn]) -> list[Acceptance]:
        """:meth:`accept` off the event loop."""
        return await asyncio.to_thread(self.accept, batch)

    # -- operator actions -------------------------------------------------

    def _act(
        self, ref: str, action: ActionKind, operator: str, channel: str, note: str
    ) -> ActionOutcome:
        now = self._clock()
        refusal: Exception | None = None
        with self.database.transaction(exclusive=True) as tx:
            try:
                resolved = alerts.resolve(tx, ref)
                updated = alerts.apply(
                    tx, resolved.alert, action, operator=operator, channel=channel, note=note,
                    now=now,
                )  # fmt: skip
            except (AlertNotFoundError, AmbiguousAlertError, AlertStateError) as exc:
                refusal = exc
                existing = alerts.get(tx, ref)
                if existing is not None and existing.state.closed:
                    refusal = AlertStateError(f"alert {ref} is already {existing.state.value}")
                # the refusal is audited (committed) before it is raised
                self._audit_refusal(tx, ref, action, operator, channel=channel, note=note,
                                    error=refusal)  # fmt: skip
            else:
                answer = OperatorAction(
                    action_id=new_id(),
                    event_id=resolved.event_id,
                    incident_id=updated.incident_id,
                    action=action,
                    operator=operator[:256],
                    channel=channel,
                    note=note[:2048],
                    at=utc_now(),
                )
                audit.append(
                    tx,
                    actor=operator,
                    channel=channel,
                    action=f"alert.{action.value}",
                    subject=updated.incident_id,
                    details={
                        "ref": ref,
                        "action_id": answer.action_id,
                        "event_id": answer.event_id,
                        "from": resolved.alert.state.value,
                        "to": updated.state.value,
                        "note": note,
                    },
                )
        if refusal is not None:
            raise refusal
        return ActionOutcome(answer, updated)

    @staticmethod
    def _audit_refusal(tx: Tx, ref: str, action: ActionKind, operator: str, *, channel: str,
                       note: str, error: Exception) -> None:  # fmt: skip
        audit.append(
            tx,
            actor=operator,
            channel=channel,
            action=f"alert.{action.value}",
            subject=ref,
            details={"result": "no match", "reason": str(error), "note": note},
        )

    async def act(
        self, ref: str, action: ActionKind, *, operator: str, channel: str, note: str = ""
    ) -> ActionOutcome:
        """Apply an action or raise (not found, ambiguous, closed); audited either way.

        The resulting :class:`events.OperatorAction` is published to the agent's
        ``acks`` topic (QoS 1).
        """
        outcome = await asyncio.to_thread(self._act, ref, action, operator, channel, note)
        metrics.OPERATOR_ACTIONS.labels(action.value, channel).inc()
        logger.info(
            "operator %s %s alert %s via %s", operator, action.value,
            outcome.alert.incident_id, channel,
        )  # fmt: skip
        if self.publisher is not None:
            await self.publisher.publish(
                topics.acks(outcome.alert.site, outcome.alert.agent), encode(outcome.action), 1
            )
        return outcome

    async def operator_action(
        self,
        alert_ref: str,
        action: ActionKind,
        *,
        operator: str,
        channel: str,
        note: str = "",
    ) -> bool:
        """:class:`AdapterContext` entry point: False when no open alert matches."""
        try:
            await self.act(alert_ref, action, operator=operator, channel=channel, note=note)
        except (AlertNotFoundError, AmbiguousAlertError, AlertStateError) as exc:
            logger.info("operator action %s on %r via %s refused: %s",
                        action.value, alert_ref, channel, exc)  # fmt: skip
            return False
        return True

    # -- inbound events ---------------------------------------------------

    async def publish_event(self, event: Event) -> None:
        """Publish an event from a legacy system to MQTT on its events topic (QoS 1)."""
        if self.publisher is None:
            raise RuntimeError("the adapter has no MQTT publisher yet")
        await self.publisher.publish(
            topics.events(event.site, event.agent, event.category), encode(event), 1
        )
        metrics.INBOUND_EVENTS.labels(event.agent).inc()
        await self.record(
            "inbound.published",
            event.event_id,
            {"site": event.site, "agent": event.agent, "category": event.category},
            channel=event.agent,
        )

    # -- audit helpers ----------------------------------------------------

    def record_sync(self, action: str, subject: str, details: dict[str, Any], *,
                    actor: str = ADAPTER, channel: str = "system") -> None:  # fmt: skip
        """Append one audit row in its own transaction."""
        with self.database.transaction(exclusive=True) as tx:
            audit.append(
                tx, actor=actor, channel=channel, action=action, subject=subject, details=details
            )

    async def record(self, action: str, subject: str, details: dict[str, Any], *,
                     actor: str = ADAPTER, channel: str = "system") -> None:  # fmt: skip
        """:meth:`record_sync` off the event loop."""
        await asyncio.to_thread(
            self.record_sync, action, subject, details, actor=actor, channel=channel
        )

    def requeue(self, seqs: Sequence[int], *, operator: str) -> list[QueueItem]:
        """Requeue dead letters (audited); returns those requeued."""
        with self.database.transaction(exclusive=True) as tx:
            items = self.queue.requeue(tx, seqs, self._clock())
            for item in items:
                audit.append(
                    tx, actor=operator, channel="api", action="delivery.requeued",
                    subject=item.event_id, details={"output": item.output, "seq": item.seq},
                )  # fmt: skip
        for output in {item.output for item in items}:
            wake = self._wakers.get(output)
            if wake is not None:
                wake()
        return items
