"""The ``cap_feed`` output: an Atom feed of CAP messages fetched over real HTTP, kept across restarts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree

from broker.outputs.base import Outcome
from broker.outputs.catalog import load_catalog
from broker.outputs.registry import OutputRegistry
from broker.protocols.cap.atom import ATOM
from broker.protocols.cap.codec import decode_alert
from broker.protocols.cap.config import CapFeedConfig
from broker.protocols.cap.feed import CapFeedOutput
from broker.protocols.cap.model import Alert, MsgType
from events import Phase, utc_now
from tests.broker.helpers import make_event

A = f"{{{ATOM}}}"


def _config(tmp_path: Path, **overrides: Any) -> CapFeedConfig:
    return CapFeedConfig.model_validate(
        {"sender": "streetsense@city.example", "port": 0, "state_path": tmp_path / "feed.db",
         **overrides}
    )  # fmt: skip


@pytest.fixture
async def feed(tmp_path: Path) -> AsyncIterator[CapFeedOutput]:
    output = CapFeedOutput(_config(tmp_path), "cap-feed-test")
    await output.start()
    try:
        yield output
    finally:
        await output.close()


async def _read_feed(output: CapFeedOutput) -> tuple[etree._Element, list[Alert]]:
    """Fetch the feed and every CAP message it links to, as a consumer does."""
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"{output.base_url}/feed.atom")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/atom+xml")
        root = etree.fromstring(response.content)
        alerts = []
        for entry in root.iterfind(f"{A}entry"):
            link = entry.find(f"{A}link[@rel='alternate']")
            assert link is not None and link.get("type") == "application/cap+xml"
            cap = await client.get(link.get("href", ""))
            assert cap.status_code == 200
            alerts.append(decode_alert(cap.content))
    return root, alerts


def _assert_atom(root: etree._Element) -> None:
    assert root.tag == f"{A}feed"
    for name in ("id", "title", "updated"):
        assert (root.findtext(f"{A}{name}") or "").strip(), name
    assert root.findtext(f"{A}author/{A}name")
    for entry in root.iterfind(f"{A}entry"):
        for name in ("id", "title", "updated", "summary"):
            assert (entry.findtext(f"{A}{name}") or "").strip(), name


async def test_feed_lists_each_incident_with_its_latest_message(feed: CapFeedOutput) -> None:
    first = [make_event(incident_id="incidentfeed01", phase=p) for p in (Phase.START, Phase.UPDATE)]
    other = make_event(incident_id="incidentfeed02", phase=Phase.START)
    for event in (*first, other):
        result = await feed.deliver(event)
        assert result.outcome is Outcome.DELIVERED, result
    root, alerts = await _read_feed(feed)
    _assert_atom(root)
    by_incident = {a.incidents: a for a in alerts}
    assert set(by_incident) == {"incidentfeed01", "incidentfeed02"}
    update = by_incident["incidentfeed01"]
    assert update.msg_type is MsgType.UPDATE
    assert [r.identifier for r in update.references] == [f"streetsense-{first[0].event_id}"]
    assert by_incident["incidentfeed02"].msg_type is MsgType.ALERT
    # the referenced earlier message is still served
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"{feed.base_url}/alerts/streetsense-{first[0].event_id}.xml")
    assert decode_alert(response.content).msg_type is MsgType.ALERT


async def test_feed_and_references_survive_a_restart(tmp_path: Path) -> None:
    start = make_event(incident_id="incidentfeed03", phase=Phase.START)
    output = CapFeedOutput(_config(tmp_path), "cap-feed-restart")
    try:
        assert (await output.deliver(start)).outcome is Outcome.DELIVERED
    finally:
        await output.close()
    assert not output.health().connected
    again = CapFeedOutput(_config(tmp_path), "cap-feed-restart")
    try:
        update = make_event(incident_id="incidentfeed03", phase=Phase.UPDATE)
        assert (await again.deliver(update)).outcome is Outcome.DELIVERED
        _, alerts = await _read_feed(again)
    finally:
        await again.close()
    (alert,) = alerts
    assert alert.msg_type is MsgType.UPDATE
    assert [r.identifier for r in alert.references] == [f"streetsense-{start.event_id}"]


async def test_ended_and_expired_incidents_leave_the_feed(tmp_path: Path) -> None:
    output = CapFeedOutput(_config(tmp_path, keep_ended_s=0), "cap-feed-prune")
    try:
        incident = [
            make_event(incident_id="incidentfeed04", phase=p) for p in (Phase.START, Phase.END)
        ]
        old = make_event(published_at=utc_now() - timedelta(hours=2))  # expired after 1 h
        live = make_event()
        for event in (*incident, old, live):
            assert (await output.deliver(event)).outcome is Outcome.DELIVERED
        _, alerts = await _read_feed(output)
    finally:
        await output.close()
    assert [a.identifier for a in alerts] == [f"streetsense-{live.event_id}"]


async def test_redelivery_is_one_message_that_does_not_reference_itself(
    feed: CapFeedOutput,
) -> None:
    start = make_event(incident_id="incidentfeed05", phase=Phase.START)
    update = make_event(incident_id="incidentfeed05", phase=Phase.UPDATE)
    for event in (start, update, update):
        assert (await feed.deliver(event)).outcome is Outcome.DELIVERED
    _, alerts = await _read_feed(feed)
    (alert,) = alerts
    assert [r.identifier for r in alert.references] == [f"streetsense-{start.event_id}"]


@pytest.mark.parametrize("identifier", ["streetsense-nosuchevent", "a<b", "x%20y"])
async def test_unknown_messages_are_404(feed: CapFeedOutput, identifier: str) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"{feed.base_url}/alerts/{identifier}.xml")
    assert response.status_code == 404


async def test_unusable_state_path_is_retry_and_down(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    output = CapFeedOutput(_config(tmp_path, state_path=blocker / "feed.db"), "cap-feed-broken")
    try:
        result = await output.deliver(make_event())
    finally:
        await output.close()
    assert result.outcome is Outcome.RETRY
    assert not output.health().connected and "cannot serve" in (output.health().last_error or "")


def test_registered_in_the_catalog(tmp_path: Path) -> None:
    registry = OutputRegistry()
    load_catalog(registry, ("broker.protocols.cap",))
    assert {"cap", "cap_feed"} <= set(registry.types())
    config = registry.get("cap_feed").config_model.model_validate(
        {"sender": "ops@city.example", "state_path": str(tmp_path / "f.db"),
         "public_url": "https://alerts.city.example/cap"}
    )  # fmt: skip
    output = registry.build("cap_feed", config, "feed", context=None)  # type: ignore[arg-type]
    assert isinstance(output, CapFeedOutput)
    assert output.base_url == "https://alerts.city.example/cap"
