"""Classifying MQTT messages with remembered topics: the same verdicts, a bounded memory."""

from __future__ import annotations

from broker import intake
from broker.intake import EventIn, Rejected, classify
from events import encode, topics
from tests.broker.helpers import make_event


def test_a_remembered_topic_still_checks_each_event_against_it() -> None:
    event = make_event()
    topic = topics.events(event.site, event.agent, event.category)
    first = classify(topic, encode(event))
    assert isinstance(first, EventIn)
    other = make_event(agent="someone-else")
    mismatch = classify(topic, encode(other))  # the topic is remembered now
    assert isinstance(mismatch, Rejected)
    assert mismatch.reason == "topic_mismatch"


def test_bad_topics_are_rejected_and_not_remembered() -> None:
    before = len(intake._topics)
    for index in range(3):
        verdict = classify(f"not/a/streetsense/topic/{index}", b"{}")
        assert isinstance(verdict, Rejected)
        assert verdict.reason == "bad_topic"
    assert len(intake._topics) == before


def test_the_topic_memory_is_bounded() -> None:
    event = make_event()
    for index in range(intake._TOPICS_MAX + 10):
        classify(topics.events(event.site, f"agent-{index}", event.category), b"{}")
    assert 0 < len(intake._topics) <= intake._TOPICS_MAX
