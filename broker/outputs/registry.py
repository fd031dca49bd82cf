"""Output plug-ins: ``type`` -> (pydantic config model, factory).

A plug-in module exposes ``register(registry: OutputRegistry) -> None`` and
calls :meth:`OutputRegistry.register` once per output type it provides. The
catalog (:mod:`broker.outputs.catalog`) lists the plug-in modules and imports
them guardedly, so one missing optional protocol never breaks the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from broker.errors import OutputTypeError
from broker.outputs.base import AdapterContext, OutputTransport

OutputFactory = Callable[[Any, str, AdapterContext], OutputTransport]
"""``factory(config, name, context)``: build a transport from its validated config."""


@dataclass(frozen=True, slots=True)
class OutputPlugin:
    """One output type: its config model and the factory that builds transports."""

    type_name: str
    config_model: type[BaseModel]
    factory: OutputFactory
    description: str = ""


class OutputRegistry:
    """Maps an output ``type`` to its plug-in."""

    def __init__(self) -> None:
        self._plugins: dict[str, OutputPlugin] = {}
        self.unavailable: dict[str, str] = {}  # plug-in module -> why it did not load

    def register(
        self,
        type_name: str,
        config_model: type[BaseModel],
        factory: OutputFactory,
        description: str = "",
    ) -> None:
        """Add an output type; registering the same type twice is an error."""
        if type_name in self._plugins:
            raise ValueError(f"output type {type_name!r} is already registered")
        self._plugins[type_name] = OutputPlugin(type_name, config_model, factory, description)

    def get(self, type_name: str) -> OutputPlugin:
        """The plug-in for ``type_name``; :class:`OutputTypeError` when unknown."""
        try:
            return self._plugins[type_name]
        except KeyError:
            known = ", ".join(sorted(self._plugins)) or "none"
            hint = f" (plug-ins that failed to load: {', '.join(self.unavailable)})"
            raise OutputTypeError(
                f"unknown output type {type_name!r}; known types: {known}"
                + (hint if self.unavailable else "")
            ) from None

    def types(self) -> list[str]:
        """Registered type names, sorted."""
        return sorted(self._plugins)

    def build(
        self, type_name: str, config: BaseModel, name: str, context: AdapterContext
    ) -> OutputTransport:
        """Build the transport for one configured output."""
        return self.get(type_name).factory(config, name, context)


_default: OutputRegistry | None = None


def default_registry() -> OutputRegistry:
    """The process-wide registry, filled from the catalog on first use."""
    global _default  # noqa: PLW0603 - a lazily built singleton, no work at import time
    if _default is None:
        from broker.outputs.catalog import load_catalog

        registry = OutputRegistry()
        load_catalog(registry)
        _default = registry
    return _default
