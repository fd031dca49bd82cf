"""Topic names, topic filters and shared subscriptions (spec 4.7, 4.8.2). Pure functions."""

from __future__ import annotations

from dataclasses import dataclass

SHARE_PREFIX = "$share/"


@dataclass(frozen=True, slots=True)
class TopicFilter:
    """A subscription's filter; ``group`` is set for ``$share/<group>/<filter>``."""

    text: str  # as subscribed, including any $share prefix
    pattern: str  # the filter messages are matched against
    group: str | None = None


def valid_topic_name(topic: str) -> bool:
    """A PUBLISH topic: not empty, no wildcards."""
    return bool(topic) and "+" not in topic and "#" not in topic


def _valid_pattern(pattern: str) -> bool:
    if not pattern:
        return False
    levels = pattern.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            return False
        if "+" in level and level != "+":
            return False
    return True


def parse_filter(text: str) -> TopicFilter | None:
    """Parse a SUBSCRIBE/UNSUBSCRIBE filter; None when it is invalid."""
    if text.startswith(SHARE_PREFIX):
        group, _, pattern = text[len(SHARE_PREFIX) :].partition("/")
        if not group or any(char in group for char in "+#") or not _valid_pattern(pattern):
            return None
        return TopicFilter(text, pattern, group)
    return TopicFilter(text, text) if _valid_pattern(text) else None


def matches(pattern: str, topic: str) -> bool:
    """Whether ``topic`` matches ``pattern``; wildcards never match a leading ``$`` level."""
    if topic.startswith("$") and pattern[:1] in ("+", "#"):
        return False
    pattern_levels = pattern.split("/")
    topic_levels = topic.split("/")
    for index, level in enumerate(pattern_levels):
        if level == "#":
            return True
        if index >= len(topic_levels) or (level not in ("+", topic_levels[index])):
            return False
    return len(pattern_levels) == len(topic_levels)
