"""The DC-09 transmitter against a real receiving centre (pysiaalarm), TCP and UDP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from broker.outputs.base import Outcome
from broker.protocols.dc09.codec import decode
from broker.protocols.dc09.config import Dc09OutputConfig
from broker.protocols.dc09.transmitter import Dc09Transmitter
from events import ActionKind, Phase
from tests.broker.protocols.dc09.peers import (
    LossyRelay,
    RecordingContext,
    make_event,
    pysia_centre,
    wait_for,
)
from tests.support.mosquitto import free_port

ACCOUNT = "1234"


def output_config(*ports: int, transport: str = "tcp", **overrides: Any) -> Dc09OutputConfig:
    settings: dict[str, Any] = {
        "receivers": [
            {"host": "127.0.0.1", "port": port, "transport": transport, "name": f"arc-{i}"}
            for i, port in enumerate(ports)
        ],
        "account": ACCOUNT,
        "ack_timeout_s": 3.0,
        "supervision_interval_s": 0,
    }
    settings.update(overrides)
    return Dc09OutputConfig.model_validate(settings)


@asynccontextmanager
async def transmitter(config: Dc09OutputConfig, **kwargs: Any) -> AsyncIterator[Dc09Transmitter]:
    output = Dc09Transmitter(config, "arc", kwargs.pop("context", None), **kwargs)
    await output.start()
    try:
        yield output
    finally:
        await output.close()


@pytest.mark.parametrize("transport", ["tcp", "udp"])
@pytest.mark.parametrize(
    ("key", "fmt"),
    [
        (None, "sia_dcs"),
        (None, "adm_cid"),
        ("AAAAAAAAAAAAAAAA", "sia_dcs"),  # AES-128
        ("0123456789ABCDEF01234567", "adm_cid"),  # AES-192
        ("0123456789ABCDEF0123456789ABCDEF", "sia_dcs"),  # AES-256
    ],
)
async def test_pysiaalarm_accepts_alarm_and_restore(
    transport: str, key: str | None, fmt: str
) -> None:
    port = free_port()
    config = output_config(
        port, transport=transport, key=key, key_encoding="ascii", format=fmt, zones={"cam-1": 7}
    )
    async with pysia_centre(port, ACCOUNT, key, transport) as centre, transmitter(config) as output:
        start = make_event("fight")
        result = await output.deliver(start)
        assert result.outcome is Outcome.DELIVERED, result.detail
        assert "ACK 0001" in result.detail
        end = make_event("fight", Phase.END, incident_id=start.incident_id)
        assert (await output.deliver(end)).outcome is Outcome.DELIVERED
        await wait_for(lambda: len(centre.events) == 2)
        alarm, restore = centre.events
        assert alarm.account == ACCOUNT
        assert alarm.encrypted is (key is not None)
        assert alarm.sequence == "0001"
        assert restore.sequence == "0002"
        if fmt == "sia_dcs":
            assert (alarm.code, alarm.ri, alarm.message) == ("QA", "1", "007")
            assert restore.code == "QR"
            texts = [x.value for x in alarm.extended_data or [] if x.identifier == "I"]
            assert texts
            assert texts[0] is not None
            assert f"ref {start.event_id[:12]}" in texts[0]
        else:
            # Contact ID 101 (personal emergency), group 01, zone 007; pysiaalarm maps it to QA
            assert (alarm.event_qualifier, alarm.event_type) == ("1", "101")
            assert (alarm.partition, alarm.ri) == ("01", "007")
            assert (alarm.code, restore.event_qualifier) == ("QA", "3")
        health = output.health()
        assert health.connected
        assert health.last_success_at is not None
        assert "arc-0 (primary" in health.detail


async def test_duh_is_a_permanent_rejection() -> None:
    port = free_port()
    config = output_config(port, codes={"fight": {"sia": "ZX", "sia_restore": "ZY", "cid": 1}})
    async with pysia_centre(port, ACCOUNT) as centre, transmitter(config) as output:
        result = await output.deliver(make_event("fight"))
        assert result.outcome is Outcome.REJECTED
        assert "DUH 0001" in result.detail
        assert centre.events == []


async def test_nak_resynchronises_the_clock_and_resends_the_same_sequence() -> None:
    port = free_port()
    relay_port = free_port()
    loop = asyncio.get_running_loop()
    async with pysia_centre(port, ACCOUNT, transport="udp") as centre:
        relay = LossyRelay(("127.0.0.1", port), drop=0)
        await loop.create_datagram_endpoint(lambda: relay, local_addr=("127.0.0.1", relay_port))
        skew = timedelta(minutes=5)  # our clock is 5 minutes slow: outside the -40 s window
        config = output_config(relay_port, transport="udp")
        try:
            async with transmitter(config, clock=lambda: datetime.now(UTC) - skew) as output:
                result = await output.deliver(make_event("panic"))
                assert result.outcome is Outcome.DELIVERED, result.detail
                await wait_for(lambda: len(centre.events) == 1)
                # the second delivery is already on the corrected clock: no NAK
                assert (await output.deliver(make_event("panic"))).outcome is Outcome.DELIVERED
        finally:
            relay.close()
    sent = [decode(frame) for frame in relay.frames]
    assert [message.sequence for message in sent] == [1, 1, 2]
    assert sent[0].timestamp is not None
    assert sent[1].timestamp is not None
    late_by = (sent[1].timestamp - sent[0].timestamp).total_seconds()
    assert 240 <= late_by <= 360  # the resend carries the receiver's time, not ours
    assert centre.events[0].code == "PA"


async def test_retries_reuse_the_sequence_number() -> None:
    port = free_port()
    relay_port = free_port()
    loop = asyncio.get_running_loop()
    async with pysia_centre(port, ACCOUNT, transport="udp") as centre:
        relay = LossyRelay(("127.0.0.1", port), drop=2)
        await loop.create_datagram_endpoint(lambda: relay, local_addr=("127.0.0.1", relay_port))
        config = output_config(relay_port, transport="udp", ack_timeout_s=0.5, attempts=3)
        try:
            async with transmitter(config) as output:
                result = await output.deliver(make_event("fight"))
                assert result.outcome is Outcome.DELIVERED, result.detail
                await wait_for(lambda: len(centre.events) == 1)
        finally:
            relay.close()
    assert [decode(frame).sequence for frame in relay.frames] == [1, 1, 1]


async def test_no_answer_at_all_is_retry_for_the_durable_queue() -> None:
    closed = free_port()
    config = output_config(closed, attempts=2, ack_timeout_s=0.5)
    async with transmitter(config) as output:
        result = await output.deliver(make_event("fight"))
        assert result.outcome is Outcome.RETRY
        health = output.health()
        assert not health.connected
        assert health.last_error is not None
        assert "arc-0" in health.last_error


async def test_fails_over_to_the_backup_and_back_to_the_primary() -> None:
    primary, backup = free_port(), free_port()
    config = output_config(primary, backup, failover_after=1, failback_after_s=1.0)
    async with (
        pysia_centre(backup, ACCOUNT) as backup_centre,
        transmitter(config) as output,
    ):
        result = await output.deliver(make_event("fight"))  # primary refuses: backup takes it
        assert result.outcome is Outcome.DELIVERED, result.detail
        assert "arc-1" in result.detail
        assert "backup 1" in output.health().detail
        await wait_for(lambda: len(backup_centre.events) == 1)
        async with pysia_centre(primary, ACCOUNT) as primary_centre:
            await asyncio.sleep(1.1)  # failback_after_s on the backup
            result = await output.deliver(make_event("fight"))
            assert result.outcome is Outcome.DELIVERED, result.detail
            assert "arc-0" in result.detail
            await wait_for(lambda: len(primary_centre.events) == 1)
            assert "primary" in output.health().detail
    assert len(backup_centre.events) == 1


@pytest.mark.parametrize("transport", ["tcp", "udp"])
async def test_supervision_polls_arrive(transport: str) -> None:
    port = free_port()
    config = output_config(port, transport=transport, supervision_interval_s=0.3)
    async with pysia_centre(port, ACCOUNT, transport=transport) as centre, transmitter(config):
        await wait_for(lambda: len(centre.events) >= 2)
    polls = centre.events[:2]
    assert all(str(poll.message_type.value) == "NULL" for poll in polls)  # type: ignore[union-attr]
    assert [poll.sequence for poll in polls] == ["0001", "0002"]


async def test_ack_means_acknowledged_only_when_configured() -> None:
    port = free_port()
    context = RecordingContext()
    async with pysia_centre(port, ACCOUNT) as _centre:
        config = output_config(port, ack_means_acknowledged=True)
        async with transmitter(config, context=context) as output:
            event = make_event("panic")
            assert (await output.deliver(event)).outcome is Outcome.DELIVERED
            end = make_event("panic", Phase.END, incident_id=event.incident_id)
            assert (await output.deliver(end)).outcome is Outcome.DELIVERED
        assert context.actions == [
            (event.event_id, ActionKind.ACKNOWLEDGE, "arc-0", "dc09", "DC-09 ACK of sequence 0001")
        ]
        quiet = RecordingContext()
        async with transmitter(output_config(port), context=quiet) as output:
            assert (await output.deliver(make_event("panic"))).outcome is Outcome.DELIVERED
        assert quiet.actions == []


async def test_updates_are_not_sent_unless_configured() -> None:
    closed = free_port()  # nothing listens: an update must not even try
    async with transmitter(output_config(closed)) as output:
        result = await output.deliver(make_event("fight", Phase.UPDATE))
        assert result.outcome is Outcome.DELIVERED
        assert "not sent" in result.detail


async def test_sequence_wraps_from_9999_to_0001() -> None:
    port = free_port()
    async with pysia_centre(port, ACCOUNT) as centre, transmitter(output_config(port)) as output:
        output._sequence = 9998  # start near the wrap
        for _ in range(2):
            assert (await output.deliver(make_event("fight"))).outcome is Outcome.DELIVERED
        await wait_for(lambda: len(centre.events) == 2)
    assert [event.sequence for event in centre.events] == ["9999", "0001"]
