"""The TETRA transport against a PTY radio emulator speaking the PEI AT dialogue."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from broker.outputs.base import Outcome
from broker.outputs.registry import OutputRegistry
from broker.protocols.tetra import register
from broker.protocols.tetra.config import TetraConfig
from broker.protocols.tetra.transport import TetraPeiTransport
from events import ActionKind, Event, Phase, Severity, Source, SourceKind
from tests.support.mosquitto import free_port
from tests.support.tetra_radio import CME_NO_SERVICE_SELECTED, SOCAT, TetraRadio

pytestmark = pytest.mark.timeout(90)

OFFICER = "2001"
GROUP = "9001"


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
        "occurred_at": datetime(2026, 11, 25, 13, 2, 7, tzinfo=UTC),
        "published_at": datetime(2026, 11, 25, 13, 2, 8, tzinfo=UTC),
    }
    base.update(changes)
    return Event(**base)  # type: ignore[arg-type]


@dataclass
class RecordingContext:
    """Stands in for the adapter core in these unit tests (the end-to-end test uses the real one)."""

    open_alerts: set[str] = field(default_factory=lambda: {"a1b2c3d4e5f6"})
    actions: list[tuple[str, ActionKind, str, str]] = field(default_factory=list)

    async def operator_action(
        self, alert_ref: str, action: ActionKind, *, operator: str, channel: str, note: str = ""
    ) -> bool:
        self.actions.append((alert_ref, action, operator, channel))
        return any(alert.startswith(alert_ref) for alert in self.open_alerts)

    async def publish_event(self, event: Event) -> None:
        raise AssertionError("not used by the TETRA output")


def rejected(reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "streetsense_adapter_protocol_rejected_total", {"protocol": "tetra", "reason": reason}
    )
    return value or 0.0


async def eventually(predicate: Callable[[], bool], within_s: float = 15.0) -> bool:
    deadline = asyncio.get_running_loop().time() + within_s
    while asyncio.get_running_loop().time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()


@pytest.fixture
def radio(tmp_path: Path) -> Iterator[TetraRadio]:
    device = TetraRadio(tmp_path / "pei")
    device.start()
    try:
        yield device
    finally:
        device.stop()


def make_config(radio: TetraRadio, **settings: object) -> TetraConfig:
    return TetraConfig.model_validate(
        {
            "port": str(radio.host_path),
            "destinations": [{"ssi": OFFICER}, {"ssi": GROUP, "group": True}],
            "report_timeout_s": 3.0,
            "command_timeout_s": 3.0,
            "timezone": "Europe/Oslo",
            "places": {"cam3": "Oslo-centre"},
            "reconnect_min_s": 0.1,
            "reconnect_max_s": 0.5,
            **settings,
        }
    )


@pytest.fixture
async def context() -> RecordingContext:
    return RecordingContext()


@pytest.fixture
async def transport(
    radio: TetraRadio, context: RecordingContext
) -> AsyncIterator[TetraPeiTransport]:
    output = TetraPeiTransport(make_config(radio), "radio", context)
    await output.start()
    try:
        assert await output.wait_ready(15), output.health()
        yield output
    finally:
        await output.close()


async def test_initialisation_dialogue(radio: TetraRadio, transport: TetraPeiTransport) -> None:
    assert radio.commands[:3] == ["ATE0", "AT+CTSP=1,3,130", "AT+CTSDS=12,0,0,0,0"]
    assert not radio.echo
    assert transport.health().connected


async def test_alert_reaches_officer_and_group(
    radio: TetraRadio, transport: TetraPeiTransport
) -> None:
    result = await transport.deliver(make_event())
    assert result.outcome is Outcome.DELIVERED, result.detail
    officer, group = radio.sent
    expected = "FIGHT HIGH cam3 Oslo-centre 14:02 #a1b2c3 reply ACK a1b2c3/FALSE a1b2c3"
    assert (officer.called, officer.text, officer.protocol_id) == (OFFICER, expected, 0x82)
    assert officer.report_request == 1  # message received report requested
    assert officer.bits == len(officer.pdu) * 8
    assert (group.called, group.text, group.report_request) == (GROUP, expected, 0)
    assert officer.reference != group.reference


async def test_long_alert_goes_out_in_numbered_parts(
    radio: TetraRadio, context: RecordingContext
) -> None:
    output = TetraPeiTransport(
        make_config(radio, max_chars=60, destinations=[{"ssi": OFFICER}]), "radio", context
    )
    await output.start()
    try:
        assert await output.wait_ready(15)
        result = await output.deliver(make_event())
        assert result.outcome is Outcome.DELIVERED, result.detail
        texts = [sds.text or "" for sds in radio.sent]
        assert len(texts) == 2
        assert texts[0].startswith("1/2 ") and texts[1].startswith("2/2 ")
        assert all("#a1b2c3" in text and len(text) <= 60 for text in texts)
    finally:
        await output.close()


async def test_failed_delivery_reports(radio: TetraRadio, transport: TetraPeiTransport) -> None:
    radio.handsets[OFFICER] = 0x45  # unknown destination: permanent
    result = await transport.deliver(make_event())
    assert result.outcome is Outcome.REJECTED
    assert "unknown destination" in result.detail
    radio.handsets[OFFICER] = 0x4B  # not registered (switched off): try again later
    result = await transport.deliver(make_event(event_id="evt_0002abcd"))
    assert result.outcome is Outcome.RETRY
    assert "not registered" in result.detail


async def test_missing_report_is_a_retry_and_the_retry_resends_only_what_is_missing(
    radio: TetraRadio, transport: TetraPeiTransport
) -> None:
    radio.handsets[OFFICER] = None  # the handset never reports
    result = await transport.deliver(make_event())
    assert result.outcome is Outcome.RETRY
    assert "no delivery report" in result.detail
    assert [sds.called for sds in radio.sent] == [OFFICER]
    radio.handsets[OFFICER] = 0x00
    result = await transport.deliver(make_event())
    assert result.outcome is Outcome.DELIVERED
    assert [sds.called for sds in radio.sent] == [OFFICER, OFFICER, GROUP]


async def test_cme_error_is_a_retry_unless_configured_permanent(
    radio: TetraRadio, context: RecordingContext
) -> None:
    output = TetraPeiTransport(
        make_config(
            radio,
            init_commands=["ATE0"],
            permanent_cme_errors=[CME_NO_SERVICE_SELECTED],
            cme_errors={CME_NO_SERVICE_SELECTED: "no SDS service selected"},
        ),
        "radio",
        context,
    )
    await output.start()
    try:
        assert await output.wait_ready(15)
        radio.forget_service_selection()
        before = rejected("cme_error")
        result = await output.deliver(make_event())
        assert result.outcome is Outcome.REJECTED
        assert f"+CME ERROR: {CME_NO_SERVICE_SELECTED} (no SDS service selected)" in result.detail
        assert rejected("cme_error") == before + 1
    finally:
        await output.close()


async def test_radio_switched_off_and_on(radio: TetraRadio, transport: TetraPeiTransport) -> None:
    radio.stop()
    assert await eventually(lambda: not transport.health().connected)
    result = await transport.deliver(make_event())
    assert result.outcome is Outcome.RETRY
    assert "not ready" in result.detail
    radio.start()
    assert await transport.wait_ready(20), transport.health()
    assert transport.health().connected
    result = await transport.deliver(make_event())
    assert result.outcome is Outcome.DELIVERED, result.detail
    assert radio.commands[-3] == "AT+CTSDS=12,0,0,0,0"  # re-initialised after the restart


async def test_radio_that_does_not_answer_is_initialised_once_it_does(
    radio: TetraRadio, context: RecordingContext
) -> None:
    radio.muted = True
    output = TetraPeiTransport(make_config(radio, command_timeout_s=0.5), "radio", context)
    await output.start()
    try:
        assert await eventually(lambda: "init failed" in output.health().detail)
        assert (await output.deliver(make_event())).outcome is Outcome.RETRY
        radio.muted = False
        assert await output.wait_ready(20), output.health()
        assert (await output.deliver(make_event())).outcome is Outcome.DELIVERED
    finally:
        await output.close()


async def test_late_answer_is_not_taken_for_the_next_command(
    radio: TetraRadio, context: RecordingContext
) -> None:
    config = make_config(radio, command_timeout_s=0.6, destinations=[{"ssi": GROUP, "group": True}])
    output = TetraPeiTransport(config, "radio", context)
    await output.start()
    try:
        assert await output.wait_ready(15)
        radio.answer_delay_s = 0.9
        radio.slow_sends = 2  # +CMGS/OK of the next two sends come after the 0.6 s timeout
        first = await output.deliver(make_event())
        assert first.outcome is Outcome.RETRY
        assert "no answer" in first.detail
        # without resynchronisation the first send's late OK would pass for the second's
        second = await output.deliver(make_event(event_id="evt_0002abcd"))
        assert second.outcome is Outcome.RETRY, second.detail
        assert "no answer" in second.detail
        third = await output.deliver(make_event(event_id="evt_0003abcd"))
        assert third.outcome is Outcome.DELIVERED, third.detail
        assert "AT" in radio.commands  # the resynchronising probe
    finally:
        await output.close()


async def test_handset_reply_becomes_an_operator_action(
    radio: TetraRadio, transport: TetraPeiTransport, context: RecordingContext
) -> None:
    radio.inject_text(OFFICER, "ack A1B2C3", report_request=1, reference=0x31)
    assert await eventually(lambda: len(radio.sent) >= 2)
    report, answer = radio.sent[:2]
    assert (report.called, report.message_type, report.status, report.reference) == (
        OFFICER,
        1,
        0x00,
        0x31,
    )
    # ids are lower-case hex; the handset typed upper case
    assert context.actions == [("a1b2c3", ActionKind.ACKNOWLEDGE, f"tetra:{OFFICER}", "tetra")]
    assert (answer.called, answer.text) == (OFFICER, "OK acknowledge a1b2c3")


async def test_unknown_id_and_chatter_get_short_answers(
    radio: TetraRadio, transport: TetraPeiTransport, context: RecordingContext
) -> None:
    before = rejected("unknown_id")
    radio.inject_text(OFFICER, "FALSE ffff00")
    assert await eventually(lambda: len(radio.sent) >= 1)
    assert radio.sent[0].text == "unknown id ffff00"
    assert rejected("unknown_id") == before + 1
    radio.inject_text(OFFICER, "who is this?")
    assert await eventually(lambda: len(radio.sent) >= 2)
    assert radio.sent[1].text == "Reply ACK <id>, FALSE <id> or CONFIRM <id>"
    assert [action[1] for action in context.actions] == [ActionKind.DISMISS]


async def test_replies_from_unlisted_radios_are_ignored(
    radio: TetraRadio, context: RecordingContext
) -> None:
    output = TetraPeiTransport(
        make_config(radio, accept_replies_from=["2002"], operators={"2002": "Sgt. Berg"}),
        "radio",
        context,
    )
    await output.start()
    try:
        assert await output.wait_ready(15)
        before = rejected("sender_not_allowed")
        radio.inject_text(OFFICER, "CONFIRM a1b2c3")
        assert await eventually(lambda: rejected("sender_not_allowed") == before + 1)
        radio.inject_text("2002", "CONFIRM a1b2c3")
        assert await eventually(lambda: len(context.actions) == 1)
        assert context.actions[0] == ("a1b2c3", ActionKind.CONFIRM, "Sgt. Berg", "tetra")
    finally:
        await output.close()


async def test_garbage_from_the_radio_is_counted_not_fatal(
    radio: TetraRadio, transport: TetraPeiTransport
) -> None:
    before = rejected("bad_pdu_line")
    radio.write(b"\r\n+CTSDSR: 12,2001,0,1000001,0,32\r\nZZZZ\r\n")
    assert await eventually(lambda: rejected("bad_pdu_line") == before + 1)
    before_pdu = rejected("unsupported_protocol")
    radio.inject_sds(OFFICER, bytes.fromhex("0A0102"))
    assert await eventually(lambda: rejected("unsupported_protocol") == before_pdu + 1)
    result = await transport.deliver(make_event())
    assert result.outcome is Outcome.DELIVERED


def port_in_use(port: int) -> bool:
    """Whether something listens on ``port`` (checked without connecting to it)."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


