"""Errors of the TETRA PEI output.

TetraError                     base of everything this package raises
├── PduError                   an SDS / SDS-TL PDU is malformed or unsupported
├── AtResponseError            a line from the radio is not a valid AT response
├── RadioCommandError          the radio answered ERROR or +CME ERROR to a command
├── RadioTimeoutError          the radio did not answer a command in time
└── LinkDownError              the serial line (or serial server) is not connected
"""

from __future__ import annotations


class TetraError(Exception):
    """Base class of the TETRA output's errors."""


class PduError(TetraError, ValueError):
    """A PDU could not be decoded; ``reason`` is a short label for metrics."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class AtResponseError(TetraError, ValueError):
    """A response line does not have the form the PEI standard gives it."""


class RadioCommandError(TetraError):
    """The radio refused a command: ``ERROR`` (code None) or ``+CME ERROR: <code>``."""

    def __init__(self, command: str, code: int | None, description: str = "") -> None:
        text = "ERROR" if code is None else f"+CME ERROR: {code}"
        if description:
            text += f" ({description})"
        super().__init__(f"{command}: {text}")
        self.command = command
        self.code = code


class RadioTimeoutError(TetraError):
    """No final result code arrived for a command within the timeout."""


class LinkDownError(TetraError):
    """The PEI link is not open (radio off, cable out, serial server unreachable)."""
