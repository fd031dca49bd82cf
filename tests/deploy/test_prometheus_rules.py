"""Alert rules pass promtool's checker and their unit tests."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import ROOT

PROMETHEUS_DIR = ROOT / "config" / "prometheus"
PROMTOOL = shutil.which("promtool")


@pytest.fixture
def promtool() -> str:
    if PROMTOOL is None:
        pytest.fail("promtool is missing: run scripts/system-deps.sh (Debian package prometheus)")
    return PROMTOOL


def test_rules_are_valid(promtool: str) -> None:
    result = subprocess.run(
        [promtool, "check", "rules", PROMETHEUS_DIR / "streetsense.rules.yml"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "12 rules found" in result.stdout


def test_rule_unit_tests_pass(promtool: str) -> None:
    result = subprocess.run(
        [promtool, "test", "rules", "streetsense.rules.test.yml"],
        cwd=PROMETHEUS_DIR / "tests",
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_scrape_config_is_valid(promtool: str, tmp_path: object) -> None:
    result = subprocess.run(
        [promtool, "check", "config", "--syntax-only", PROMETHEUS_DIR / "prometheus.yml"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
