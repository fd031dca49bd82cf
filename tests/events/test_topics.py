"""The MQTT topic layout."""

from __future__ import annotations

import pytest

from events import topics


def test_builders_and_parse_agree() -> None:
    topic = topics.events("oslo", "post-17", "fight")
    assert topic == "streetsense/v1/oslo/post-17/events/fight"
    parts = topics.parse(topic)
    assert (parts.site, parts.agent, parts.kind, parts.leaf) == (
        "oslo",
        "post-17",
        "events",
        "fight",
    )
    assert topics.parse(topics.status("oslo", "a")).kind == "status"
    assert topics.parse(topics.acks("oslo", "a")).leaf is None


@pytest.mark.parametrize(
    "topic", ["other/v1/a/b/events/x", "streetsense/v1/a/b/events", "streetsense/v1/a/b/nope/x"]
)
def test_parse_rejects_foreign_topics(topic: str) -> None:
    with pytest.raises(ValueError, match="not a StreetSense topic"):
        topics.parse(topic)


def test_shared_subscription_filter() -> None:
    assert (
        topics.shared("adapters", topics.ALL_EVENTS)
        == "$share/adapters/streetsense/v1/+/+/events/#"
    )
