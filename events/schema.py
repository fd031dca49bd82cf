"""The published JSON Schema of the wire messages.

``python -m events.schema`` rewrites ``events/schema/*.json``; a test fails
when the committed files drift from the models.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from events.model import AgentStatus, Event, OperatorAction

SCHEMA_DIR = Path(__file__).with_name("schema")
MESSAGES: dict[str, type[Any]] = {
    "event": Event,
    "operator-action": OperatorAction,
    "agent-status": AgentStatus,
}


def schema_for(name: str) -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of one wire message."""
    schema: dict[str, Any] = msgspec.json.schema(MESSAGES[name])
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://streetsense.example/schema/v1/{name}.schema.json"
    return schema


def render(name: str) -> str:
    """Return the schema file text exactly as it is committed."""
    return json.dumps(schema_for(name), indent=2, sort_keys=True) + "\n"


def write_all() -> list[Path]:
    """Rewrite every committed schema file; return the paths written."""
    SCHEMA_DIR.mkdir(exist_ok=True)
    written = []
    for name in MESSAGES:
        path = SCHEMA_DIR / f"{name}.schema.json"
        path.write_text(render(name), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_all():
        print(written_path)
