"""The webhook output against a real HTTP server: outcomes by status, signature, timeouts."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from broker.outputs.base import Outcome
from broker.outputs.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookOutput,
    WebhookOutputConfig,
    classify_status,
)
from events import encode
from tests.broker.helpers import Receiver, make_event
from tests.support.mosquitto import free_port


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(200, Outcome.DELIVERED), (204, Outcome.DELIVERED), (301, Outcome.REJECTED),
     (400, Outcome.REJECTED), (401, Outcome.REJECTED), (404, Outcome.REJECTED),
     (408, Outcome.RETRY), (429, Outcome.RETRY), (500, Outcome.RETRY), (503, Outcome.RETRY)],
)  # fmt: skip
def test_status_classification(status: int, outcome: Outcome) -> None:
    assert classify_status(status) is outcome


async def test_signed_delivery_to_a_real_server(receiver: Receiver) -> None:
    output = WebhookOutput(
        WebhookOutputConfig.model_validate({"url": receiver.url, "secret": "k3y"}), "hook"
    )
    await output.start()
    try:
        event = make_event()
        result = await output.deliver(event)
    finally:
        await output.close()
    assert result.outcome is Outcome.DELIVERED
    assert output.health().connected and output.health().last_success_at is not None
    headers = receiver.headers[0]
    body = encode(event)
    expected = hmac.new(
        b"k3y", headers[TIMESTAMP_HEADER].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    assert headers[SIGNATURE_HEADER] == f"sha256={expected}"
    assert receiver.received == [json.loads(body)]


@pytest.mark.parametrize(("status", "outcome"), [(503, Outcome.RETRY), (422, Outcome.REJECTED)])
async def test_error_statuses(status: int, outcome: Outcome) -> None:
    server = Receiver(free_port(), status=status)
    server.start()
    output = WebhookOutput(WebhookOutputConfig(url=server.url), "hook")
    try:
        result = await output.deliver(make_event())
    finally:
        await output.close()
        server.stop()
    assert result.outcome is outcome
    assert result.detail == f"HTTP {status}"
    assert output.health().last_error == f"HTTP {status}"


async def test_unreachable_peer_is_a_retry() -> None:
    output = WebhookOutput(
        WebhookOutputConfig(url=f"http://127.0.0.1:{free_port()}/x", timeout_s=2), "hook"
    )
    try:
        result = await output.deliver(make_event())
    finally:
        await output.close()
    assert result.outcome is Outcome.RETRY
    assert not output.health().connected