@pytest.fixture
def serial_server(radio: TetraRadio) -> Iterator[int]:
    """socat as a network serial server: TCP port <-> the radio's host PTY."""
    port = free_port()
    bridge = subprocess.Popen(
        [SOCAT, f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr", f"{radio.host_path},raw,echo=0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert radio.wait_for(lambda: port_in_use(port)), "socat did not listen"
        yield port
    finally:
        bridge.kill()
        bridge.wait(10)


async def test_radio_behind_a_serial_server(
    radio: TetraRadio, serial_server: int, context: RecordingContext
) -> None:
    config = make_config(radio, port=f"socket://127.0.0.1:{serial_server}")
    output = TetraPeiTransport(config, "radio", context)
    await output.start()
    try:
        assert await output.wait_ready(15), output.health()
        result = await output.deliver(make_event())
        assert result.outcome is Outcome.DELIVERED, result.detail
        assert [sds.called for sds in radio.sent] == [OFFICER, GROUP]
    finally:
        await output.close()


def test_output_type_is_registered() -> None:
    registry = OutputRegistry()
    register(registry)
    plugin = registry.get("tetra")
    config = plugin.config_model.model_validate(
        {"port": "socket://radio-gw:4001", "destinations": [{"ssi": "2001"}]}
    )
    assert isinstance(config, TetraConfig)
    with pytest.raises(ValueError, match="SSI must be"):
        plugin.config_model.model_validate(
            {"port": "/dev/ttyUSB0", "destinations": [{"ssi": "99999999"}]}
        )
    with pytest.raises(ValueError, match="printable AT command"):
        plugin.config_model.model_validate(
            {"port": "/dev/ttyUSB0", "destinations": [{"ssi": "1"}], "init_commands": ["rm -rf"]}
        )
