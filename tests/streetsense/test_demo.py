"""The README's first command, for real: broker, adapter, DC-09 receiving centre, agent, lamppost."""

from __future__ import annotations

from pathlib import Path

import pytest

from streetsense.demo import run_demo
from tests.support.tiny_model import build_tiny_model


def test_demo_runs_the_whole_loop(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    card = build_tiny_model(tmp_path / "model", frames=4, size=32, sample_fps=4.0)
    assert run_demo(duration=26, quiet=True, card=card) == 0
    out = capsys.readouterr().out
    assert "START  loud_noise" in out
    assert "START  emergency_call" in out
    assert "ARC  DC-09 SIA-DCS" in out and "PA   -> ACK" in out
    assert "AGENT received operator confirm" in out
    assert "AGENT received operator dismiss" in out
    assert "audit log hash chain: verified" in out
    assert "operator actions delivered back to the agent: 2" in out


def test_demo_without_a_model_says_how_to_build_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_demo(duration=1, quiet=True, card=tmp_path / "absent.yaml") == 2
    assert "make model" in capsys.readouterr().out
