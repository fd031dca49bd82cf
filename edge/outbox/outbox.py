"""The outbox: store an event durably, then let the publisher send it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from edge.outbox.config import BrokerConfig, OutboxConfig
from edge.outbox.errors import OutboxError
from edge.outbox.publisher import ActionHandler, CommandHandler, Publisher
from edge.outbox.spool import Spool, SpoolItem
from events import Event, topics

logger = logging.getLogger(__name__)


class Outbox:
    """Spool + publisher. :meth:`submit` and :meth:`submit_many` return once events are on disk."""

    def __init__(
        self,
        config: OutboxConfig,
        broker: BrokerConfig,
        *,
        site: str,
        agent: str,
        version: str = "",
        on_action: ActionHandler | None = None,
        on_command: CommandHandler | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._site = site
        self._agent = agent
        self.spool = Spool(
            config.path,
            max_events=config.max_events,
            synchronous=config.synchronous,
            clock=clock,
        )
        self.publisher = Publisher(
            broker,
            self.spool,
            site=site,
            agent=agent,
            max_inflight=config.max_inflight,
            version=version,
            on_action=on_action,
            on_command=on_command,
            clock=clock,
        )

    def start(self) -> None:
        """Start publishing (replays whatever the spool holds from a previous run)."""
        self.publisher.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop publishing; unsent events stay on disk for the next run."""
        self.publisher.stop(timeout)
        self.spool.close()

    def submit(self, event: Event, captured_at: float | None = None) -> bool:
        """Store ``event`` durably and wake the publisher.

        ``captured_at`` is the capture time of the evidence (the clip's last
        frame), used for the end-to-end latency histogram. Returns False when
        the event could not be stored (already counted and logged).
        """
        return self.submit_many([(event, captured_at)])[0]

    def submit_many(self, events: Sequence[tuple[Event, float | None]]) -> list[bool]:
        """Store ``(event, captured_at)`` pairs in one transaction, then wake the publisher.

        One fsync for the whole batch, so events produced together do not wait
        for each other's fsyncs. Returns once every stored event is on disk,
        one flag per event (False: not stored, already counted and logged).
        """
        items = [
            SpoolItem(event, topics.events(self._site, self._agent, event.category), captured_at)
            for event, captured_at in events
        ]
        if not items:
            return []
        outcomes = self.spool.append_many(items)
        stored: list[bool] = []
        for item, outcome in zip(items, outcomes, strict=True):
            if isinstance(outcome, OutboxError):
                logger.error("event %s not stored in the outbox: %s", item.event.event_id, outcome)
                stored.append(False)
            else:
                stored.append(True)
        if any(stored):
            self.publisher.notify()
        return stored

    @property
    def connected(self) -> bool:
        """True while the broker session is up."""
        return self.publisher.connected

    def backlog(self) -> int:
        """Events on disk not yet acknowledged by the broker."""
        return self.spool.backlog()
