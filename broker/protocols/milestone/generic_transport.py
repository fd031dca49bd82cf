"""Deliver events as XProtect generic-event records over TCP or UDP.

TCP: one connection per record (as Milestone's TriggerGenericEvent sample
does): connect, send the record, read the echo, close. A run of queued
records (:meth:`MilestoneGenericTransport.deliver_many`) shares one connection
when the data source separates records (separator bytes) and echoes each:
record, its echo, the next record; each echo still judges its own record.
The echo decides:

- statistics echo ``X,Y,Z,Name``: Y must count this record, Z > 0 means a
  generic event matched (Z = 0 is a rejection when ``require_match``);
- all-bytes echo: the bytes must come back unchanged;
- no echo: a clean send and close is all the confirmation there is.

UDP has no session: the datagram is sent on a connected socket and the
transport listens ``udp_wait_s`` for an echo datagram or an ICMP "port
unreachable" (reported by the kernel as ECONNREFUSED). Refused is a RETRY;
silence is DELIVERED with the detail "unconfirmed": UDP cannot do better.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from broker.metrics import PROTOCOL_MESSAGES, PROTOCOL_REJECTED
from broker.outputs.base import DeliveryResult, Outcome, OutputHealth
from broker.protocols.milestone.config import MilestoneGenericConfig
from broker.protocols.milestone.errors import EchoFormatError, RecordTooLongError
from broker.protocols.milestone.generic_codec import (
    MAX_ECHO_BYTES,
    EchoMode,
    GenericRecord,
    encode_record,
    fit,
    parse_statistics,
    plausible_length,
    separator_chars,
)
from broker.protocols.milestone.health import HealthTracker, probe_tcp
from broker.protocols.milestone.template import (
    SourceNames,
    Template,
    clean_text,
    event_fields,
)
from events import Event

logger = logging.getLogger(__name__)

PROTOCOL = "milestone_generic"
_READ_CHUNK = 4096
_ECHO_IDLE_S = 0.2  # a pause that ends an unterminated statistics echo


class MilestoneGenericTransport:
    """An :class:`~broker.outputs.base.OutputTransport` for XProtect generic events."""

    def __init__(self, config: MilestoneGenericConfig, name: str) -> None:
        self.config = config
        self._name = name
        self._template = Template(config.template)
        self._zone = ZoneInfo(config.timezone)
        self._names = SourceNames(config.cameras, config.places)
        self._health = HealthTracker(name)
        self._one_per_record = False  # set when the data source would not take a second record

    @property
    def name(self) -> str:
        """The output's name from the adapter config."""
        return self._name

    async def start(self) -> None:
        """Check that the data source accepts connections (TCP); each delivery connects anew."""
        if self.config.transport == "tcp":
            await probe_tcp(
                self._health, self.config.host, self.config.resolved_port, self.config.timeout_s
            )
        logger.info(
            "milestone generic output %s -> %s:%s/%s (%s, echo %s)",
            self._name,
            self.config.host,
            self.config.resolved_port,
            self.config.transport,
            self.config.style.value,
            self.config.resolved_echo.value,
        )

    async def close(self) -> None:
        """Nothing held open between deliveries (a run's connection closes with the run)."""

    def health(self) -> OutputHealth:
        """Health as of the last attempt."""
        return self._health.snapshot()

    def render(self, event: Event) -> GenericRecord:
        """The record for ``event`` (template rendered, sanitised, trimmed, encoded)."""
        config = self.config
        forbidden = separator_chars(config.resolved_separator, config.resolved_encoding)
        fields = event_fields(event, self._zone, self._names)
        text = self._template.render(fields, lambda value: clean_text(value, forbidden))
        text = fit(text, config.max_chars, keep_tail=event.incident_id)
        return encode_record(
            text,
            encoding=config.resolved_encoding,
            separator=config.resolved_separator,
            max_chars=config.max_chars,
        )

    async def deliver(self, event: Event) -> DeliveryResult:
        """Send one record and judge the echo; never raises for peer problems."""
        try:
            record = self.render(event)
        except RecordTooLongError as exc:
            return self._bad_record(exc)
        try:
            if self.config.transport == "udp":
                result = await self._send_udp(record)
            else:
                result = await self._send_tcp(record)
        except (OSError, TimeoutError) as exc:
            return self._unreachable(exc)
        return self._noted(result)

    async def deliver_many(self, events: Sequence[Event]) -> list[DeliveryResult]:
        """Send a run of records in order, stopping after the first RETRY.

        Over TCP with separator bytes and an echo (``batches_on_one_connection``)
        the run shares one connection: each record is sent only after the echo
        of the one before was read and judged, so every result is that record's
        own. Otherwise each record is one :meth:`deliver`.
        """
        if not self.config.batches_on_one_connection or self._one_per_record:
            return await self._one_by_one(events)
        results: list[DeliveryResult] = []
        session = _Session(self)
        try:
            for event in events:
                try:
                    record = self.render(event)
                except RecordTooLongError as exc:
                    results.append(self._bad_record(exc))
                    continue
                try:
                    result = await session.exchange(record)
                except (OSError, TimeoutError) as exc:
                    results.append(self._unreachable(exc))
                    break
                results.append(self._noted(result))
                if result.outcome is Outcome.RETRY:
                    break
        finally:
            await session.close()
        return results

    async def _one_by_one(self, events: Sequence[Event]) -> list[DeliveryResult]:
        results: list[DeliveryResult] = []
        for event in events:
            results.append(await self.deliver(event))
            if results[-1].outcome is Outcome.RETRY:
                break
        return results

    def _bad_record(self, exc: RecordTooLongError) -> DeliveryResult:
        PROTOCOL_REJECTED.labels(PROTOCOL, "bad_record").inc()
        return DeliveryResult(Outcome.REJECTED, str(exc))

    def _unreachable(self, exc: OSError | TimeoutError) -> DeliveryResult:
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        self._health.down(detail)
        return DeliveryResult(Outcome.RETRY, detail)

    def _noted(self, result: DeliveryResult) -> DeliveryResult:
        """``result``, with the output's health updated from it."""
        if result.outcome is Outcome.DELIVERED:
            self._health.up(result.detail)
        elif result.outcome is Outcome.RETRY:
            self._health.down(result.detail)
        else:
            self._health.up("reachable")
            self._health.note_error(result.detail)
        return result

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        config = self.config
        async with asyncio.timeout(config.timeout_s):
            return await asyncio.open_connection(config.host, config.resolved_port)

    async def _disconnect(self, writer: asyncio.StreamWriter) -> None:
        writer.close()
        try:
            async with asyncio.timeout(self.config.timeout_s):
                await writer.wait_closed()
        except (OSError, TimeoutError):
            logger.debug("closing the generic-event connection failed", exc_info=True)

    async def _send_tcp(self, record: GenericRecord) -> DeliveryResult:
        reader, writer = await self._connect()
        try:
            result, _ = await self._exchange(reader, writer, record)
            return result
        finally:
            await self._disconnect(writer)

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, record: GenericRecord
    ) -> tuple[DeliveryResult, bool]:
        """Send one record and judge its echo; also whether the connection may carry another."""
        config = self.config
        writer.write(record.payload)
        async with asyncio.timeout(config.timeout_s):
            await writer.drain()
        PROTOCOL_MESSAGES.labels(self._name, "out", "generic_event").inc()
        echo = config.resolved_echo
        if echo is EchoMode.NONE:
            return DeliveryResult(Outcome.DELIVERED, "sent (no echo configured)"), False
        try:
            if echo is EchoMode.BYTES:
                data = await self._read_exactly(reader, len(record.payload))
                return self._judge_bytes(record, data), True
            line, terminated = await self._read_echo_line(reader)
            return self._judge_statistics(record, line), terminated
        except asyncio.IncompleteReadError as exc:
            PROTOCOL_REJECTED.labels(PROTOCOL, "echo_incomplete").inc()
            return DeliveryResult(
                Outcome.RETRY, f"connection closed after {len(exc.partial)} echo bytes"
            ), False

    async def _read_echo_line(self, reader: asyncio.StreamReader) -> tuple[bytes, bool]:
        """One statistics echo: up to the separator, or what arrived before a short pause.

        The documentation does not say whether the echo is terminated (Milestone's
        stream sample copes with both), so a pause of ``_ECHO_IDLE_S`` after some
        bytes, or the server closing, also ends it. The flag says whether the
        echo ended exactly at a separator (then the next echo on the same
        connection cannot be confused with this one).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.timeout_s
        separator = self.config.resolved_separator or b"\r\n"
        data = b""
        while separator not in data and len(data) <= MAX_ECHO_BYTES:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError("no statistics echo")
            wait = min(remaining, _ECHO_IDLE_S) if data else remaining
            try:
                async with asyncio.timeout(wait):
                    chunk = await reader.read(_READ_CHUNK)
            except TimeoutError:
                if data:
                    break
                raise
            if not chunk:
                break
            data += chunk
        line, found, rest = data.partition(separator)
        return line, bool(found) and not rest

    async def _read_exactly(self, reader: asyncio.StreamReader, size: int) -> bytes:
        async with asyncio.timeout(self.config.timeout_s):
            return await reader.readexactly(size)

    def _judge_bytes(self, record: GenericRecord, data: bytes) -> DeliveryResult:
        PROTOCOL_MESSAGES.labels(self._name, "in", "echo_bytes").inc()
        if data != record.payload:
            PROTOCOL_REJECTED.labels(PROTOCOL, "echo_mismatch").inc()
            return DeliveryResult(Outcome.RETRY, "echo differs from the record sent")
        return DeliveryResult(Outcome.DELIVERED, f"echoed {len(data)} bytes")

    def _judge_statistics(self, record: GenericRecord, line: bytes) -> DeliveryResult:
        PROTOCOL_MESSAGES.labels(self._name, "in", "echo_statistics").inc()
        try:
            stats = parse_statistics(line, self.config.resolved_encoding)
        except EchoFormatError as exc:
            PROTOCOL_REJECTED.labels(PROTOCOL, "echo_malformed").inc()
            return DeliveryResult(Outcome.RETRY, f"unreadable echo: {exc}")
        if not plausible_length(stats, record):
            PROTOCOL_REJECTED.labels(PROTOCOL, "echo_length").inc()
            return DeliveryResult(
                Outcome.RETRY,
                f"server counted {stats.characters} characters, sent {len(record.text)}",
            )
        if stats.matches == 0 and self.config.require_match:
            PROTOCOL_REJECTED.labels(PROTOCOL, "no_match").inc()
            return DeliveryResult(
                Outcome.REJECTED,
                f"request {stats.request_number}: no generic event matched {record.text!r}",
            )
        return DeliveryResult(
            Outcome.DELIVERED,
            f"request {stats.request_number}: {stats.matches} match(es) {stats.event_name}".strip(),
        )

    async def _send_udp(self, record: GenericRecord) -> DeliveryResult:
        config = self.config
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(
            config.host, config.resolved_port, type=socket.SOCK_DGRAM, proto=socket.IPPROTO_UDP
        )
        family, kind, proto, _canon, address = infos[0]
        with socket.socket(family, kind, proto) as sock:
            sock.setblocking(False)
            sock.connect(address)
            await loop.sock_sendall(sock, record.payload)
            PROTOCOL_MESSAGES.labels(self._name, "out", "generic_event").inc()
            if config.udp_wait_s <= 0:
                return DeliveryResult(Outcome.DELIVERED, "sent over UDP (unconfirmed)")
            try:
                async with asyncio.timeout(config.udp_wait_s):
                    data = await loop.sock_recv(sock, _READ_CHUNK)
            except TimeoutError:
                return DeliveryResult(Outcome.DELIVERED, "sent over UDP (unconfirmed)")
            except ConnectionRefusedError:
                return DeliveryResult(Outcome.RETRY, "UDP port unreachable (ICMP refused)")
        if config.resolved_echo is EchoMode.BYTES:
            return self._judge_bytes(record, data)
        if config.resolved_echo is EchoMode.STATISTICS:
            return self._judge_statistics(record, data)
        return DeliveryResult(Outcome.DELIVERED, "sent over UDP")


class _Session:
    """The one TCP connection a run of records shares (opened on the first record)."""

    def __init__(self, transport: MilestoneGenericTransport) -> None:
        self._transport = transport
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def exchange(self, record: GenericRecord) -> DeliveryResult:
        """Send ``record`` on the open connection (or a new one) and judge its echo.

        A record that fails on a connection an earlier record used is sent once
        more on a fresh connection: a data source that takes one record per
        connection fails exactly there. When the fresh one works the output
        goes back to one connection per record.
        """
        reused = self._writer is not None
        try:
            result = await self._exchange(record)
        except (OSError, TimeoutError):
            if not reused:
                raise
            result = DeliveryResult(Outcome.RETRY, "connection broke")
        if result.outcome is not Outcome.RETRY or not reused:
            return result
        await self.close()
        result = await self._exchange(record)
        if result.outcome is not Outcome.RETRY:
            logger.warning(
                "output %s: the data source does not take a second record on a connection;"
                " one connection per record from now on",
                self._transport.name,
            )
            self._transport._one_per_record = True
        return result

    async def _exchange(self, record: GenericRecord) -> DeliveryResult:
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await self._transport._connect()
        try:
            result, reusable = await self._transport._exchange(self._reader, self._writer, record)
        except BaseException:
            await self.close()  # a half-read echo must not be taken for the next one
            raise
        if not reusable or result.outcome is Outcome.RETRY or self._transport._one_per_record:
            await self.close()
        return result

    async def close(self) -> None:
        """Close the connection, if open (idempotent)."""
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            await self._transport._disconnect(writer)
