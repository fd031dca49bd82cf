"""The ``cap`` output against a real local HTTP server that parses and checks each alert."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from broker.config import parse_adapter_config
from broker.outputs.base import Outcome
from broker.outputs.catalog import load_catalog
from broker.outputs.registry import OutputRegistry
from broker.protocols.cap.codec import decode_alert
from broker.protocols.cap.config import CapOutputConfig
from broker.protocols.cap.errors import CapFormatError
from broker.protocols.cap.model import Alert, MsgType
from broker.protocols.cap.transport import CapHttpOutput
from events import Phase
from streetsense.configfile import ConfigError
from tests.broker.helpers import make_event, sample
from tests.support.http_receiver import PostServer
from tests.support.mosquitto import free_port


class CapAggregator(PostServer):
    """An HTTP endpoint that accepts only valid CAP 1.2 (400 otherwise), like an aggregator."""

    def __init__(self, port: int) -> None:
        super().__init__(port)
        self.status = 200
        self.alerts: list[Alert] = []
        self.bodies: list[bytes] = []
        self.content_types: list[str] = []
        self.refused: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/cap"

    def handle_post(self, body: bytes, headers: dict[str, str]) -> int:
        try:
            alert = decode_alert(body)
        except CapFormatError as exc:
            with self.lock:
                self.refused.append(str(exc))
            return 400
        if self.status < 300:
            with self.lock:
                self.alerts.append(alert)
                self.bodies.append(body)
                self.content_types.append(headers["Content-Type"])
        return self.status


@pytest.fixture
def aggregator() -> Iterator[CapAggregator]:
    server = CapAggregator(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _config(url: str, **overrides: Any) -> CapOutputConfig:
    return CapOutputConfig.model_validate(
        {"url": url, "sender": "streetsense@city.example", "timeout_s": 5.0, **overrides}
    )


async def test_incident_start_update_end_reference_each_other(aggregator: CapAggregator) -> None:
    output = CapHttpOutput(_config(aggregator.url), "cap-test-chain")
    before = sample(
        "streetsense_adapter_protocol_messages_total",
        {"output": "cap-test-chain", "direction": "out", "kind": "cap_update"},
    )
    await output.start()
    try:
        incident = "incident0001"
        start, update, end = (
            make_event(incident_id=incident, phase=phase)
            for phase in (Phase.START, Phase.UPDATE, Phase.END)
        )
        for event in (start, update, end):
            result = await output.deliver(event)
            assert result.outcome is Outcome.DELIVERED, result
    finally:
        await output.close()
    first, second, third = aggregator.alerts
    assert [a.msg_type for a in aggregator.alerts] == [
        MsgType.ALERT,
        MsgType.UPDATE,
        MsgType.UPDATE,
    ]
    assert second.references == (first.reference(),)
    assert third.references == (first.reference(), second.reference())
    assert {a.incidents for a in aggregator.alerts} == {incident}
    assert third.infos[0].response_types[0].value == "AllClear"
    assert aggregator.content_types == ["application/cap+xml"] * 3
    assert output.earlier_messages(incident) == ()  # forgotten once the incident ended
    health = output.health()
    assert health.connected and health.last_success_at is not None
    after = sample(
        "streetsense_adapter_protocol_messages_total",
        {"output": "cap-test-chain", "direction": "out", "kind": "cap_update"},
    )
    assert after - before == 2


async def test_a_redelivered_update_does_not_reference_itself(aggregator: CapAggregator) -> None:
    output = CapHttpOutput(_config(aggregator.url), "cap-test-redeliver")
    start = make_event(incident_id="incident0003", phase=Phase.START)
    update = make_event(incident_id="incident0003", phase=Phase.UPDATE)
    try:
        for event in (start, update, update):  # the core may redeliver after a crash
            assert (await output.deliver(event)).outcome is Outcome.DELIVERED
    finally:
        await output.close()
    assert aggregator.bodies[1] == aggregator.bodies[2]
    assert aggregator.alerts[2].references == (aggregator.alerts[0].reference(),)


async def test_a_retried_event_is_the_same_message(aggregator: CapAggregator) -> None:
    output = CapHttpOutput(_config(aggregator.url, content_type="application/xml"), "cap-test-same")
    event = make_event()
    try:
        assert (await output.deliver(event)).outcome is Outcome.DELIVERED
        assert (await output.deliver(event)).outcome is Outcome.DELIVERED
    finally:
        await output.close()
    assert aggregator.bodies[0] == aggregator.bodies[1]
    assert aggregator.content_types == ["application/xml"] * 2


@pytest.mark.parametrize(
    ("status", "outcome", "connected"),
    [
        (201, Outcome.DELIVERED, True),
        (400, Outcome.REJECTED, True),
        (403, Outcome.REJECTED, True),
        (429, Outcome.RETRY, False),
        (500, Outcome.RETRY, False),
        (503, Outcome.RETRY, False),
    ],
)
async def test_http_status_decides_the_outcome(
    aggregator: CapAggregator, status: int, outcome: Outcome, connected: bool
) -> None:
    aggregator.status = status
    output = CapHttpOutput(_config(aggregator.url), f"cap-test-{status}")
    try:
        result = await output.deliver(make_event())
    finally:
        await output.close()
    assert result.outcome is outcome
    assert str(status) in result.detail
    assert output.health().connected is connected
    # only a delivery counts as a success; a refusal still proves the peer reachable
    assert (output.health().last_success_at is not None) is (outcome is Outcome.DELIVERED)
    assert (output.health().last_error is None) is (outcome is Outcome.DELIVERED)
    assert aggregator.refused == []  # our XML was valid every time


async def test_an_update_after_a_rejected_start_goes_out_as_an_alert(
    aggregator: CapAggregator,
) -> None:
    output = CapHttpOutput(_config(aggregator.url), "cap-test-rejected-start")
    try:
        aggregator.status = 422
        start = make_event(incident_id="incident0002", phase=Phase.START)
        assert (await output.deliver(start)).outcome is Outcome.REJECTED
        aggregator.status = 200
        update = make_event(incident_id="incident0002", phase=Phase.UPDATE)
        assert (await output.deliver(update)).outcome is Outcome.DELIVERED
    finally:
        await output.close()
    (alert,) = aggregator.alerts
    assert alert.msg_type is MsgType.ALERT and alert.references == ()


async def test_peer_away_is_retry_and_down_then_delivers_when_back() -> None:
    port = free_port()
    output = CapHttpOutput(_config(f"http://127.0.0.1:{port}/cap", timeout_s=3.0), "cap-test-away")
    event = make_event()
    try:
        result = await output.deliver(event)
        assert result.outcome is Outcome.RETRY
        assert not output.health().connected
        assert output.health().last_error
        assert sample("streetsense_adapter_output_up", {"output": "cap-test-away"}) == 0
        server = CapAggregator(port)
        server.start()
        try:
            result = await output.deliver(event)
        finally:
            server.stop()
        assert result.outcome is Outcome.DELIVERED
        assert output.health().connected
        assert sample("streetsense_adapter_output_up", {"output": "cap-test-away"}) == 1
        assert [a.identifier for a in server.alerts] == [f"streetsense-{event.event_id}"]
    finally:
        await output.close()


def test_documented_yaml_is_valid_and_errors_name_the_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAP_TOKEN", "t0ken")
    text = (
        "outputs:\n"
        "  city-cap-hub:\n"
        "    type: cap\n"
        "    url: https://cap-hub.city.example/alerts\n"
        '    headers: {Authorization: "Bearer ${CAP_TOKEN}"}\n'
        "    sender: streetsense@city.example\n"
        "    scope: Restricted\n"
        "    categories: {fight: [Security], crowd: [Safety]}\n"
        "    locations:\n"
        '      s1/cam1: {area_desc: "Market square", circle: [52.52, 13.405, 0.05]}\n'
    )
    settings = parse_adapter_config(text).outputs["city-cap-hub"].settings
    assert isinstance(settings, CapOutputConfig)
    assert settings.headers == {"Authorization": "Bearer t0ken"}
    assert settings.locations["s1/cam1"].circle == (52.52, 13.405, 0.05)
    bad = text.replace("scope: Restricted", "scope: Everyone")
    with pytest.raises(ConfigError) as caught:
        parse_adapter_config(bad)
    problem = caught.value.problems[0]
    assert problem.path == "outputs.city-cap-hub.scope" and problem.line == 7


def test_registered_in_the_catalog() -> None:
    registry = OutputRegistry()
    load_catalog(registry, ("broker.protocols.cap",))
    plugin = registry.get("cap")
    config = plugin.config_model.model_validate(
        {"url": "https://cap.example/in", "sender": "ops@city.example"}
    )
    output = registry.build("cap", config, "cap-registry", context=None)  # type: ignore[arg-type]
    assert isinstance(output, CapHttpOutput) and output.name == "cap-registry"
