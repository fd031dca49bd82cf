"""Writing the model card: YAML with checksums, and the checksum-free text embedded in ONNX."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from models.card import ModelCard, sha256_of


def strip_checksums(raw: dict[str, Any]) -> dict[str, Any]:
    """The card without any ``sha256`` field (a file cannot contain its own checksum)."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items() if k != "sha256"}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(copy.deepcopy(raw))  # type: ignore[no-any-return]


def dump(raw: dict[str, Any]) -> str:
    """Stable YAML text (keys in insertion order)."""
    return yaml.safe_dump(raw, sort_keys=False, allow_unicode=True, width=100)


def file_entries(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """Every ``{path, sha256?, precision, external_data?}`` entry of a raw card."""
    entries: list[dict[str, Any]] = []
    for form in ("streaming", "fused"):
        entries += [v for v in (raw.get(form) or {}).values() if isinstance(v, dict)]
    entries += list((raw.get("int8") or {}).values())
    return entries


def write_card(raw: dict[str, Any], card_path: Path) -> ModelCard:
    """Fill in the checksums of the files the card names, validate and write it."""
    complete = copy.deepcopy(raw)
    for entry in file_entries(complete):
        entry["sha256"] = sha256_of(card_path.parent / entry["path"])
        data = entry.get("external_data")
        if data is not None:
            data["sha256"] = sha256_of(card_path.parent / data["path"])
    card = ModelCard.model_validate(complete)
    card_path.write_text(dump(complete), encoding="utf-8")
    return card
