"""The ``webhook`` output: HTTP POST of the event's wire JSON.

Headers: ``Content-Type: application/json``, ``Idempotency-Key: <event id>``
(receivers can drop a redelivery), ``X-StreetSense-Timestamp: <unix seconds>``
and, with a secret, ``X-StreetSense-Signature: sha256=<hex>`` where the HMAC-
SHA256 covers ``b"<timestamp>." + body`` (so a captured request cannot be
replayed later with a new timestamp).

2xx = delivered; 408, 425, 429, 5xx, timeouts and connection errors = retry;
any other status (4xx, and 3xx: redirects are not followed) = rejected.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from broker.outputs.base import AdapterContext, DeliveryResult, Outcome, OutputHealth
from broker.outputs.registry import OutputRegistry
from events import Event, encode

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-StreetSense-Signature"
TIMESTAMP_HEADER = "X-StreetSense-Timestamp"
_RETRY_STATUSES = frozenset({408, 425, 429})


class WebhookOutputConfig(BaseModel):
    """Settings of a ``webhook`` output."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(pattern=r"^https?://", description="Endpoint receiving POSTs.")
    secret: SecretStr | None = Field(default=None, description="HMAC-SHA256 key (use ${ENV}).")
    timeout_s: float = Field(default=5.0, gt=0, le=120, description="Whole-request timeout.")
    headers: dict[str, str] = Field(default={}, description="Extra request headers.")
    verify_tls: bool = Field(default=True, description="Verify the server certificate.")


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def classify_status(status: int) -> Outcome:
    """Map an HTTP status to a delivery outcome."""
    if 200 <= status < 300:
        return Outcome.DELIVERED
    if status >= 500 or status in _RETRY_STATUSES:
        return Outcome.RETRY
    return Outcome.REJECTED


class WebhookOutput:
    """POSTs each event once per attempt; the core retries."""

    def __init__(self, config: WebhookOutputConfig, name: str) -> None:
        self._config = config
        self._name = name
        self._client: httpx.AsyncClient | None = None
        self._connected = False
        self._last_success: float | None = None
        self._last_error: str | None = None

    @property
    def name(self) -> str:
        """The output's configured name."""
        return self._name

    async def start(self) -> None:
        """Create the HTTP client (connections are opened per need and kept alive)."""
        self._client = httpx.AsyncClient(
            timeout=self._config.timeout_s,
            verify=self._config.verify_tls,
            follow_redirects=False,
            headers=self._config.headers,
        )

    async def deliver(self, event: Event) -> DeliveryResult:
        """POST the event; never raises for peer problems."""
        if self._client is None:
            await self.start()
        assert self._client is not None
        body = encode(event)
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": event.event_id,
            TIMESTAMP_HEADER: timestamp,
        }
        if self._config.secret is not None:
            key = self._config.secret.get_secret_value().encode()
            headers[SIGNATURE_HEADER] = sign(key, timestamp, body)
        try:
            response = await self._client.post(self._config.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return self._failed(Outcome.RETRY, f"{type(exc).__name__}: {exc}")
        outcome = classify_status(response.status_code)
        if outcome is Outcome.DELIVERED:
            self._connected = True
            self._last_success = time.time()
            self._last_error = None
            return DeliveryResult(outcome, f"HTTP {response.status_code}")
        return self._failed(outcome, f"HTTP {response.status_code}")

    def _failed(self, outcome: Outcome, detail: str) -> DeliveryResult:
        # a 4xx answer still means the peer is reachable
        self._connected = outcome is Outcome.REJECTED
        self._last_error = detail
        return DeliveryResult(outcome, detail)

    def health(self) -> OutputHealth:
        """Reachable when the last attempt got an HTTP answer it understood."""
        return OutputHealth(
            connected=self._connected,
            detail=self._config.url,
            last_success_at=self._last_success,
            last_error=self._last_error,
        )

    async def close(self) -> None:
        """Close pooled connections."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _build(config: WebhookOutputConfig, name: str, context: AdapterContext) -> WebhookOutput:
    return WebhookOutput(config, name)


def register(registry: OutputRegistry) -> None:
    """Register the ``webhook`` output type."""
    registry.register("webhook", WebhookOutputConfig, _build, "HTTP POST of the event JSON")
