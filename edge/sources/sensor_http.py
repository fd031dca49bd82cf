"""HTTP push intake for sensors such as emergency call buttons and noise meters.

``POST /v1/sensors/{sensor}`` with a JSON payload (see :mod:`edge.sources.sensors`)
answers 202 with the normalised readings, or a 4xx/5xx with
``{"error": <reason>, "detail": <message>}``.
"""

from __future__ import annotations

import hmac
import queue
import time
from collections.abc import Callable

import msgspec
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from edge.sources.config import SensorConfig
from edge.sources.errors import SensorRejectedError
from edge.sources.sensors import count_accepted, normalise, reject
from events import SensorReading

ReadingSink = Callable[[SensorReading], None]
TRANSPORT = "http"

_STATUS = {
    "unauthorized": 401,
    "unknown_sensor": 403,
    "oversize": 413,
    "not_json": 400,
    "queue_full": 503,
}


def _error(error: SensorRejectedError) -> JSONResponse:
    status = _STATUS.get(error.reason, 422)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status == 503:
        headers = {"Retry-After": "1"}
    return JSONResponse(
        {"error": error.reason, "detail": str(error)}, status_code=status, headers=headers
    )


def _check_token(request: Request, token: str) -> None:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if not (
        scheme.lower() == "bearer"
        and hmac.compare_digest(credentials.strip().encode(), token.encode())
    ):
        raise SensorRejectedError("unauthorized", "a valid bearer token is required")


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise SensorRejectedError("oversize", f"payload is {declared} bytes; the limit is {limit}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise SensorRejectedError("oversize", f"payload exceeds {limit} bytes")
    return bytes(body)


def sensor_router(
    config: SensorConfig, sink: ReadingSink, *, clock: Callable[[], float] = time.time
) -> APIRouter:
    """An APIRouter with ``POST /v1/sensors/{sensor}`` delivering readings to ``sink``."""
    router = APIRouter(tags=["sensors"])
    token = config.http_token.get_secret_value() if config.http_token else None

    @router.post(
        "/v1/sensors/{sensor}",
        status_code=202,
        summary="Push sensor readings",
        responses={
            400: {"description": "not JSON"},
            401: {"description": "missing or wrong bearer token"},
            403: {"description": "sensor not allowed"},
            413: {"description": "payload too large"},
            422: {"description": "invalid reading (see error)"},
            503: {"description": "reading queue full; retry"},
        },
    )
    async def push(sensor: str, request: Request) -> JSONResponse:
        try:
            if token is not None:
                _check_token(request, token)
            body = await _read_body(request, config.max_payload_bytes)
            readings = normalise(body, sensor=sensor, config=config, now=clock())
        except SensorRejectedError as exc:
            reject(TRANSPORT, exc)
            return _error(exc)
        count_accepted(readings)
        for index, reading in enumerate(readings):
            try:
                sink(reading)
            except queue.Full:
                error = SensorRejectedError(
                    "queue_full", f"reading queue is full; {index} of {len(readings)} accepted"
                )
                reject(TRANSPORT, error)
                return _error(error)
        return JSONResponse({"readings": msgspec.to_builtins(readings)}, status_code=202)

    return router
