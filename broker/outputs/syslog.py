"""The ``syslog`` output: RFC 5424 messages over UDP or TCP (RFC 6587 octet counting).

One message per event::

    <PRI>1 2026-11-25T10:00:00.123Z host streetsense - fight [streetsense@32473
    event_id="..." incident_id="..." phase="start" site="s1" agent="a1" source="camera:cam1"
    category="fight" severity="high" confidence="0.91"] BOM two people fighting

The syslog severity follows the event's (critical=2 crit, high=3 err, medium=4
warning, low=5 notice, info=6 info). 32473 is the documentation enterprise
number of RFC 5612; set ``enterprise_id`` to your own. Syslog has no
application acknowledgement: over TCP an event counts as delivered once the
kernel accepted it (a reset connection is a retry); over UDP once it was sent.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from broker.outputs.base import AdapterContext, DeliveryResult, Outcome, OutputHealth
from broker.outputs.registry import OutputRegistry
from events import Event, Severity

logger = logging.getLogger(__name__)

BOM = "\ufeff".encode()
_SEVERITY = {
    Severity.CRITICAL: 2,
    Severity.HIGH: 3,
    Severity.MEDIUM: 4,
    Severity.LOW: 5,
    Severity.INFO: 6,
}
_FACILITIES = {
    "kern": 0, "user": 1, "daemon": 3, "auth": 4, "local0": 16, "local1": 17, "local2": 18,
    "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}  # fmt: skip
MAX_UDP_BYTES = 8192


class SyslogOutputConfig(BaseModel):
    """Settings of a ``syslog`` output."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(description="Syslog collector host.")
    port: int = Field(default=514, ge=1, le=65535, description="Collector port.")
    transport: Literal["udp", "tcp"] = Field(default="udp", description="UDP or TCP.")
    facility: Literal[
        "kern", "user", "daemon", "auth", "local0", "local1", "local2", "local3", "local4",
        "local5", "local6", "local7",
    ] = Field(default="local0", description="Syslog facility.")  # fmt: skip
    app_name: str = Field(default="streetsense", pattern=r"^[!-~]{1,48}$", description="APP-NAME.")
    hostname: str | None = Field(default=None, description="HOSTNAME; this host's when absent.")
    enterprise_id: int = Field(default=32473, ge=1, description="Private enterprise number.")
    timeout_s: float = Field(default=5.0, gt=0, description="Connect and write timeout (TCP).")


def sd_escape(text: str) -> str:
    """Escape a structured-data parameter value (RFC 5424 section 6.3.3)."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _header_field(text: str, limit: int) -> str:
    cleaned = "".join(ch for ch in text if "!" <= ch <= "~")[:limit]
    return cleaned or "-"


def encode_syslog(
    event: Event, *, facility: int, hostname: str, app_name: str, enterprise_id: int = 32473
) -> bytes:
    """The RFC 5424 message for ``event`` (pure: no I/O)."""
    pri = facility * 8 + _SEVERITY[event.severity]
    timestamp = event.published_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    params = {
        "event_id": event.event_id,
        "incident_id": event.incident_id,
        "phase": event.phase.value,
        "site": event.site,
        "agent": event.agent,
        "source": f"{event.source.kind.value}:{event.source.id}",
        "category": event.category,
        "severity": event.severity.value,
        "confidence": f"{event.confidence:.2f}",
        "requires_review": "true" if event.requires_review else "false",
    }
    if event.model is not None:
        params["model"] = f"{event.model.name}/{event.model.version}"
    data = " ".join(f'{key}="{sd_escape(value)}"' for key, value in params.items())
    header = (
        f"<{pri}>1 {timestamp} {_header_field(hostname, 255)} {_header_field(app_name, 48)} - "
        f"{_header_field(event.category, 32)} [streetsense@{enterprise_id} {data}]"
    )
    message = header.encode()
    if event.summary:
        message += b" " + BOM + event.summary.encode()
    return message


def frame_octet_counted(message: bytes) -> bytes:
    """RFC 6587 octet-counting frame for TCP: ``<length> <message>``."""
    return str(len(message)).encode() + b" " + message


class SyslogOutput:
    """Sends one RFC 5424 message per event."""

    def __init__(self, config: SyslogOutputConfig, name: str) -> None:
        self._config = config
        self._name = name
        self._facility = _FACILITIES[config.facility]
        self._hostname = config.hostname or socket.gethostname()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._last_success: float | None = None
        self._last_error: str | None = None

    @property
    def name(self) -> str:
        """The output's configured name."""
        return self._name

    async def start(self) -> None:
        """Connections are opened on first use and re-opened after errors."""

    async def _send(self, message: bytes) -> None:
        config = self._config
        if config.transport == "udp":
            if self._udp is None:
                loop = asyncio.get_running_loop()
                self._udp, _ = await loop.create_datagram_endpoint(
                    asyncio.DatagramProtocol, remote_addr=(config.host, config.port)
                )
            self._udp.sendto(message[:MAX_UDP_BYTES])
            return
        if self._reader is not None and self._reader.at_eof():
            await self._drop_connection()  # the collector closed: reconnect before writing
        if self._writer is None or self._writer.is_closing():
            async with asyncio.timeout(config.timeout_s):
                reader, opened = await asyncio.open_connection(config.host, config.port)
            self._reader, self._writer = reader, opened
        writer: asyncio.StreamWriter = self._writer
        writer.write(frame_octet_counted(message))
        async with asyncio.timeout(config.timeout_s):
            await writer.drain()

    async def deliver(self, event: Event) -> DeliveryResult:
        """Send the event's message; a network error is a retry."""
        message = encode_syslog(
            event, facility=self._facility, hostname=self._hostname,
            app_name=self._config.app_name, enterprise_id=self._config.enterprise_id,
        )  # fmt: skip
        try:
            await self._send(message)
        except (OSError, TimeoutError) as exc:
            self._last_error = f"{type(exc).__name__}: {exc}"
            await self._drop_connection()
            return DeliveryResult(Outcome.RETRY, self._last_error)
        self._last_success = time.time()
        self._last_error = None
        return DeliveryResult(Outcome.DELIVERED, f"{len(message)} bytes")

    async def _drop_connection(self) -> None:
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except OSError:
                logger.debug("syslog %s: error while closing", self._name)
            self._writer = None
            self._reader = None
        if self._udp is not None:
            self._udp.close()
            self._udp = None

    def health(self) -> OutputHealth:
        """Healthy unless the last send failed."""
        return OutputHealth(
            connected=self._last_error is None,
            detail=f"{self._config.transport}://{self._config.host}:{self._config.port}",
            last_success_at=self._last_success,
            last_error=self._last_error,
        )

    async def close(self) -> None:
        """Close the socket."""
        await self._drop_connection()


def _build(config: SyslogOutputConfig, name: str, context: AdapterContext) -> SyslogOutput:
    return SyslogOutput(config, name)


def register(registry: OutputRegistry) -> None:
    """Register the ``syslog`` output type."""
    registry.register("syslog", SyslogOutputConfig, _build, "RFC 5424 over UDP or TCP")
