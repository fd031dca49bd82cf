"""The ONVIF output types through the adapter's registry and YAML config."""

from __future__ import annotations

import pytest

from broker.config import parse_adapter_config
from broker.outputs.base import Outcome
from broker.outputs.registry import default_registry
from broker.protocols.onvif.inbound import OnvifCameraSource
from broker.protocols.onvif.output import OnvifEventsOutput
from streetsense.configfile import ConfigError
from tests.broker.protocols.onvif_support import Collector, make_event

YAML = """
outputs:
  vms:
    type: onvif_events
    listen_host: 127.0.0.1
    listen_port: 0
    users:
      - username: vms
        password: ${ONVIF_TEST_PASSWORD}
    categories: [fight]
  lobby:
    type: onvif_camera
    host: 192.0.2.10
    username: streetsense
    password: ${ONVIF_TEST_PASSWORD}
    site: depot-7
    topics:
      - topic: tns1:RuleEngine/CellMotionDetector/Motion
        category: motion
        state_item: IsMotion
routes:
  - name: all
    outputs: [vms]
"""


async def test_yaml_config_builds_both_types(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONVIF_TEST_PASSWORD", "from-env")
    config = parse_adapter_config(YAML)
    registry = default_registry()
    context = Collector()
    vms = registry.build("onvif_events", config.outputs["vms"].settings, "vms", context)
    lobby = registry.build("onvif_camera", config.outputs["lobby"].settings, "lobby", context)
    assert isinstance(vms, OnvifEventsOutput)
    assert isinstance(lobby, OnvifCameraSource)
    assert config.outputs["vms"].settings.users[0].password.get_secret_value() == "from-env"
    result = await lobby.deliver(make_event())
    assert result.outcome is Outcome.REJECTED
    assert not lobby.health().connected


def test_unknown_keys_are_reported_with_their_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONVIF_TEST_PASSWORD", "from-env")
    with pytest.raises(ConfigError) as caught:
        parse_adapter_config(
            YAML.replace("categories: [fight]", "categories: [fight]\n    pull_points: 3")
        )
    assert "vms.pull_points" in str(caught.value)
