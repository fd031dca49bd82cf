"""The agent config: example file, minimal config, defaults, errors with path and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import AgentConfig, load_agent_config
from events import Severity
from streetsense.configfile import ConfigError, parse_config

ROOT = Path(__file__).resolve().parents[2]


def test_example_config_is_valid() -> None:
    config = load_agent_config(ROOT / "config" / "agent.example.yaml")
    assert (config.site, config.agent) == ("oslo", "post-17")
    assert [c.name for c in config.cameras] == ["cam1", "cam2"]
    assert len(config.cameras[0].privacy_masks) == 1
    assert config.cameras[1].decode == "keyframes"
    assert {r.name for r in config.fusion.sensor_rules} == {
        "loud_noise",
        "emergency_call",
        "air_quality",
    }
    assert config.fusion.correlations[0].severity is Severity.CRITICAL


def test_minimal_config_gets_working_defaults() -> None:
    config = parse_config("site: oslo\nagent: post-1\n", AgentConfig)
    assert config.cameras == ()
    assert config.broker.port == 1883 and config.broker.tls is None
    assert config.outbox.synchronous == "full"
    assert config.model.card == Path("models/fight/card.yaml")
    assert [r.category for r in config.fusion.sensor_rules] == [
        "loud_noise",
        "emergency_call",
        "air_quality",
    ]
    assert config.fusion.smoothing.confirm_clips >= 2  # one noisy clip never alerts
    assert config.snapshots.enabled is False


def test_password_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_MQTT_PASSWORD", "s3cret")
    text = "site: s\nagent: a\nbroker:\n  username: a\n  password: ${TEST_MQTT_PASSWORD}\n"
    config = parse_config(text, AgentConfig)
    assert config.broker.password is not None
    assert config.broker.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(config)


def test_unset_secret_is_an_error_naming_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_UNSET_PASSWORD", raising=False)
    text = "site: s\nagent: a\nbroker:\n  password: ${TEST_UNSET_PASSWORD}\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, AgentConfig)
    (problem,) = caught.value.problems
    assert problem.path == "broker.password" and problem.line == 4


@pytest.mark.parametrize(
    ("text", "path", "line"),
    [
        ("site: s\nagent: a\ncameras:\n  - name: cam1\n    urll: rtsp://x\n", "cameras[0].urll", 5),
        ("site: s\nagent: a\nbroker:\n  port: 70000\n", "broker.port", 4),
        ("site: S P\nagent: a\n", "site", 1),
        ("site: s\nagent: a\nfusion:\n  smoothing:\n    alpha: 0\n", "fusion.smoothing.alpha", 5),
        (
            "site: s\nagent: a\nfusion:\n  sensor_rules:\n    - name: x\n      quantity: q\n"
            "      above: 1\n      category: c\n      severity: urgent\n",
            "fusion.sensor_rules[0].severity",
            9,
        ),
        (
            "site: s\nagent: a\ncameras:\n  - name: c\n    url: x\n    privacy_masks:\n"
            "      - points: [[0, 0], [1, 1]]\n",
            "cameras[0].privacy_masks[0].points",
            7,
        ),
        ("site: s\nagent: a\nbroker:\n  tls:\n    cert_file: c.pem\n", "broker.tls", 4),
        ("site: s\nagent: a\noutbox:\n  synchronous: off\n", "outbox.synchronous", 4),
    ],
)
def test_errors_name_the_yaml_path_and_line(text: str, path: str, line: int) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, AgentConfig)
    found = {(p.path, p.line) for p in caught.value.problems}
    assert (path, line) in found, caught.value.problems


def test_duplicate_camera_names_are_rejected() -> None:
    text = "site: s\nagent: a\ncameras:\n  - name: c\n    url: x\n  - name: c\n    url: y\n"
    with pytest.raises(ConfigError, match="repeated"):
        parse_config(text, AgentConfig)


def test_missing_required_keys_are_all_reported() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("cameras: []\n", AgentConfig)
    assert {p.path for p in caught.value.problems} == {"site", "agent"}


def test_cameras_sample_at_the_models_rate_unless_told(tmp_path: Path) -> None:
    from edge.config import AgentConfig
    from tests.support.tiny_model import build_tiny_model

    card = build_tiny_model(tmp_path / "model", sample_fps=6.0)
    config = AgentConfig.model_validate(
        {
            "site": "s",
            "agent": "a",
            "model": {"card": str(card)},
            "cameras": [
                {"name": "auto", "url": "rtsp://x/1"},
                {"name": "fixed", "url": "rtsp://x/2", "analysis_fps": 2.0},
            ],
        }
    )
    rates = {camera.name: camera.analysis_fps for camera in config.cameras}
    assert rates == {"auto": 6.0, "fixed": 2.0}
