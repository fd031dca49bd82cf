"""Shipped models, their cards and the scripts that build them.

``models/card.py`` is the schema every model card follows; the agent loads any
ONNX video classifier described by such a card.
"""

from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent


def shipped_card_path() -> Path:
    """Path of the default model card shipped with StreetSense."""
    return MODELS_DIR / "fight" / "card.yaml"
