"""The agent's HTTP API (FastAPI), served by uvicorn on a background thread.

GET /healthz            liveness: the agent's threads run
GET /readyz             readiness: model loaded, inference running, cameras up
                        (a disconnected broker does not make the agent unready:
                        events are spooled on disk)
GET /metrics            Prometheus exposition
GET /v1/events/recent   newest events raised (``?limit=``)
GET /v1/cameras         health of each camera reader
GET /v1/snapshots/NAME  a privacy-masked START snapshot (bearer token when configured)
plus any routers given (the sensor push endpoint).
"""

from __future__ import annotations

import dataclasses
import hmac
import logging
import socket
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import msgspec
import uvicorn
from fastapi import APIRouter, FastAPI, Query, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from edge.fusion import SnapshotStore
from edge.sources import CameraHealth
from events import Event

if TYPE_CHECKING:  # edge.agent imports this module at run time
    from edge.agent.health import AgentHealth

logger = logging.getLogger(__name__)


class AgentView(Protocol):
    """What the API needs from the agent."""

    def health(self) -> AgentHealth:
        """Liveness, readiness and parts."""

    def recent_events(self, limit: int = 50) -> list[Event]:
        """Newest events, newest last."""

    def cameras(self) -> list[CameraHealth]:
        """Health of every camera."""


def _json(value: object, status: int = 200) -> Response:
    return Response(msgspec.json.encode(value), status_code=status, media_type="application/json")


def _authorised(request: Request, token: str | None) -> bool:
    if token is None:
        return True
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        credentials.strip().encode(), token.encode()
    )


def create_app(
    agent: AgentView,
    routers: Sequence[APIRouter] = (),
    *,
    snapshots: SnapshotStore | None = None,
    token: str | None = None,
) -> FastAPI:
    """The FastAPI application for ``agent``; ``token`` guards snapshot downloads."""
    app = FastAPI(title="StreetSense edge agent", docs_url=None, redoc_url=None)

    @app.get("/healthz")
    def healthz() -> Response:
        health = agent.health()
        return _json({"alive": health.alive}, 200 if health.alive else 503)

    @app.get("/readyz")
    def readyz() -> Response:
        health = agent.health()
        body = {
            "ready": health.ready,
            "reasons": list(health.reasons),
            "model": health.model,
            "broker_connected": health.broker_connected,
            "broker_error": health.broker_error,
            "outbox_backlog": health.outbox_backlog,
        }
        return _json(body, 200 if health.ready else 503)

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/events/recent")
    def recent(limit: int = Query(50, ge=1, le=10_000)) -> Response:
        return _json({"events": agent.recent_events(limit)})

    @app.get("/v1/cameras")
    def cameras() -> Response:
        return _json({"cameras": [dataclasses.asdict(c) for c in agent.cameras()]})

    @app.get("/v1/snapshots/{name}")
    def snapshot(name: str, request: Request) -> Response:
        if not _authorised(request, token):
            return _json({"error": "unauthorized"}, 401)
        data = snapshots.read(name) if snapshots is not None else None
        if data is None:
            return _json({"error": "not_found"}, 404)
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    for router in routers:
        app.include_router(router)
    return app


class ApiServer:
    """uvicorn on a daemon thread; binds before start so ``port`` is known (port 0 works)."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        try:
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._socket.bind((host, port))
        except OSError:
            self._socket.close()
            raise
        self.host = host
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name="agent-api", daemon=True)

    def _serve(self) -> None:
        try:
            self._server.run(sockets=[self._socket])
        except Exception:
            logger.exception("agent API server failed")

    def start(self) -> None:
        """Start serving."""
        self._thread.start()
        logger.info("agent API on http://%s:%d", self.host, self.port)

    @property
    def started(self) -> bool:
        """Whether uvicorn is accepting requests."""
        return bool(self._server.started)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and close the socket."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._socket.close()
