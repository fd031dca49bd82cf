"""Pull-point bookkeeping with a controlled clock: lifetimes, keep-alive, expiry, drops."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from broker.protocols.onvif.errors import (
    InvalidArgumentError,
    ResourceUnknownError,
    SubscriptionLimitError,
)
from broker.protocols.onvif.notification import PropertyOperation, from_event
from broker.protocols.onvif.subscriptions import SubscriptionLimits, SubscriptionManager
from events import Phase
from tests.broker.protocols.onvif_support import counter, make_event


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def manager(name: str, **limits: object) -> tuple[SubscriptionManager, Clock]:
    clock = Clock()
    return SubscriptionManager(name, SubscriptionLimits(**limits), clock=clock), clock  # type: ignore[arg-type]


def test_lifetimes_are_clamped_and_defaulted() -> None:
    subs, clock = manager(
        "sub-clamp",
        default_termination=timedelta(seconds=60),
        min_termination=timedelta(seconds=10),
        max_termination=timedelta(seconds=600),
    )
    assert subs.create(None, None).termination == clock.now + timedelta(seconds=60)
    assert subs.create(None, clock.now + timedelta(seconds=2)).termination == clock.now + timedelta(
        seconds=10
    )
    assert subs.create(None, clock.now + timedelta(days=2)).termination == clock.now + timedelta(
        seconds=600
    )
    with pytest.raises(InvalidArgumentError):
        subs.create(None, clock.now - timedelta(seconds=1))


async def test_pulls_keep_a_subscription_alive_and_silence_expires_it() -> None:
    subs, clock = manager("sub-alive")
    subscription = subs.create(None, clock.now + timedelta(seconds=60))
    subs.publish(from_event(make_event()))
    clock.advance(50)
    assert len(await subs.pull(subscription.id, timedelta(0), 10)) == 1
    assert subscription.termination == clock.now + timedelta(seconds=60)
    clock.advance(59)
    assert subs.get(subscription.id) is subscription
    subs.publish(from_event(make_event()))
    before = counter(
        "streetsense_adapter_onvif_dropped_total",
        {"output": "sub-alive", "reason": "subscription_expired"},
    )
    clock.advance(2)
    assert subs.expire() == 1
    assert subs.active == 0
    after = counter(
        "streetsense_adapter_onvif_dropped_total",
        {"output": "sub-alive", "reason": "subscription_expired"},
    )
    assert after == before + 1
    with pytest.raises(ResourceUnknownError):
        await subs.pull(subscription.id, timedelta(0), 10)
    with pytest.raises(ResourceUnknownError):
        subs.renew(subscription.id, None)


async def test_unsubscribe_wakes_a_waiting_pull() -> None:
    subs, _clock = manager("sub-wake")
    subscription = subs.create(None, None)
    waiting = asyncio.create_task(subs.pull(subscription.id, timedelta(seconds=60), 10))
    await asyncio.sleep(0.05)
    subs.unsubscribe(subscription.id)
    assert await asyncio.wait_for(waiting, 5) == []


def test_pull_point_limit() -> None:
    subs, _ = manager("sub-limit", max_subscriptions=2)
    subs.create(None, None)
    subs.create(None, None)
    with pytest.raises(SubscriptionLimitError) as caught:
        subs.create(None, None)
    assert caught.value.http_status == 500


async def test_open_incidents_are_replayed_and_closed_ones_forgotten() -> None:
    subs, _ = manager("sub-props", max_properties=2)
    first = make_event(Phase.START)
    subs.publish(from_event(first))
    subs.publish(from_event(make_event(Phase.UPDATE, incident_id=first.incident_id)))
    second = make_event(Phase.START)
    subs.publish(from_event(second))
    subs.publish(from_event(make_event(Phase.END, incident_id=second.incident_id)))
    third, fourth = make_event(Phase.START), make_event(Phase.START)
    subs.publish(from_event(third))
    subs.publish(from_event(fourth))  # the table holds two: the oldest (first) is dropped
    subscription = subs.create(None, None)
    replayed = await subs.pull(subscription.id, timedelta(0), 10)
    assert [n.operation for n in replayed] == [PropertyOperation.INITIALIZED] * 2
    assert [{i.name: i.value for i in n.data}["IncidentId"] for n in replayed] == [
        third.incident_id,
        fourth.incident_id,
    ]
