"""Milestone transports against event-server stand-ins that follow the published formats."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY

from broker.outputs.base import Outcome
from broker.outputs.registry import OutputRegistry
from broker.protocols.milestone import register
from broker.protocols.milestone.analytics_codec import event_guid
from broker.protocols.milestone.analytics_transport import MilestoneAnalyticsTransport
from broker.protocols.milestone.config import (
    MilestoneAnalyticsConfig,
    MilestoneGenericConfig,
)
from broker.protocols.milestone.generic_transport import MilestoneGenericTransport
from events import Event, Phase, Severity, Source, SourceKind
from tests.support.milestone_receiver import (
    AnalyticsEventServer,
    GenericEventRule,
    GenericEventServer,
)
from tests.support.mosquitto import free_port

pytestmark = pytest.mark.timeout(60)

FIGHT_RULE = GenericEventRule("StreetSense fight", "StreetSense AND fight AND high")


def make_event(**changes: object) -> Event:
    base: dict[str, object] = {
        "event_id": "evt_0001abcd",
        "incident_id": "a1b2c3d4e5f6",
        "phase": Phase.START,
        "site": "oslo",
        "agent": "box-1",
        "source": Source(kind=SourceKind.CAMERA, id="cam3"),
        "category": "fight",
        "severity": Severity.HIGH,
        "confidence": 0.93,
        "summary": "two people fighting",
        "occurred_at": datetime(2026, 11, 25, 13, 2, 7, tzinfo=UTC),
        "published_at": datetime(2026, 11, 25, 13, 2, 8, tzinfo=UTC),
    }
    base.update(changes)
    return Event(**base)  # type: ignore[arg-type]


def rejected(protocol: str, reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "streetsense_adapter_protocol_rejected_total", {"protocol": protocol, "reason": reason}
    )
    return value or 0.0


@pytest.fixture
async def international() -> AsyncIterator[GenericEventServer]:
    server = GenericEventServer(free_port(), rules=(FIGHT_RULE,))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def generic(server: GenericEventServer, **settings: object) -> MilestoneGenericTransport:
    config = MilestoneGenericConfig.model_validate(
        {"host": "127.0.0.1", "port": server.port, **settings}
    )
    return MilestoneGenericTransport(config, "xprotect")


async def test_international_tcp_record_raises_the_generic_event(
    international: GenericEventServer,
) -> None:
    transport = generic(international)
    await transport.start()
    result = await transport.deliver(make_event())
    assert result.outcome is Outcome.DELIVERED, result.detail
    assert "1 match(es) StreetSense fight" in result.detail
    [record] = international.records
    assert record.raw == b"StreetSense fight high cam=cam3 incident=a1b2c3d4e5f6"
    assert record.matched == ("StreetSense fight",)
    assert transport.health().connected
    await transport.close()


async def test_unterminated_statistics_echo_is_read_too() -> None:
    server = GenericEventServer(free_port(), rules=(FIGHT_RULE,), echo_terminator=b"")
    await server.start()
    try:
        result = await generic(server).deliver(make_event())
        assert result.outcome is Outcome.DELIVERED, result.detail
        assert "request 1: 1 match(es)" in result.detail
    finally:
        await server.stop()


async def test_record_matching_no_generic_event_is_rejected(
    international: GenericEventServer,
) -> None:
    before = rejected("milestone_generic", "no_match")
    result = await generic(international).deliver(make_event(severity=Severity.LOW))
    assert result.outcome is Outcome.REJECTED
    assert "no generic event matched" in result.detail
    assert rejected("milestone_generic", "no_match") == before + 1


async def test_no_match_is_delivered_when_matching_is_not_required(
    international: GenericEventServer,
) -> None:
    result = await generic(international, require_match=False).deliver(
        make_event(severity=Severity.LOW)
    )
    assert result.outcome is Outcome.DELIVERED


async def test_compatible_tcp_echoes_all_bytes_in_ansi() -> None:
    server = GenericEventServer(
        free_port(),
        echo="bytes",
        separator=b"",
        encoding="cp1252",
        rules=(GenericEventRule("Café alarm", "Café"),),
    )
    await server.start()
    try:
        transport = generic(
            server, style="compatible", template="Café {category} incident={incident_id}"
        )
        result = await transport.deliver(make_event())
        assert result.outcome is Outcome.DELIVERED, result.detail
        [record] = server.records
        assert record.raw == b"Caf\xe9 fight incident=a1b2c3d4e5f6"
        assert record.matched == ("Café alarm",)
    finally:
        await server.stop()


async def test_start_reports_whether_the_event_server_is_reachable(
    international: GenericEventServer, event_server: AnalyticsEventServer
) -> None:
    generic_output = generic(international)
    analytics_output = analytics(event_server)
    await generic_output.start()
    await analytics_output.start()
    assert generic_output.health().connected
    assert analytics_output.health().connected
    assert international.records == [] and event_server.events == []  # nothing was sent
    await analytics_output.close()
    await international.stop()
    await event_server.stop()
    generic_output = generic(international)
    analytics_output = analytics(event_server)
    await generic_output.start()
    await analytics_output.start()
    assert not generic_output.health().connected
    assert "cannot connect" in generic_output.health().detail
    assert not analytics_output.health().connected
    await analytics_output.close()


async def test_tcp_output_taken_away_and_brought_back(international: GenericEventServer) -> None:
    transport = generic(international, timeout_s=2.0)
    await international.stop()
    result = await transport.deliver(make_event())
    assert result.outcome is Outcome.RETRY
    assert not transport.health().connected
    assert transport.health().last_error
    await international.start()
    result = await transport.deliver(make_event())
    assert result.outcome is Outcome.DELIVERED, result.detail
    assert transport.health().connected
    assert len(international.records) == 1


async def test_udp_compatible_echo_and_refusal() -> None:
    server = GenericEventServer(
        free_port(), transport="udp", echo="bytes", separator=b"", encoding="cp1252"
    )
    await server.start()
    transport = generic(server, style="compatible", transport="udp", udp_wait_s=1.0)
    try:
        result = await transport.deliver(make_event())
        assert result.outcome is Outcome.DELIVERED
        assert result.detail.startswith("echoed")
        await server.stop()
        result = await transport.deliver(make_event())
        assert result.outcome is Outcome.RETRY
        assert "unreachable" in result.detail
        assert not transport.health().connected
        await server.start()
        result = await transport.deliver(make_event())
        assert result.outcome is Outcome.DELIVERED
        assert len(server.records) == 2
    finally:
        await server.stop()


async def test_udp_without_echo_is_delivered_unconfirmed() -> None:
    server = GenericEventServer(free_port(), transport="udp", echo="none", separator=b"")
    await server.start()
    try:
        transport = generic(server, style="compatible", transport="udp", echo="none")
        result = await transport.deliver(make_event())
        assert result.outcome is Outcome.DELIVERED
        assert "unconfirmed" in result.detail
        assert len(server.records) == 1
    finally:
        await server.stop()


# --- analytics events --------------------------------------------------------------------

CAMERA_ID = uuid.UUID("0a8c6d2e-51f3-4f0e-9b77-4b1c2f3e4d5a")


@pytest.fixture
async def event_server() -> AsyncIterator[AnalyticsEventServer]:
    server = AnalyticsEventServer(free_port(), registered={"StreetSense fight"})
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def analytics(server: AnalyticsEventServer, **settings: object) -> MilestoneAnalyticsTransport:
    config = MilestoneAnalyticsConfig.model_validate(
        {
            "host": "127.0.0.1",
            "port": server.port,
            "timeout_s": 3.0,
            "cameras": {
                "cam3": {"name": "Karl Johan 3", "id": str(CAMERA_ID), "location": "Torget"}
            },
            **settings,
        }
    )
    return MilestoneAnalyticsTransport(config, "xprotect-analytics")


async def test_analytics_event_is_delivered(event_server: AnalyticsEventServer) -> None:
    transport = analytics(event_server)
    await transport.start()
    try:
        result = await transport.deliver(make_event())
        assert result.outcome is Outcome.DELIVERED, result.detail
        [received] = event_server.events
        assert received.id == str(event_guid("evt_0001abcd"))
        assert received.message == "StreetSense fight"
        assert received.source_name == "Karl Johan 3"
        assert received.source_object_id == str(CAMERA_ID)
        assert received.location == "Torget"
        assert received.custom_tag == "a1b2c3d4e5f6"
        assert received.vendor == "StreetSense"
        assert "HIGH fight at Karl Johan 3" in received.description
        assert transport.health().connected
    finally:
        await transport.close()


async def test_unknown_analytics_event_is_rejected(event_server: AnalyticsEventServer) -> None:
    transport = analytics(event_server)
    before = rejected("milestone_analytics", "unknown_message")
    try:
        result = await transport.deliver(make_event(category="loitering"))
        assert result.outcome is Outcome.REJECTED
        assert "not known" in result.detail
        assert rejected("milestone_analytics", "unknown_message") == before + 1
    finally:
        await transport.close()


async def test_server_error_is_retried(event_server: AnalyticsEventServer) -> None:
    event_server.force_status = 500
    transport = analytics(event_server)
    try:
        result = await transport.deliver(make_event())
        assert result.outcome is Outcome.RETRY
        assert not transport.health().connected
    finally:
        await transport.close()


async def test_unmapped_camera_rejected_when_mapping_required(
    event_server: AnalyticsEventServer,
) -> None:
    transport = analytics(event_server, require_camera_mapping=True)
    try:
        result = await transport.deliver(make_event(source=Source(kind=SourceKind.CAMERA, id="x9")))
        assert result.outcome is Outcome.REJECTED
        assert event_server.events == []
        relaxed = analytics(event_server)
        result = await relaxed.deliver(make_event(source=Source(kind=SourceKind.CAMERA, id="x9")))
        assert result.outcome is Outcome.DELIVERED
        assert event_server.events[0].source_name == "x9"
        await relaxed.close()
    finally:
        await transport.close()


async def test_analytics_output_taken_away_and_brought_back(
    event_server: AnalyticsEventServer,
) -> None:
    transport = analytics(event_server)
    try:
        assert (await transport.deliver(make_event())).outcome is Outcome.DELIVERED
        await event_server.stop()
        result = await transport.deliver(make_event())
        assert result.outcome is Outcome.RETRY
        assert not transport.health().connected
        await event_server.start()
        result = await transport.deliver(make_event())
        assert result.outcome is Outcome.DELIVERED, result.detail
        assert transport.health().connected
        assert len(event_server.events) == 2
    finally:
        await transport.close()


def test_output_types_are_registered_with_validated_configs() -> None:
    registry = OutputRegistry()
    register(registry)
    assert {"milestone_generic", "milestone_analytics"} <= set(registry.types())
    plugin = registry.get("milestone_generic")
    config = plugin.config_model.model_validate({"host": "vms", "style": "compatible"})
    assert isinstance(config, MilestoneGenericConfig)
    assert config.resolved_port == 1234
    assert config.resolved_separator == b""
    with pytest.raises(ValueError, match="unknown template field"):
        plugin.config_model.model_validate({"host": "vms", "template": "{password}"})
    with pytest.raises(ValueError, match="Extra inputs"):
        plugin.config_model.model_validate({"host": "vms", "colour": "red"})
    with pytest.raises(ValueError, match="needs a separator"):
        plugin.config_model.model_validate({"host": "vms", "separator": []})


# --- runs of records (deliver_many) -------------------------------------------------------


class CountingServer(GenericEventServer):
    """The data source, counting the TCP sessions it served."""

    sessions = 0

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.sessions += 1
        await super()._session(reader, writer)


class OneRecordServer(CountingServer):
    """A data source that closes each connection after answering its first record."""

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.sessions += 1
        try:
            record = await reader.readuntil(self.separator)
            writer.write(self.analyse(record[: -len(self.separator)]))
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def run_of(*severities: Severity) -> list[Event]:
    return [
        make_event(event_id=f"evt_{index:04d}", incident_id=f"inc{index:09d}", severity=severity)
        for index, severity in enumerate(severities)
    ]


async def test_a_run_shares_one_connection_and_each_echo_judges_its_record() -> None:
    server = CountingServer(free_port(), rules=(FIGHT_RULE,))
    await server.start()
    try:
        transport = generic(server)
        events = run_of(Severity.HIGH, Severity.LOW, Severity.HIGH)
        results = await transport.deliver_many(events)
        assert [r.outcome for r in results] == [
            Outcome.DELIVERED,
            Outcome.REJECTED,  # no generic event matched; the run goes on
            Outcome.DELIVERED,
        ]
        assert [r.detail.split(":")[0] for r in results] == ["request 1", "request 2", "request 3"]
        assert [record.raw for record in server.records] == [
            b"StreetSense fight high cam=cam3 incident=inc000000000",
            b"StreetSense fight low cam=cam3 incident=inc000000001",
            b"StreetSense fight high cam=cam3 incident=inc000000002",
        ]
        assert server.sessions == 1
    finally:
        await server.stop()


async def test_a_run_stops_at_the_first_retry() -> None:
    server = CountingServer(free_port(), rules=(FIGHT_RULE,))
    transport = generic(server, timeout_s=1.0)
    results = await transport.deliver_many(run_of(Severity.HIGH, Severity.HIGH))
    assert [r.outcome for r in results] == [Outcome.RETRY]  # nothing listens: one try, no more
    assert not transport.health().connected


async def test_one_connection_per_record_when_the_data_source_wants_it() -> None:
    server = OneRecordServer(free_port(), rules=(FIGHT_RULE,))
    await server.start()
    try:
        transport = generic(server)
        results = await transport.deliver_many(run_of(*[Severity.HIGH] * 4))
        assert [r.outcome for r in results] == [Outcome.DELIVERED] * 4
        texts = [record.text for record in server.records]
        # the second record met the closed connection and went again on a fresh one; each
        # record reached the data source once
        assert texts == [
            f"StreetSense fight high cam=cam3 incident=inc00000000{i}" for i in range(4)
        ]
        assert server.sessions == 4
        results = await transport.deliver_many(run_of(*[Severity.HIGH] * 2))
        assert [r.outcome for r in results] == [Outcome.DELIVERED] * 2
        assert server.sessions == 6  # from now on one connection per record, no failed tries
    finally:
        await server.stop()


@pytest.mark.parametrize(
    ("settings", "server_settings", "sessions"),
    [
        ({"echo": "bytes"}, {"echo": "bytes"}, 1),  # separator + all-bytes echo: shared
        ({"echo": "none"}, {"echo": "none"}, 3),  # no echo: only a clean close confirms
        ({"reuse_connection": False}, {}, 3),
        ({}, {"echo_terminator": b""}, 3),  # an unterminated echo ends by a pause
    ],
)
async def test_when_records_cannot_share_a_connection(
    settings: dict[str, object], server_settings: dict[str, object], sessions: int
) -> None:
    server = CountingServer(free_port(), rules=(FIGHT_RULE,), **server_settings)  # type: ignore[arg-type]
    await server.start()
    try:
        results = await generic(server, **settings).deliver_many(run_of(*[Severity.HIGH] * 3))
        assert [r.outcome for r in results] == [Outcome.DELIVERED] * 3
        for _ in range(500):  # without an echo the data source may read the last one later
            if len(server.records) == 3:
                break
            await asyncio.sleep(0.01)
        assert [record.text[-1] for record in server.records] == ["0", "1", "2"]
        assert server.sessions == sessions
    finally:
        await server.stop()
