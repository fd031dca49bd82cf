"""Errors of the CAP 1.2 codec and output.

CapError                 base; ``reason`` is the Prometheus label
├── CapConfigError       an invalid setting (sender with a comma, bad polygon, ...)
├── CapEncodeError       an alert that cannot be written as valid CAP ("encode")
└── CapFormatError       a document that is not a valid CAP 1.2 alert; ``reason`` is one of
                         "oversize", "not_xml", "doctype", "not_cap", "structure", "value";
                         ``problems`` lists what the checker found
"""

from __future__ import annotations


class CapError(Exception):
    """Base of every CAP error; ``reason`` is a short metric label."""

    reason = "error"


class CapConfigError(CapError, ValueError):
    """A CAP output setting is invalid."""

    reason = "config"


class CapEncodeError(CapError, ValueError):
    """An alert cannot be written as valid CAP 1.2 (characters XML cannot carry, bad values)."""

    reason = "encode"


class CapFormatError(CapError, ValueError):
    """A document is not a valid CAP 1.2 alert."""

    def __init__(self, reason: str, problems: list[str] | tuple[str, ...]) -> None:
        self.reason = reason
        self.problems = tuple(problems)
        super().__init__(f"{reason}: " + "; ".join(self.problems[:5]))
