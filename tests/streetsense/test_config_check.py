"""``streetsense config check``: agent and adapter configs, OK or every problem with its line."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from streetsense.cli import main
from streetsense.config_check import check_config_file, detect_kind

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("name", "kind"), [("agent.example.yaml", "agent"), ("adapter.example.yaml", "adapter")]
)
def test_examples_pass(name: str, kind: str) -> None:
    path = ROOT / "config" / name
    assert detect_kind(path) == kind
    out = io.StringIO()
    assert check_config_file(path, out) == 0
    assert out.getvalue().strip().endswith(f"OK ({kind} config)")


def test_agent_problems_are_listed_with_lines(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text("site: s\nagent: a\ncamras: []\nbroker:\n  port: -1\n", encoding="utf-8")
    out = io.StringIO()
    assert check_config_file(path, out) == 1
    text = out.getvalue()
    assert "2 problems (agent config)" in text
    assert "line 3: camras:" in text
    assert "line 5: broker.port:" in text


def test_adapter_problems_are_detected_as_adapter(tmp_path: Path) -> None:
    path = tmp_path / "adapter.yaml"
    path.write_text("mqtt:\n  port: 1883\noutputs: {}\nroutes: []\nbogus: 1\n", encoding="utf-8")
    out = io.StringIO()
    assert check_config_file(path, out) == 1
    assert "(adapter config)" in out.getvalue() and "line 5: bogus" in out.getvalue()


def test_broken_yaml_and_missing_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("site: s\nagent: [\n", encoding="utf-8")
    out = io.StringIO()
    assert check_config_file(broken, out) == 1
    assert "(yaml)" in out.getvalue()
    out = io.StringIO()
    assert check_config_file(tmp_path / "absent.yaml", out) == 1
    assert "(file)" in out.getvalue()


def test_cli_entry_point(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", str(ROOT / "config" / "agent.example.yaml")]) == 0
    assert "OK" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("site: s\n", encoding="utf-8")
    assert main(["config", "check", str(bad)]) == 1
    assert "agent" in capsys.readouterr().out
