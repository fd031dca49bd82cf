"""The ``snmp`` output against a real Net-SNMP snmptrapd: v2c/v3, traps and informs, outages."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.config import parse_adapter_config
from broker.outputs.base import Outcome
from broker.outputs.catalog import load_catalog
from broker.outputs.registry import OutputRegistry
from broker.protocols.snmp.config import SnmpOutputConfig
from broker.protocols.snmp.transport import SnmpNotifier
from events import ModelRef, Phase, Severity
from streetsense.configfile import ConfigError
from tests.broker.helpers import eventually, make_event, sample

ROOT = Path(__file__).resolve().parents[3]
MIB_DIR = ROOT / "config" / "snmp"
ENGINE_ID = "80001f8880c0ffee0001"
USER, AUTH_KEY, PRIV_KEY = "streetsense", "auth-secret-1", "priv-secret-1"
BASE = ".1.3.6.1.4.1.32473.1"


def udp_free_port() -> int:
    """A UDP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class SnmpTrapd:
    """Debian's snmptrapd in the foreground on its own UDP port, logging to a file."""

    def __init__(self, workdir: Path, port: int, *, with_mib: bool = False) -> None:
        self.workdir = workdir
        self.port = port
        self.with_mib = with_mib
        self.log = workdir / "trapd.log"
        self.process: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "snmptrapd.conf").write_text(
            "authCommunity log public\n"
            f"createUser -e 0x{ENGINE_ID} {USER} SHA {AUTH_KEY} AES {PRIV_KEY}\n"
            f"createUser {USER} SHA {AUTH_KEY} AES {PRIV_KEY}\n"
            f"authUser log {USER} priv\n"
        )

    def start(self) -> None:
        mibs = ["-m", "STREETSENSE-MIB", "-M", f"+{MIB_DIR}"] if self.with_mib else ["-On"]
        argv = ["snmptrapd", "-f", "-Lf", str(self.log), "-n", "-C",
                "-c", str(self.workdir / "snmptrapd.conf"), *mibs, f"udp:127.0.0.1:{self.port}"]  # fmt: skip
        env = {**os.environ, "SNMP_PERSISTENT_DIR": str(self.workdir / "persist"), "MIBS": ""}
        self.process = subprocess.Popen(
            argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 20
        while "NET-SNMP version" not in self.text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"snmptrapd did not start: {self.text()[-500:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def notifications(self) -> int:
        return self.text().count("32473.1.0.") + self.text().count("STREETSENSE-MIB::ssAlert")


@pytest.fixture
def trapd(tmp_path: Path) -> Iterator[SnmpTrapd]:
    server = SnmpTrapd(tmp_path / "trapd", udp_free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _config(port: int, **overrides: object) -> SnmpOutputConfig:
    return SnmpOutputConfig.model_validate(
        {"host": "127.0.0.1", "port": port, "timeout_s": 1.0, "retries": 1, **overrides}
    )


V3 = {"user": USER, "auth_key": AUTH_KEY, "priv_key": PRIV_KEY}


@pytest.mark.parametrize(
    "settings",
    [
        {"version": "v2c", "mode": "trap"},
        {"version": "v2c", "mode": "inform"},
        {"version": "v3", "mode": "inform", "v3": V3},
        {"version": "v3", "mode": "trap", "v3": V3, "engine_id": ENGINE_ID},
    ],
    ids=["v2c-trap", "v2c-inform", "v3-authpriv-inform", "v3-authpriv-trap"],
)
async def test_snmptrapd_logs_our_varbinds(
    trapd: SnmpTrapd, settings: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pysnmp keeps a fixed engine id's boot counter under the temp dir: keep it in ours
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    output = SnmpNotifier(_config(trapd.port, **settings), f"snmp-{settings['mode']}")
    event = make_event(
        phase=Phase.UPDATE, severity=Severity.CRITICAL, confidence=0.873, category="fight",
        summary="two people fighting", model=ModelRef(name="fight", version="1.2"),
    )  # fmt: skip
    try:
        result = await output.deliver(event)
    finally:
        await output.close()
    assert result.outcome is Outcome.DELIVERED, result
    await eventually(lambda: event.event_id in trapd.text(), 20, "the notification in the log")
    log = trapd.text()
    expected = [
        f"{BASE}.0.2",  # ssAlertUpdate as snmpTrapOID.0
        f'{BASE}.1.1.0 = STRING: "{event.event_id}"',
        f'{BASE}.1.2.0 = STRING: "{event.incident_id}"',
        f"{BASE}.1.3.0 = INTEGER: 2",
        f'{BASE}.1.4.0 = STRING: "s1"',
        f'{BASE}.1.5.0 = STRING: "a1"',
        f'{BASE}.1.6.0 = STRING: "camera:cam1"',
        f'{BASE}.1.7.0 = STRING: "fight"',
        f"{BASE}.1.8.0 = INTEGER: 5",
        f"{BASE}.1.9.0 = Gauge32: 873",
        f'{BASE}.1.10.0 = STRING: "two people fighting"',
        f'{BASE}.1.11.0 = STRING: "fight/1.2"',
        f"{BASE}.1.13.0 = INTEGER: 1",
    ]
    for item in expected:
        assert item in log, item
    assert re.search(rf'{re.escape(BASE)}\.1\.12\.0 = STRING: "\d{{4}}-\d\d-\d\dT[\d:.]+Z"', log)
    assert output.health().connected


async def test_traps_render_with_the_mib_loaded(tmp_path: Path) -> None:
    server = SnmpTrapd(tmp_path / "mib", udp_free_port(), with_mib=True)
    server.start()
    output = SnmpNotifier(_config(server.port, mode="inform"), "snmp-mib")
    try:
        event = make_event(phase=Phase.START, severity=Severity.HIGH)
        assert (await output.deliver(event)).outcome is Outcome.DELIVERED
        await eventually(lambda: event.event_id in server.text(), 20, "the notification")
    finally:
        await output.close()
        server.stop()
    log = server.text()
    assert "STREETSENSE-MIB::ssAlertStart" in log
    assert 'STREETSENSE-MIB::ssSite.0 = STRING: "s1"' in log
    assert "STREETSENSE-MIB::ssSeverity.0 = INTEGER: high(4)" in log
    assert "STREETSENSE-MIB::ssPhase.0 = INTEGER: start(1)" in log


async def test_wrong_v3_key_is_retry_and_down(trapd: SnmpTrapd) -> None:
    bad = {**V3, "auth_key": "not-the-key"}
    output = SnmpNotifier(_config(trapd.port, version="v3", mode="inform", v3=bad), "snmp-badkey")
    try:
        result = await output.deliver(make_event())
    finally:
        await output.close()
    assert result.outcome is Outcome.RETRY
    assert not output.health().connected and output.health().last_error
    assert trapd.notifications() == 0


async def test_wrong_community_inform_is_not_acknowledged(trapd: SnmpTrapd) -> None:
    output = SnmpNotifier(_config(trapd.port, community="guess", mode="inform"), "snmp-badcomm")
    try:
        result = await output.deliver(make_event())
    finally:
        await output.close()
    assert result.outcome is Outcome.RETRY
    assert trapd.notifications() == 0


@pytest.mark.parametrize("version", ["v2c", "v3"])
async def test_manager_away_is_retry_and_down_then_delivered_when_back(
    tmp_path: Path, version: str
) -> None:
    server = SnmpTrapd(tmp_path / "away", udp_free_port())
    server.start()
    settings: dict[str, object] = {"mode": "inform", "timeout_s": 0.5, "version": version}
    if version == "v3":
        settings["v3"] = V3  # the restarted manager has a new engine boot: pysnmp must resync
    name = f"snmp-away-{version}"
    output = SnmpNotifier(_config(server.port, **settings), name)
    labels = {"output": name, "direction": "in", "kind": "inform_response"}
    try:
        assert (await output.deliver(make_event())).outcome is Outcome.DELIVERED
        assert sample("streetsense_adapter_output_up", {"output": name}) == 1
        server.stop()
        event = make_event()
        result = await output.deliver(event)
        assert result.outcome is Outcome.RETRY
        assert "No SNMP response" in result.detail
        assert not output.health().connected
        assert sample("streetsense_adapter_output_up", {"output": name}) == 0
        before = sample("streetsense_adapter_protocol_messages_total", labels)
        server.start()
        result = await output.deliver(event)
        assert result.outcome is Outcome.DELIVERED, result
        assert output.health().connected
        assert sample("streetsense_adapter_protocol_messages_total", labels) == before + 1
        await eventually(lambda: event.event_id in server.text(), 20, "the redelivery")
    finally:
        await output.close()
        server.stop()


async def test_unresolvable_host_is_retry() -> None:
    output = SnmpNotifier(_config(162, host="no-such-host.invalid"), "snmp-nohost")
    try:
        result = await output.deliver(make_event())
    finally:
        await output.close()
    assert result.outcome is Outcome.RETRY
    assert not output.health().connected


def test_documented_yaml_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNMP_AUTH_KEY", "auth-from-env")
    monkeypatch.setenv("SNMP_PRIV_KEY", "priv-from-env")
    text = (
        "outputs:\n"
        "  nms:\n"
        "    type: snmp\n"
        "    host: nms.city.example\n"
        "    version: v3\n"
        "    mode: trap\n"
        "    v3:\n"
        "      user: streetsense\n"
        "      auth_key: ${SNMP_AUTH_KEY}\n"
        "      priv_key: ${SNMP_PRIV_KEY}\n"
        "    engine_id: 80001f8880c0ffee0001\n"
    )
    settings = parse_adapter_config(text).outputs["nms"].settings
    assert isinstance(settings, SnmpOutputConfig) and settings.v3 is not None
    assert settings.v3.priv_key is not None
    assert settings.v3.priv_key.get_secret_value() == "priv-from-env"
    with pytest.raises(ConfigError) as caught:
        parse_adapter_config(text.replace("    engine_id: 80001f8880c0ffee0001\n", ""))
    assert "engine_id" in str(caught.value)


def test_registered_in_the_catalog() -> None:
    registry = OutputRegistry()
    load_catalog(registry, ("broker.protocols.snmp",))
    config = registry.get("snmp").config_model.model_validate({"host": "nms.example"})
    output = registry.build("snmp", config, "snmp-registry", context=None)  # type: ignore[arg-type]
    assert isinstance(output, SnmpNotifier) and output.name == "snmp-registry"
