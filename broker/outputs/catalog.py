"""The list of output plug-in modules, imported lazily and guardedly.

Each entry names a module that exposes ``register(registry)`` (see
:mod:`broker.outputs.registry`). To add a protocol, add its module here; a
module that is absent is skipped quietly, one that fails to import (a missing
optional dependency) is logged and recorded in ``registry.unavailable``, and
the other outputs keep working.

Convention for protocol packages: ``broker/protocols/<name>/__init__.py`` (or a
``plugin`` submodule listed here) defines::

    def register(registry: OutputRegistry) -> None:
        registry.register("dc09", Dc09OutputConfig, build_dc09_output, "SIA DC-09 ...")

where the config model is a pydantic model with ``extra="forbid"`` (the
``type`` key is removed before validation) and the factory is
``factory(config, name, context) -> OutputTransport``.
"""

from __future__ import annotations

import importlib
import logging

from broker.outputs.registry import OutputRegistry

logger = logging.getLogger(__name__)

PLUGIN_MODULES: tuple[str, ...] = (
    # built in
    "broker.outputs.log",
    "broker.outputs.webhook",
    "broker.outputs.syslog",
    # console protocols (each owned by its package)
    "broker.protocols.dc09",
    "broker.protocols.milestone",
    "broker.protocols.tetra",
    "broker.protocols.onvif",
    "broker.protocols.cap",
    "broker.protocols.snmp",
)


def load_catalog(registry: OutputRegistry, modules: tuple[str, ...] = PLUGIN_MODULES) -> None:
    """Import every plug-in module and let it register its output types."""
    for module_name in modules:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module_name.startswith(exc.name):
                logger.debug("output plug-in %s is not installed", module_name)
            else:
                logger.warning("output plug-in %s needs a missing module: %s", module_name, exc)
            registry.unavailable[module_name] = str(exc)
            continue
        except Exception as exc:  # a broken plug-in must not break the others
            logger.exception("output plug-in %s failed to import", module_name)
            registry.unavailable[module_name] = f"{type(exc).__name__}: {exc}"
            continue
        register = getattr(module, "register", None)
        if register is None:
            logger.debug("module %s has no register(registry) (yet)", module_name)
            registry.unavailable[module_name] = "no register(registry) function"
            continue
        try:
            register(registry)
        except Exception as exc:
            logger.exception("output plug-in %s failed to register", module_name)
            registry.unavailable[module_name] = f"{type(exc).__name__}: {exc}"
