"""The ``dc09_receiver``: legacy alarm panels and call points send DC-09 to this adapter.

A thin asyncio TCP and UDP server. Each frame goes to the pure
:func:`~broker.protocols.dc09.inbound.judge`; accepted events are published
through :meth:`AdapterContext.publish_event` *before* the ACK is sent, so a
panel only stops retrying once the event is on its way (a failed publish
gets no ACK and the panel sends again). A retransmission of a message already
published (same account, sequence and content, e.g. after a lost ACK) is
ACKed again but not published twice. Rejections are counted in
``streetsense_adapter_protocol_rejected_total{protocol="dc09",reason=...}``.

It is registered as an output type so the core builds and starts it like any
output; :meth:`Dc09Receiver.deliver` rejects (nothing is delivered *to* it).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import OrderedDict
from datetime import UTC, datetime

from broker.metrics import PROTOCOL_MESSAGES, PROTOCOL_REJECTED
from broker.outputs.base import AdapterContext, DeliveryResult, Outcome, OutputHealth
from broker.protocols.dc09.codec import MAX_FRAME_BYTES
from broker.protocols.dc09.config import Dc09ReceiverConfig
from broker.protocols.dc09.inbound import Account, Verdict, Window, judge
from broker.protocols.dc09.mapping import DEFAULT_INBOUND, InboundCode
from broker.protocols.dc09.panel import IncidentTracker, PanelSettings, PanelSite, panel_events
from events import Event

logger = logging.getLogger(__name__)

PUBLISH_TIMEOUT_S = 5.0
DUPLICATE_WINDOW_S = 300.0
_MAX_UDP_TASKS = 256


class Dc09Receiver:
    """DC-09 receiver for panels; an output-shaped component whose ``start()`` listens."""

    def __init__(self, config: Dc09ReceiverConfig, name: str, context: AdapterContext) -> None:
        self._config = config
        self._name = name
        self._context = context
        self._accounts = {
            item.account.upper(): Account(item.account.upper(), item.key_bytes())
            for item in config.accounts
        }
        self._places = {
            item.account.upper(): PanelSite(
                item.site or config.site, item.source_id or f"dc09-{item.account.lower()}"
            )
            for item in config.accounts
        }
        codes = dict(DEFAULT_INBOUND)
        for code, target in config.codes.items():
            codes[code] = InboundCode(target.category, target.severity)
        self._settings = PanelSettings(
            config.agent, codes, config.publish_unmapped, frozenset(config.ignore_codes)
        )
        self._window = Window(
            config.window_future_s, config.window_past_s, config.require_timestamp
        )
        self._tracker = IncidentTracker()
        self._seen: OrderedDict[bytes, float] = OrderedDict()
        self._tcp: asyncio.Server | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self._udp_tasks: set[asyncio.Task[None]] = set()
        self._last_accepted: float | None = None
        self._last_error: str | None = None
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:
        """The configured name."""
        return self._name

    @property
    def tcp_port(self) -> int | None:
        """The bound TCP port (useful with port 0)."""
        if self._tcp is None or not self._tcp.sockets:
            return None
        port: int = self._tcp.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        """Open the TCP and UDP listeners."""
        host, port = self._config.host, self._config.port
        if "tcp" in self._config.transports:
            self._tcp = await asyncio.start_server(
                self._serve_tcp, host, port, limit=MAX_FRAME_BYTES
            )
            port = self.tcp_port or port
        if "udp" in self._config.transports:
            loop = asyncio.get_running_loop()
            self._udp, _ = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self), local_addr=(host, port)
            )
        logger.info("dc09 receiver %s listening on %s:%s %s", self._name, host, port,
                    "+".join(self._config.transports))  # fmt: skip

    async def deliver(self, event: Event) -> DeliveryResult:
        """A receiver takes no deliveries: route events to a ``dc09`` output instead."""
        return DeliveryResult(Outcome.REJECTED, "dc09_receiver only receives from panels")

    def health(self) -> OutputHealth:
        """Listening state, open connections and the last accepted message."""
        listening = self._tcp is not None or self._udp is not None
        return OutputHealth(
            connected=listening,
            detail=f"{self._config.host}:{self._config.port} "
            f"{'+'.join(self._config.transports)}, {len(self._connections)} TCP connections",
            last_success_at=self._last_accepted,
            last_error=self._last_error,
        )

    async def close(self) -> None:
        """Stop listening and drop every connection."""
        if self._tcp is not None:
            self._tcp.close()
        for writer in list(self._connections):
            writer.close()
        if self._tcp is not None:
            await self._tcp.wait_closed()
            self._tcp = None
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        for task in list(self._udp_tasks):
            task.cancel()
        for task in list(self._udp_tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def handle(self, raw: bytes) -> bytes | None:
        """Judge one frame, publish its events, and return the answer (None: silence)."""
        now = datetime.now(UTC)
        verdict = judge(raw, self._accounts, now, self._window)
        if verdict.reason is not None:
            return self._rejected(verdict)
        assert verdict.message is not None
        message = verdict.message
        PROTOCOL_MESSAGES.labels(self._name, "in", message.token.value.lower()).inc()
        if verdict.payload is None or verdict.account is None:
            return verdict.answer  # NULL supervision: just the ACK
        # a resend after a lost ACK keeps sequence and data but may carry a new timestamp
        fingerprint = hashlib.sha256(
            f"{message.account}|{message.sequence}|{message.data}|{message.extended}".encode()
        ).digest()
        async with self._lock:
            if self._is_duplicate(fingerprint):
                PROTOCOL_MESSAGES.labels(self._name, "in", "duplicate").inc()
                return verdict.answer
            place = self._places[verdict.account.account]
            events = panel_events(
                message, verdict.payload, place, self._settings, self._tracker, now=now
            )
            try:
                async with asyncio.timeout(PUBLISH_TIMEOUT_S):
                    for event in events:
                        await self._context.publish_event(event)  # the core counts it
            except Exception as exc:  # no ACK: the panel sends it again
                PROTOCOL_REJECTED.labels("dc09", "publish_failed").inc()
                self._last_error = f"publish failed: {type(exc).__name__} {exc}"
                logger.exception("dc09 receiver %s: publish failed, not acknowledged", self._name)
                return None
            self._seen[fingerprint] = time.monotonic()
        self._last_accepted = time.time()
        return verdict.answer

    def _rejected(self, verdict: Verdict) -> bytes | None:
        assert verdict.reason is not None
        PROTOCOL_REJECTED.labels("dc09", verdict.reason).inc()
        self._last_error = f"{verdict.reason}: {verdict.detail}"
        logger.warning(
            "dc09 receiver %s rejected a frame (%s): %s", self._name, verdict.reason, verdict.detail
        )
        return verdict.answer

    def _is_duplicate(self, fingerprint: bytes) -> bool:
        cutoff = time.monotonic() - DUPLICATE_WINDOW_S
        while self._seen and next(iter(self._seen.values())) < cutoff:
            self._seen.popitem(last=False)
        while len(self._seen) > 10_000:
            self._seen.popitem(last=False)
        return fingerprint in self._seen

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._connections) >= self._config.max_connections:
            PROTOCOL_REJECTED.labels("dc09", "too_many_connections").inc()
            writer.close()
            return
        self._connections.add(writer)
        try:
            while True:
                try:
                    async with asyncio.timeout(self._config.idle_timeout_s):
                        chunk = await reader.readuntil(b"\r")
                except asyncio.LimitOverrunError:
                    PROTOCOL_REJECTED.labels("dc09", "oversize").inc()
                    break  # no frame boundary within a frame's length: drop the connection
                except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                    break
                answer = await self.handle(_normalise(chunk))
                if answer is not None:
                    writer.write(answer)
                    await writer.drain()
                    PROTOCOL_MESSAGES.labels(self._name, "out", _kind(answer)).inc()
        except ConnectionError:
            pass
        finally:
            self._connections.discard(writer)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    def on_datagram(self, data: bytes, addr: tuple[str | bytes, int]) -> None:
        """Answer one UDP datagram in a task (bounded; excess datagrams are counted)."""
        if len(self._udp_tasks) >= _MAX_UDP_TASKS:
            PROTOCOL_REJECTED.labels("dc09", "overload").inc()
            return
        task = asyncio.get_running_loop().create_task(self._answer_datagram(data, addr))
        self._udp_tasks.add(task)
        task.add_done_callback(self._udp_tasks.discard)

    async def _answer_datagram(self, data: bytes, addr: tuple[str | bytes, int]) -> None:
        answer = await self.handle(_normalise(data))
        if answer is not None and self._udp is not None:
            self._udp.sendto(answer, addr)
            PROTOCOL_MESSAGES.labels(self._name, "out", _kind(answer)).inc()


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, receiver: Dc09Receiver) -> None:
        self._receiver = receiver

    def datagram_received(self, data: bytes, addr: tuple[str | bytes, int]) -> None:
        self._receiver.on_datagram(data, addr)


def _normalise(chunk: bytes) -> bytes:
    """Tolerate stray whitespace or NUL before the <LF> some panels send."""
    return b"\n" + chunk.lstrip(b"\r\n\x00 \t")


def _kind(answer: bytes) -> str:
    start = answer.find(b'"') + 1
    return answer[start : answer.find(b'"', start)].decode("ascii", "replace").lower()
