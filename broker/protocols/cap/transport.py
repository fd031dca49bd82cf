"""The ``cap`` output: each event as a CAP 1.2 alert POSTed to an aggregator.

2xx = delivered; 408, 425, 429, 5xx, timeouts and connection errors = retry;
other statuses (4xx, and 3xx: redirects are not followed) = rejected. An event
that cannot be written as CAP is rejected without a request. The transport
remembers the messages it delivered per open incident (bounded, in memory) to
fill ``<references>`` of updates and ends; see docs/cap.md for what a restart
does to that.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

import httpx

from broker.metrics import PROTOCOL_MESSAGES, PROTOCOL_REJECTED
from broker.outputs.base import DeliveryResult, Outcome, OutputHealth
from broker.outputs.webhook import classify_status
from broker.protocols.cap.codec import encode_alert
from broker.protocols.cap.config import CapOutputConfig
from broker.protocols.cap.errors import CapEncodeError
from broker.protocols.cap.health import PeerHealth
from broker.protocols.cap.mapping import event_to_alert, identifier_for
from broker.protocols.cap.model import Reference
from events import Event, Phase

logger = logging.getLogger(__name__)

PROTOCOL = "cap"
MAX_REFERENCES = 16  # the first message of an incident and the most recent ones


class CapHttpOutput:
    """POSTs one CAP alert per attempt; the delivery core retries."""

    def __init__(self, config: CapOutputConfig, name: str) -> None:
        self._config = config
        self._name = name
        self._client: httpx.AsyncClient | None = None
        self._health = PeerHealth(name, detail=config.url)
        self._sent: OrderedDict[str, tuple[Reference, ...]] = OrderedDict()

    @property
    def name(self) -> str:
        """The output's configured name."""
        return self._name

    async def start(self) -> None:
        """Create the HTTP client (connections are opened when needed and kept alive)."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self._config.timeout_s,
                verify=self._config.verify_tls,
                follow_redirects=False,
                headers=self._config.headers,
            )

    def earlier_messages(self, incident_id: str) -> tuple[Reference, ...]:
        """The delivered messages of an open incident, oldest first."""
        return self._sent.get(incident_id, ())

    def _remember(self, event: Event, reference: Reference) -> None:
        if event.phase is Phase.END:
            self._sent.pop(event.incident_id, None)
            return
        chain = self._sent.pop(event.incident_id, ())
        if reference not in chain:
            chain = (*chain, reference)
        if len(chain) > MAX_REFERENCES:
            chain = (chain[0], *chain[-(MAX_REFERENCES - 1) :])
        self._sent[event.incident_id] = chain
        while len(self._sent) > self._config.remembered_incidents:
            self._sent.popitem(last=False)

    async def deliver(self, event: Event) -> DeliveryResult:
        """POST the event's CAP alert; never raises for peer problems."""
        await self.start()
        assert self._client is not None
        identifier = identifier_for(event, self._config)
        earlier = tuple(  # a redelivered event must not reference itself
            r for r in self.earlier_messages(event.incident_id) if r.identifier != identifier
        )
        alert = event_to_alert(event, self._config, earlier)
        try:
            body = encode_alert(alert)
        except CapEncodeError as exc:
            PROTOCOL_REJECTED.labels(PROTOCOL, exc.reason).inc()
            logger.warning("event %s cannot be written as CAP: %s", event.event_id, exc)
            self._health.note_error(str(exc))
            return DeliveryResult(Outcome.REJECTED, f"not valid CAP: {exc}")
        headers = {"Content-Type": self._config.content_type}
        try:
            response = await self._client.post(self._config.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            detail = f"{type(exc).__name__}: {exc}"
            self._health.down(detail)
            return DeliveryResult(Outcome.RETRY, detail)
        status = response.status_code
        PROTOCOL_MESSAGES.labels(self._name, "out", f"cap_{alert.msg_type.value.lower()}").inc()
        PROTOCOL_MESSAGES.labels(self._name, "in", f"http_{status // 100}xx").inc()
        outcome = classify_status(status)
        detail = f"HTTP {status} for {alert.msg_type.value} {alert.identifier}"
        if outcome is Outcome.DELIVERED:
            self._health.delivered(f"HTTP {status}")
            self._remember(event, alert.reference())
        elif outcome is Outcome.RETRY:
            self._health.down(detail)
        else:  # the aggregator answered: reachable, but it refuses this message
            self._health.refused(f"HTTP {status}", f"{detail}: {response.text[:200]}")
            logger.warning("CAP endpoint refused %s: HTTP %s", alert.identifier, status)
        return DeliveryResult(outcome, detail)

    def health(self) -> OutputHealth:
        """Reachable when the last attempt got an HTTP answer it understood."""
        return self._health.snapshot()

    async def close(self) -> None:
        """Close pooled connections."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
