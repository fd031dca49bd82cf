"""HTTP transport of the ONVIF service: an embeddable aiohttp server (no signal handling)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web

from broker.metrics import PROTOCOL_REJECTED
from broker.protocols.onvif.errors import MalformedRequestError, SoapFault
from broker.protocols.onvif.service import EventService, SoapResponse
from broker.protocols.onvif.soap import CONTENT_TYPE, build_fault
from broker.protocols.onvif.subscriptions import SubscriptionManager

logger = logging.getLogger(__name__)
_SWEEP_SECONDS = 1.0


class OnvifHttpServer:
    """Serves an :class:`EventService` on ``host:port`` under ``/onvif/``."""

    def __init__(
        self,
        service: EventService,
        manager: SubscriptionManager,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        max_body_bytes: int = 256 * 1024,
    ) -> None:
        self._service = service
        self._manager = manager
        self._host = host
        self._port = port
        self._max_body = max_body_bytes
        self._runner: web.AppRunner | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._bound_port: int | None = None

    @property
    def port(self) -> int:
        """The bound port (useful when configured as 0)."""
        return self._bound_port if self._bound_port is not None else self._port

    @property
    def running(self) -> bool:
        """Whether the server is accepting connections."""
        return self._runner is not None

    async def start(self) -> None:
        """Bind and start serving; raises OSError when the port is taken."""
        app = web.Application(client_max_size=self._max_body)
        app.router.add_post("/onvif/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        addresses = runner.addresses
        self._bound_port = int(addresses[0][1]) if addresses else self._port
        self._sweeper = asyncio.create_task(self._sweep(), name="onvif-sweeper")
        logger.info("onvif service listening on %s:%s", self._host, self.port)

    async def close(self) -> None:
        """Stop serving; pending PullMessages return at once."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        self._manager.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(_SWEEP_SECONDS)
            self._manager.expire()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await self._read_body(request)
        if body is None:
            PROTOCOL_REJECTED.labels("onvif", "oversize").inc()
            fault = MalformedRequestError(
                f"request body exceeds {self._max_body} bytes", reason="oversize"
            )
            return _respond(SoapResponse(fault.http_status, build_fault(fault)))
        base_url = f"{request.scheme}://{request.host}"
        peer = request.remote or ""
        try:
            return _respond(await self._service.handle(request.path, body, base_url, peer))
        except Exception:  # a bug must still answer SOAP, and the server keeps serving
            logger.exception("onvif: unexpected error answering %s from %s", request.path, peer)
            PROTOCOL_REJECTED.labels("onvif", "internal_error").inc()
            internal = SoapFault("internal error")
            return _respond(SoapResponse(internal.http_status, build_fault(internal)))

    async def _read_body(self, request: web.Request) -> bytes | None:
        if request.content_length is not None and request.content_length > self._max_body:
            return None
        chunks: list[bytes] = []
        size = 0
        while chunk := await request.content.readany():
            size += len(chunk)
            if size > self._max_body:
                return None
            chunks.append(chunk)
        return b"".join(chunks)


def _respond(response: SoapResponse) -> web.Response:
    return web.Response(
        status=response.status,
        body=response.body,
        content_type=CONTENT_TYPE.split(";")[0],
        charset="utf-8",
    )
