"""SNMP notifications: SNMPv2c/SNMPv3 traps and informs under the STREETSENSE-MIB tree.

Output type ``snmp``: :class:`~broker.protocols.snmp.transport.SnmpNotifier`,
config :class:`~broker.protocols.snmp.config.SnmpOutputConfig`. The pure codec
is :mod:`broker.protocols.snmp.codec` (event -> notification, SNMPv2c BER via
pysnmp); the MIB is config/snmp/STREETSENSE-MIB.txt. Setup: docs/snmp.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from broker.outputs.base import AdapterContext, OutputTransport
    from broker.outputs.registry import OutputRegistry


def _build(config: Any, name: str, context: AdapterContext) -> OutputTransport:
    from broker.protocols.snmp.transport import SnmpNotifier

    return SnmpNotifier(config, name)


def register(registry: OutputRegistry) -> None:
    """Register the ``snmp`` output type with the adapter."""
    from broker.protocols.snmp.config import SnmpOutputConfig

    registry.register(
        "snmp", SnmpOutputConfig, _build, "SNMPv2c/v3 traps or informs (STREETSENSE-MIB)"
    )
