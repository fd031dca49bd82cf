"""``streetsense config check FILE``: validate an agent or an adapter config.

The kind is told from the top-level keys (an agent has ``site`` and ``agent``;
an adapter has ``mqtt``, ``storage``, ``outputs`` or ``routes``). Prints ``OK``
or every problem with its YAML path and line; exit status 1 on problems.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import yaml

from streetsense.configfile import ConfigError, ConfigProblem

AGENT_KEYS = frozenset({"site", "agent", "cameras", "sensors", "fusion", "outbox", "broker"})
ADAPTER_KEYS = frozenset({"mqtt", "storage", "outputs", "routes", "dedupe_window_s", "retry"})


def detect_kind(path: Path) -> str:
    """``agent`` or ``adapter``, from the file's top-level keys (``agent`` when unsure)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return "agent"  # the loader reports the problem with its line
    keys = set(raw) if isinstance(raw, dict) else set()
    agent_score = len(keys & AGENT_KEYS)
    adapter_score = len(keys & ADAPTER_KEYS)
    return "adapter" if adapter_score > agent_score else "agent"


def _agent_loader() -> Callable[[Path], object]:
    from edge.config import load_agent_config

    return load_agent_config


def _adapter_loader() -> Callable[[Path], object] | None:
    try:
        from broker.config import load_adapter_config
    except ImportError:
        return None
    return load_adapter_config


def check_config_file(path: Path, out: TextIO | None = None) -> int:
    """Validate ``path``; print OK or every problem; return 0 or 1."""
    out = out or sys.stdout
    kind = detect_kind(path)
    loader = _agent_loader() if kind == "agent" else _adapter_loader()
    if loader is None:
        print(f"{path}: looks like an adapter config, but the broker package is missing", file=out)
        return 1
    try:
        loader(path)
    except ConfigError as exc:
        _report(path, kind, exc.problems, out)
        return 1
    print(f"{path}: OK ({kind} config)", file=out)
    return 0


def _report(path: Path, kind: str, problems: list[ConfigProblem], out: TextIO) -> None:
    count = len(problems)
    print(f"{path}: {count} problem{'s' if count != 1 else ''} ({kind} config)", file=out)
    for problem in problems:
        where = f"line {problem.line}: " if problem.line else ""
        print(f"  {where}{problem.path}: {problem.message}", file=out)
