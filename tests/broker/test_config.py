"""Adapter config: the example loads; errors name the YAML path and line; plug-ins load guardedly."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from broker.config import load_adapter_config, parse_adapter_config
from broker.outputs.catalog import load_catalog
from broker.outputs.registry import OutputRegistry
from streetsense.configfile import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_example_config_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET", "from-the-environment")
    config = load_adapter_config(ROOT / "config" / "adapter.example.yaml")
    assert set(config.outputs) == {"console-log", "control-room-hook"}
    assert config.outputs["control-room-hook"].settings.secret.get_secret_value() == (
        "from-the-environment"
    )
    assert config.routes[0].continue_ is True
    assert config.api.operator_tokens() == {"dev-token-alice-only": "alice"}


@pytest.mark.parametrize(
    ("yaml_text", "path", "line", "message"),
    [
        ("outputs:\n  hook:\n    type: webhook\n    url: ftp://x\n", "outputs.hook.url", 4,
         "should match pattern"),
        ("outputs:\n  hook:\n    type: webhook\n    url: http://x\n    colour: red\n",
         "outputs.hook.colour", 5, "Extra inputs"),
        ("outputs:\n  arc:\n    type: carrier-pigeon\n", "outputs.arc.type", 3,
         "unknown output type 'carrier-pigeon'"),
        ("outputs:\n  a: {type: log}\nroutes:\n  - name: r\n    outputs: [a, b]\n",
         "routes[0].outputs[1]", 5, "unknown output 'b'"),
        ("mqtt:\n  port: 70000\n", "mqtt.port", 2, "less than or equal"),
        ("routes:\n  - name: r\n    outputs: [a]\n    schedule:\n      timezone: Mars/Olympus\n"
         "      windows: [{start: '01:00', end: '02:00'}]\n", "routes[0].schedule.timezone", 5,
         "unknown time zone"),
        ("storage:\n  kind: postgresql\n", "storage.postgresql.dsn", 1, "Field required"),
        ("retry:\n  max_attempts: 0\n", "retry.max_attempts", 2, "greater than or equal"),
    ],
)  # fmt: skip
def test_errors_name_path_and_line(yaml_text: str, path: str, line: int, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_adapter_config(yaml_text)
    problems = {problem.path: problem for problem in caught.value.problems}
    assert path in problems, caught.value
    assert problems[path].line == line
    assert message in problems[path].message


def test_unset_secret_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_SECRET_XYZ", raising=False)
    text = "outputs:\n  hook:\n    type: webhook\n    url: http://x\n    secret: ${NO_SUCH_SECRET_XYZ}\n"
    with pytest.raises(ConfigError, match="NO_SUCH_SECRET_XYZ is not set"):
        parse_adapter_config(text)


def test_tokens_file_merges_with_operators(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("# comment\nfile-token-0123456 bob smith\n\n")
    config = parse_adapter_config(
        f"api:\n  operators:\n    alice: alice-token-0123\n  tokens_file: {tokens}\n"
    )
    assert config.api.operator_tokens() == {
        "alice-token-0123": "alice",
        "file-token-0123456": "bob smith",
    }


def test_short_operator_token_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"api\.operators\.alice"):
        parse_adapter_config("api:\n  operators:\n    alice: short\n")


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")


def test_catalog_survives_missing_and_broken_plugins(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    package = tmp_path / "fakeplugins"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "broken.py").write_text("import a_module_that_does_not_exist_anywhere\n")
    (package / "good.py").write_text(
        "from tests.broker.test_config import _Settings\n"
        "def register(registry):\n"
        "    registry.register('good', _Settings, lambda config, name, context: None)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = OutputRegistry()
    load_catalog(
        registry,
        ("fakeplugins.missing", "fakeplugins.broken", "fakeplugins.good", "broker.outputs.log"),
    )
    assert registry.types() == ["good", "log"]
    assert "a_module_that_does_not_exist_anywhere" in registry.unavailable["fakeplugins.broken"]
    assert "fakeplugins.missing" in registry.unavailable


def test_registering_a_type_twice_is_an_error() -> None:
    registry = OutputRegistry()
    registry.register("x", _Settings, lambda config, name, context: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="already registered"):
        registry.register("x", _Settings, lambda config, name, context: None)  # type: ignore[arg-type,return-value]
