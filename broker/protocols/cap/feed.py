"""The ``cap_feed`` output: open alerts served as an Atom feed of CAP 1.2 messages.

Pull instead of push: consoles and aggregators poll ``<path>/feed.atom`` and
fetch each entry's CAP document from ``<path>/alerts/<identifier>.xml``. A
delivery stores the event's CAP message (SQLite, so the feed and the
``<references>`` of later updates survive restarts) and counts as delivered
once stored. An incident stays listed with its latest message until it has
ended ``keep_ended_s`` ago or its message expired.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from datetime import UTC, datetime

from aiohttp import web

from broker.metrics import PROTOCOL_MESSAGES, PROTOCOL_REJECTED
from broker.outputs.base import DeliveryResult, Outcome, OutputHealth
from broker.protocols.cap.atom import render_feed
from broker.protocols.cap.codec import encode_alert
from broker.protocols.cap.config import CapFeedConfig
from broker.protocols.cap.errors import CapEncodeError
from broker.protocols.cap.health import PeerHealth
from broker.protocols.cap.mapping import event_to_alert, identifier_for
from broker.protocols.cap.spec import TOKEN
from broker.protocols.cap.store import FeedStore, StoredMessage
from events import Event, Phase

logger = logging.getLogger(__name__)

PROTOCOL = "cap"


class CapFeedOutput:
    """Keeps a feed of open alerts and serves it over HTTP."""

    def __init__(self, config: CapFeedConfig, name: str) -> None:
        self._config = config
        self._name = name
        self._store = FeedStore(config.state_path)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._health = PeerHealth(name, detail="not started")

    @property
    def name(self) -> str:
        """The output's configured name."""
        return self._name

    @property
    def port(self) -> int | None:
        """The port the feed is served on (once started)."""
        return self._port

    @property
    def base_url(self) -> str:
        """The URL prefix of the feed and its messages."""
        if self._config.public_url is not None:
            return self._config.public_url
        return f"http://{self._config.host}:{self._port}{self._config.path}"

    async def start(self) -> None:
        """Open the store and start serving."""
        if self._runner is not None:
            return
        await asyncio.to_thread(self._store.open)
        app = web.Application()
        app.router.add_get(f"{self._config.path}/feed.atom", self._feed)
        app.router.add_get(f"{self._config.path}/alerts/{{identifier}}.xml", self._message)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self._config.host, self._config.port)
        await site.start()
        self._runner = runner
        addresses = runner.addresses
        self._port = int(addresses[0][1]) if addresses else self._config.port
        self._health.up(f"serving {self.base_url}/feed.atom")

    async def _feed(self, request: web.Request) -> web.Response:
        now = time.time()
        messages = await asyncio.to_thread(
            self._store.listed, now, self._config.keep_ended_s, self._config.max_entries
        )
        body = render_feed(
            messages, base_url=self.base_url, title=self._config.title,
            author=self._config.sender_name, now=datetime.now(UTC),
        )  # fmt: skip
        PROTOCOL_MESSAGES.labels(self._name, "in", "feed_request").inc()
        return web.Response(body=body, content_type="application/atom+xml", charset="utf-8")

    async def _message(self, request: web.Request) -> web.Response:
        identifier = request.match_info["identifier"]
        xml = None
        if TOKEN.match(identifier):
            xml = await asyncio.to_thread(self._store.message, identifier)
        if xml is None:
            PROTOCOL_REJECTED.labels(PROTOCOL, "unknown_message").inc()
            raise web.HTTPNotFound(text="no such CAP message\n")
        PROTOCOL_MESSAGES.labels(self._name, "in", "message_request").inc()
        return web.Response(body=xml, content_type="application/cap+xml", charset="utf-8")

    async def deliver(self, event: Event) -> DeliveryResult:
        """Add the event's CAP message to the feed; never raises for storage problems."""
        try:
            await self.start()
        except (OSError, sqlite3.Error) as exc:  # state file not writable, port taken
            return self._failed(f"cannot serve the feed: {type(exc).__name__}: {exc}")
        identifier = identifier_for(event, self._config)
        earlier = await asyncio.to_thread(
            self._store.references, event.incident_id, excluding=identifier
        )
        alert = event_to_alert(event, self._config, earlier)
        try:
            xml = encode_alert(alert)
        except CapEncodeError as exc:
            PROTOCOL_REJECTED.labels(PROTOCOL, exc.reason).inc()
            self._health.note_error(str(exc))
            return DeliveryResult(Outcome.REJECTED, f"not valid CAP: {exc}")
        info = alert.infos[0]
        expires = None if info.expires is None else info.expires.timestamp()
        now = time.time()
        message = StoredMessage(
            identifier=alert.identifier, incident_id=event.incident_id, sender=alert.sender,
            sent=alert.sent, expires_ts=expires, ended=event.phase is Phase.END,
            headline=info.headline or "", summary=info.description or "", stored_at=now,
        )  # fmt: skip
        try:
            await asyncio.to_thread(self._store.put, message, xml)
            await asyncio.to_thread(self._store.prune, now, self._config.keep_ended_s)
        except (OSError, sqlite3.Error) as exc:  # disk full, database locked: try again later
            return self._failed(f"{type(exc).__name__}: {exc}")
        PROTOCOL_MESSAGES.labels(self._name, "out", f"cap_{alert.msg_type.value.lower()}").inc()
        self._health.delivered(f"serving {self.base_url}/feed.atom")
        return DeliveryResult(
            Outcome.DELIVERED, f"{alert.msg_type.value} {alert.identifier} in the feed"
        )

    def _failed(self, detail: str) -> DeliveryResult:
        logger.warning("CAP feed %s could not store a message: %s", self._name, detail)
        self._health.down(detail)
        return DeliveryResult(Outcome.RETRY, detail)

    def health(self) -> OutputHealth:
        """Up while the feed is served and its store writable."""
        return self._health.snapshot()

    async def close(self) -> None:
        """Stop serving and close the store."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await asyncio.to_thread(self._store.close)
        self._health.stopped()
