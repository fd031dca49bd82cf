"""Load YAML config into pydantic models, with errors that name the YAML path and line.

Shared by the agent and the adapter. Secrets never live in the file: a string
value ``${NAME}`` is replaced by the environment variable ``NAME`` (an unset
variable is an error naming the key), and ``${NAME:-default}`` falls back.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)

_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One problem in a config file."""

    path: str  # dotted YAML path, e.g. cameras[0].url
    line: int | None  # 1-based line in the file, when known
    message: str

    def __str__(self) -> str:
        where = f"{self.path} (line {self.line})" if self.line else self.path
        return f"{where}: {self.message}"


class ConfigError(ValueError):
    """A config file could not be read or is invalid; ``problems`` lists every issue."""

    def __init__(self, source: str, problems: list[ConfigProblem]) -> None:
        self.source = source
        self.problems = problems
        details = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"invalid config {source}:\n{details}")


class _LineLoader(yaml.SafeLoader):
    """A SafeLoader that records the line of every mapping key and sequence item."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping: dict[str, Any] = {}
    lines: dict[str, int] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        mapping[key] = loader.construct_object(value_node, deep=True)
        lines[str(key)] = key_node.start_mark.line + 1
    mapping["__lines__"] = lines
    return mapping


_LineLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def _strip_lines(value: Any, prefix: str, index: dict[str, int]) -> Any:
    """Remove line annotations, recording ``dotted.path -> line`` in ``index``."""
    if isinstance(value, dict):
        lines = value.pop("__lines__", {})
        for key, line in lines.items():
            index[f"{prefix}.{key}" if prefix else key] = line
        return {
            key: _strip_lines(item, f"{prefix}.{key}" if prefix else str(key), index)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_strip_lines(item, f"{prefix}[{i}]", index) for i, item in enumerate(value)]
    return value


def _substitute_env(value: Any, path: str, problems: list[ConfigProblem]) -> Any:
    if isinstance(value, dict):
        return {
            k: _substitute_env(v, f"{path}.{k}" if path else str(k), problems)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_substitute_env(v, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    if isinstance(value, str) and "${" in value:

        def replace(match: re.Match[str]) -> str:
            name: str = match.group(1)
            default: str | None = match.group(2)
            found = os.environ.get(name, default)
            if found is None:
                problems.append(
                    ConfigProblem(path, None, f"environment variable {name} is not set")
                )
                return ""
            return found

        return _ENV_PATTERN.sub(replace, value)
    return value


def _dotted(location: tuple[int | str, ...]) -> str:
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _line_for(path: str, index: dict[str, int]) -> int | None:
    """The line of ``path`` or of its nearest ancestor that has one."""
    candidate = path
    while candidate:
        if candidate in index:
            return index[candidate]
        cut = max(candidate.rfind("."), candidate.rfind("["))
        candidate = candidate[:cut] if cut > 0 else ""
    return None


def parse_config(text: str, model: type[ModelT], source: str = "<string>") -> ModelT:
    """Validate YAML ``text`` against ``model``; raise :class:`ConfigError` on any problem."""
    try:
        raw = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - _LineLoader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(source, [ConfigProblem("(yaml)", line, str(exc))]) from exc
    index: dict[str, int] = {}
    data = _strip_lines(raw if raw is not None else {}, "", index)
    if not isinstance(data, dict):
        raise ConfigError(source, [ConfigProblem("(top level)", 1, "expected a mapping")])
    problems: list[ConfigProblem] = []
    data = _substitute_env(data, "", problems)
    if problems:
        for problem in problems:
            object.__setattr__(problem, "line", _line_for(problem.path, index))
        raise ConfigError(source, problems)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        found = []
        for error in exc.errors():
            path = _dotted(tuple(error["loc"]))
            found.append(ConfigProblem(path, _line_for(path, index), error["msg"]))
        raise ConfigError(source, found) from exc


def load_config(path: Path, model: type[ModelT]) -> ModelT:
    """Read and validate a YAML config file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [ConfigProblem("(file)", None, str(exc))]) from exc
    return parse_config(text, model, source=str(path))
