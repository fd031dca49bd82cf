"""The doctor's individual checks, against real peers: mosquitto, a video file, an SNTP server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from streetsense.doctor import system, targets
from streetsense.doctor.checks import CheckResult, Status, render_table
from tests.conftest import ROOT
from tests.support.mosquitto import Mosquitto, free_port
from tests.support.sntp import SntpServer
from tests.support.tiny_model import build_tiny_model

DEMO_MEDIA = ROOT / "streetsense" / "media" / "street-demo.mp4"


def test_cpu_features_read_from_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor : 0\nflags : fpu sse4_2 avx2 fma\n")
    result = system.cpu_features(cpuinfo)
    assert result.status is Status.OK
    assert "avx2" in result.detail and "fma" in result.detail
    cpuinfo.write_text("processor : 0\nflags : fpu sse2\n")
    weak = system.cpu_features(cpuinfo)
    assert weak.status is Status.WARN and "AVX2" in weak.fix


def test_execution_providers_fall_back_to_cpu() -> None:
    assert system.execution_providers(["CPUExecutionProvider"]).status is Status.OK
    missing = system.execution_providers(["TensorrtExecutionProvider"])
    assert missing.status is Status.WARN
    assert "CPUExecutionProvider" in missing.detail


@pytest.mark.parametrize(("offset", "status"), [(0.0, Status.OK), (5.0, Status.FAIL)])
def test_clock_offset_against_a_real_sntp_server(offset: float, status: Status) -> None:
    with SntpServer(offset) as server:
        result = system.clock_offset("127.0.0.1", server.port, max_offset=1.0)
        measured = system.sntp_offset("127.0.0.1", server.port)
    assert result.status is status
    assert measured == pytest.approx(offset, abs=0.2)


def test_clock_offset_unreachable_server_is_a_warning() -> None:
    result = system.clock_offset("127.0.0.1", free_port())
    assert result.status is Status.WARN


def test_spool_writable_and_unwritable(tmp_path: Path) -> None:
    assert system.spool(tmp_path / "spool").status is Status.OK
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    result = system.spool(blocked / "spool")
    assert result.status is Status.FAIL and result.fix
    assert system.spool(tmp_path, min_free_bytes=1 << 60).status is Status.FAIL


def test_model_check_detects_checksum_mismatch(tmp_path: Path) -> None:
    card = build_tiny_model(tmp_path / "model")
    assert targets.model(card).status is Status.OK
    frame_model = tmp_path / "model" / "frame.onnx"
    frame_model.write_bytes(frame_model.read_bytes() + b"\0")
    broken = targets.model(card)
    assert broken.status is Status.FAIL and "checksum" in broken.detail
    frame_model.unlink()
    assert "missing" in targets.model(card).detail


def test_camera_check_reads_resolution_and_fps() -> None:
    result = targets.camera("demo", str(DEMO_MEDIA))
    assert result.status is Status.OK
    assert "640x480" in result.detail


def test_camera_check_fails_on_unreachable_stream() -> None:
    result = targets.camera("gone", f"rtsp://127.0.0.1:{free_port()}/none", timeout=5)
    assert result.status is Status.FAIL and result.fix


def test_broker_check_against_real_mosquitto(mosquitto: Mosquitto) -> None:
    ok = targets.broker(targets.BrokerTarget("127.0.0.1", mosquitto.port))
    assert ok.status is Status.OK
    down = targets.broker(targets.BrokerTarget("127.0.0.1", free_port()))
    assert down.status is Status.FAIL and down.fix


def test_table_lists_fixes_for_failures() -> None:
    text = render_table(
        [
            CheckResult("config", Status.OK, "valid"),
            CheckResult("broker", Status.FAIL, "refused", "issue credentials"),
        ]
    )
    assert "fix: issue credentials" in text
    assert "2 checks: 1 failed, 0 warnings" in text
    assert os.linesep in text or "\n" in text


def test_doctor_end_to_end_on_an_agent_config(
    tmp_path: Path,
    mosquitto: Mosquitto,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from streetsense.cli import main

    card = build_tiny_model(tmp_path / "model")
    config = tmp_path / "agent.yaml"
    config.write_text(
        f"""
site: s1
agent: a1
broker: {{host: 127.0.0.1, port: {mosquitto.port}}}
outbox: {{path: {tmp_path}/spool/outbox.sqlite3}}
model: {{card: {card}}}
cameras:
  - {{name: demo, url: {DEMO_MEDIA}}}
"""
    )
    with SntpServer(0.0) as ntp:
        monkeypatch.setenv("STREETSENSE_NTP_SERVER", f"127.0.0.1:{ntp.port}")
        assert main(["doctor", "--config", str(config)]) == 0
    table = capsys.readouterr().out
    for check in ("config", "model", "camera demo", "broker", "spool", "clock offset"):
        assert check in table
    assert "0 failed" in table

    mosquitto.kill()
    assert main(["doctor", "--config", str(config)]) == 1
    assert "fix:" in capsys.readouterr().out


def test_doctor_reports_a_broken_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from streetsense.cli import main

    config = tmp_path / "agent.yaml"
    config.write_text("site: s1\nagent: a1\ncamras: []\n")
    assert main(["doctor", "--config", str(config)]) == 1
    assert "camras (line 3)" in capsys.readouterr().out
