"""Errors of the Milestone XProtect output.

MilestoneError                 base of everything this package raises
├── TemplateError              a message template names an unknown field or is unsafe
├── RecordTooLongError         a generic-event record exceeds the configured size
└── EchoFormatError            the event server's echo is not in the published format
"""

from __future__ import annotations


class MilestoneError(Exception):
    """Base class of the Milestone output's errors."""


class TemplateError(MilestoneError, ValueError):
    """A template is invalid; raised when the config is validated, never per event."""


class RecordTooLongError(MilestoneError):
    """The rendered generic-event record is longer than ``max_chars`` even after trimming."""


class EchoFormatError(MilestoneError):
    """An echo from the event server could not be parsed."""
