"""Errors of the inference stage.

InferenceError
 └── ModelError   the model cannot be used: card invalid, file missing, checksum
                  mismatch, session creation failed, or tensor names/shapes differ
                  from the card (raised at load, or at submit for a wrong tensor)
"""

from __future__ import annotations


class InferenceError(Exception):
    """Base class of inference errors."""


class ModelError(InferenceError):
    """The model (card, files, sessions or tensor shapes) cannot be used; the message says why."""
