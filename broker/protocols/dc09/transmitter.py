"""The ``dc09`` output: this adapter as a DC-09 transmitter to an alarm receiving centre.

One :meth:`Dc09Transmitter.deliver` call sends one sequence number up to
``attempts`` times, each time waiting ``ack_timeout_s`` for the answer:

* ACK (echoing the sequence number; encrypted when we encrypted) -> delivered;
* NAK -> the receiver's clock from the NAK becomes this receiver's time
  offset and the same sequence number is sent again with a corrected timestamp;
* DUH -> rejected (the receiver will never understand it);
* nothing, or a broken connection -> the next attempt; after
  ``failover_after`` consecutive failures the next receiver in the list takes
  over, and after ``failback_after_s`` on a backup the primary is tried again.

When every attempt failed the result is RETRY and the core's durable queue
tries again later. NULL supervision polls go out at start and then whenever
the link was quiet for ``supervision_interval_s``. All framing is done by the
pure codec.

Operator loop: a DC-09 ACK only says the receiving centre *received* the
alarm. With ``ack_means_acknowledged: true`` (for centres where receipt means
an operator has it on screen) the ACK of an alarm is applied as an
``acknowledge`` action on the alert, channel ``dc09``, operator = the
receiver's name; restores (incident end) are never applied that way.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from broker.metrics import PROTOCOL_MESSAGES, PROTOCOL_REJECTED
from broker.outputs.base import AdapterContext, DeliveryResult, Outcome, OutputHealth
from broker.protocols.dc09.codec import Message, Token, decode, encode
from broker.protocols.dc09.config import Dc09OutputConfig, Endpoint
from broker.protocols.dc09.errors import Dc09Error, EncodeError, FrameError
from broker.protocols.dc09.link import Link, TcpLink, UdpLink
from broker.protocols.dc09.outbound import Outbound
from events import ActionKind, Event, Phase

logger = logging.getLogger(__name__)

MAX_RESYNCS = 2  # NAK resynchronisations per delivery that do not use up an attempt

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Dc09Transmitter:
    """An :class:`~broker.outputs.base.OutputTransport` speaking DC-09 to a receiving centre."""

    def __init__(
        self,
        config: Dc09OutputConfig,
        name: str,
        context: AdapterContext | None = None,
        *,
        clock: Clock = _utc_now,
    ) -> None:
        self._config = config
        self._name = name
        self._context = context
        self._clock = clock
        self._key = config.key_bytes()
        self._outbound = Outbound.from_config(config)
        self._receivers: tuple[Endpoint, ...] = tuple(config.receivers)
        self._links: dict[int, Link] = {}
        self._offsets = [0.0] * len(self._receivers)  # receiver clock minus ours, seconds
        self._lock = asyncio.Lock()
        self._sequence = 0
        self._active = 0
        self._failures = 0
        self._switched_at = time.monotonic()
        self._last_ok = time.monotonic()
        self._last_poll = 0.0
        self._connected = False
        self._last_success: float | None = None
        self._last_error: str | None = None
        self._supervisor: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        """The output's configured name."""
        return self._name

    @property
    def active_receiver(self) -> Endpoint:
        """The receiver the next send goes to (before any failback)."""
        return self._receivers[self._active]

    async def start(self) -> None:
        """Start the supervision poller; its first poll goes out at once to learn the health."""
        self._last_ok = time.monotonic() - self._config.supervision_interval_s
        if self._config.supervision_interval_s > 0 and self._supervisor is None:
            self._supervisor = asyncio.create_task(self._supervise(), name=f"dc09-{self._name}")

    async def deliver(self, event: Event) -> DeliveryResult:
        """Send ``event`` under one sequence number until ACK, DUH or attempts run out."""
        if self._outbound.skips(event):
            return DeliveryResult(Outcome.DELIVERED, "incident update not sent (send_updates off)")
        try:
            message_for = self._outbound.event_builder(event)
        except Dc09Error as exc:
            return DeliveryResult(Outcome.REJECTED, f"cannot express the event in DC-09: {exc}")
        async with self._lock:
            sequence = self._next_sequence()
            build = functools.partial(message_for, sequence)
            result, endpoint = await self._transact(build, sequence)
        if (
            result.outcome is Outcome.DELIVERED
            and self._config.ack_means_acknowledged
            and self._context is not None
            and event.phase is not Phase.END
        ):
            await self._acknowledge(event, endpoint, sequence)
        return result

    def health(self) -> OutputHealth:
        """Connected while the last exchange got an answer; names the receiver in use."""
        endpoint = self._receivers[self._active]
        role = "primary" if self._active == 0 else f"backup {self._active}"
        return OutputHealth(
            connected=self._connected,
            detail=f"{endpoint.label} ({role}, {endpoint.transport})",
            last_success_at=self._last_success,
            last_error=self._last_error,
        )

    async def close(self) -> None:
        """Stop polling and close every link."""
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        for link in self._links.values():
            await link.close()
        self._links.clear()

    def _next_sequence(self) -> int:
        self._sequence = self._sequence % 9999 + 1  # 0001 ... 9999, then 0001 again
        return self._sequence

    async def _transact(
        self, build: Callable[[datetime], Message], sequence: int
    ) -> tuple[DeliveryResult, Endpoint]:
        attempts = 0
        resyncs = 0
        detail = "no attempt made"
        endpoint = self._receivers[self._active]
        while attempts < self._config.attempts:
            self._maybe_fail_back()
            index = self._active
            endpoint = self._receivers[index]
            message = build(self._clock() + timedelta(seconds=self._offsets[index]))
            try:
                frame = encode(message, self._key)
            except EncodeError as exc:
                return DeliveryResult(Outcome.REJECTED, f"cannot frame: {exc}"), endpoint
            try:
                answer = await self._exchange(index, frame, message)
            except (OSError, TimeoutError) as exc:
                attempts += 1
                detail = f"{endpoint.label}: {type(exc).__name__} {exc}".strip()
                self._failed(index, detail)
                continue
            self._connected = True
            if answer.token is Token.ACK:
                self._succeeded()
                return DeliveryResult(
                    Outcome.DELIVERED, f"ACK {sequence:04d} from {endpoint.label}"
                ), endpoint
            if answer.token is Token.DUH:
                detail = f"DUH {sequence:04d} from {endpoint.label}: the receiver cannot use it"
                self._last_error = detail
                return DeliveryResult(Outcome.REJECTED, detail), endpoint
            detail = self._resync(index, answer)
            resyncs += 1
            if resyncs > MAX_RESYNCS:
                attempts += 1
        self._last_error = detail
        return DeliveryResult(Outcome.RETRY, detail), endpoint

    async def _exchange(self, index: int, frame: bytes, message: Message) -> Message:
        """Send ``frame`` and wait for its ACK/DUH (same sequence) or any NAK."""
        link = self._link(index)
        try:
            async with asyncio.timeout(self._config.ack_timeout_s):
                await link.send(frame)  # connect and write, bounded like the wait for the answer
            PROTOCOL_MESSAGES.labels(self._name, "out", message.token.value.lower()).inc()
            async with asyncio.timeout(self._config.ack_timeout_s):
                while True:
                    answer = self._read_answer(await link.receive(), message)
                    if answer is not None:
                        return answer
        except (OSError, TimeoutError):
            if isinstance(link, TcpLink):
                await link.close()  # a half-read answer must not be taken for the next one
            raise

    def _read_answer(self, raw: bytes, message: Message) -> Message | None:
        try:
            answer = decode(raw, self._key)
        except FrameError as exc:
            PROTOCOL_REJECTED.labels("dc09", exc.reason).inc()
            logger.warning("output %s: unusable answer (%s): %s", self._name, exc.reason, exc)
            return None
        PROTOCOL_MESSAGES.labels(self._name, "in", answer.token.value.lower()).inc()
        if answer.token is Token.NAK:
            return answer
        if answer.token not in (Token.ACK, Token.DUH) or answer.sequence != message.sequence:
            logger.info(
                "output %s: ignoring %s %04d while waiting for %04d",
                self._name,
                answer.token.value,
                answer.sequence,
                message.sequence,
            )
            return None
        if answer.token is Token.ACK and message.encrypted and not answer.encrypted:
            PROTOCOL_REJECTED.labels("dc09", "plain_ack").inc()
            logger.warning("output %s: plain ACK to an encrypted message ignored", self._name)
            return None
        return answer

    def _resync(self, index: int, nak: Message) -> str:
        endpoint = self._receivers[index]
        if nak.timestamp is None:
            return f"NAK without a timestamp from {endpoint.label}"
        offset = (nak.timestamp - self._clock()).total_seconds()
        self._offsets[index] = offset
        logger.warning(
            "output %s: NAK from %s, time offset now %+.0f s", self._name, endpoint.label, offset
        )
        return f"NAK from {endpoint.label}; resynchronised by {offset:+.0f} s"

    def _link(self, index: int) -> Link:
        link = self._links.get(index)
        if link is None:
            endpoint = self._receivers[index]
            if endpoint.transport == "udp":
                link = UdpLink(endpoint.host, endpoint.port)
            else:
                link = TcpLink(endpoint.host, endpoint.port, self._config.ack_timeout_s)
            self._links[index] = link
        return link

    def _succeeded(self) -> None:
        self._failures = 0
        self._last_ok = time.monotonic()
        self._last_success = time.time()
        self._last_error = None

    def _failed(self, index: int, detail: str) -> None:
        self._connected = False
        self._last_error = detail
        self._failures += 1
        logger.warning(
            "output %s: send failed (%d in a row): %s", self._name, self._failures, detail
        )
        if self._failures >= self._config.failover_after and len(self._receivers) > 1:
            self._active = (index + 1) % len(self._receivers)
            self._failures = 0
            self._switched_at = time.monotonic()
            logger.warning(
                "output %s: failing over to %s", self._name, self._receivers[self._active].label
            )

    def _maybe_fail_back(self) -> None:
        if self._active == 0:
            return
        if time.monotonic() - self._switched_at >= self._config.failback_after_s:
            logger.info("output %s: trying the primary receiver again", self._name)
            self._active = 0
            self._failures = 0
            self._switched_at = time.monotonic()

    async def _acknowledge(self, event: Event, endpoint: Endpoint, sequence: int) -> None:
        assert self._context is not None
        try:
            await self._context.operator_action(
                event.event_id,
                ActionKind.ACKNOWLEDGE,
                operator=endpoint.label,
                channel="dc09",
                note=f"DC-09 ACK of sequence {sequence:04d}",
            )
        except Exception:  # the delivery stands; the audit of the ack is the core's job
            logger.exception("output %s: applying the ACK as acknowledgement failed", self._name)

    async def _supervise(self) -> None:
        interval = self._config.supervision_interval_s
        while True:
            quiet = time.monotonic() - max(self._last_ok, self._last_poll)
            if quiet < interval:
                await asyncio.sleep(interval - quiet)
                continue
            async with self._lock:
                self._last_poll = time.monotonic()
                sequence = self._next_sequence()
                build = functools.partial(self._outbound.null_message, sequence)
                result, _ = await self._transact(build, sequence)
            logger.debug("output %s: supervision poll %s", self._name, result.detail)
