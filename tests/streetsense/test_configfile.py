"""YAML config loading: path-and-line errors, unknown keys, env secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field

from streetsense.configfile import ConfigError, load_config, parse_config


class Camera(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    url: str
    fps: float = Field(5.0, gt=0)


class Sample(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site: str
    password: str = ""
    cameras: list[Camera] = []


def test_valid_config_loads() -> None:
    config = parse_config("site: s1\ncameras:\n  - name: a\n    url: rtsp://x\n", Sample)
    assert config.cameras[0].url == "rtsp://x"


def test_error_names_yaml_path_and_line() -> None:
    text = "site: s1\ncameras:\n  - name: a\n    url: rtsp://x\n    fps: -1\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, Sample)
    (problem,) = caught.value.problems
    assert problem.path == "cameras[0].fps"
    assert problem.line == 5
    assert "cameras[0].fps (line 5)" in str(caught.value)


def test_unknown_keys_are_rejected_with_their_line() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("site: s1\ncamras: []\n", Sample)
    (problem,) = caught.value.problems
    assert problem.path == "camras"
    assert problem.line == 2


def test_missing_required_field_reported() -> None:
    with pytest.raises(ConfigError, match="site"):
        parse_config("cameras: []\n", Sample)


def test_broken_yaml_reports_line() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("site: s1\ncameras: [\n  {name: a\n", Sample)
    assert caught.value.problems[0].line is not None


def test_secrets_come_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SS_TEST_SECRET", "hunter2")
    config = parse_config("site: s1\npassword: ${SS_TEST_SECRET}\n", Sample)
    assert config.password == "hunter2"
    assert parse_config("site: s1\npassword: ${SS_UNSET_X:-dflt}\n", Sample).password == "dflt"


def test_unset_secret_is_an_error_naming_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SS_TEST_UNSET", raising=False)
    with pytest.raises(ConfigError) as caught:
        parse_config("site: s1\npassword: ${SS_TEST_UNSET}\n", Sample)
    (problem,) = caught.value.problems
    assert (problem.path, problem.line) == ("password", 2)
    assert "SS_TEST_UNSET" in problem.message


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="No such file"):
        load_config(tmp_path / "absent.yaml", Sample)


def test_top_level_must_be_mapping() -> None:
    with pytest.raises(ConfigError, match="expected a mapping"):
        parse_config("- a\n- b\n", Sample)
