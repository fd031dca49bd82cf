"""Container, compose and systemd files: parsed, consistent, and pointing at files that exist.

Docker does not run on the CI box, so these checks keep the files honest instead.
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
GENERATED_AT_SETUP = {"secrets"}  # made by make-dev-ca / issue-agent-credentials, never committed


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def dockerfile_facts(path: Path) -> tuple[list[str], set[int], str]:
    """COPY sources (build context = repo root), EXPOSEd ports, and the CMD line."""
    text = path.read_text()
    sources = []
    for line in text.splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            sources.extend(line.split()[1:-1])
    ports = {int(p) for p in re.findall(r"^EXPOSE (\d+)", text, flags=re.MULTILINE)}
    cmd = re.search(r"^CMD (.*)$", text, flags=re.MULTILINE)
    assert cmd is not None
    return sources, ports, cmd.group(1)


@pytest.mark.parametrize("service", ["agent", "adapter"])
def test_dockerfiles_copy_files_that_exist_and_expose_the_compose_port(service: str) -> None:
    spec = compose()["services"][service]
    dockerfile = (DEPLOY / spec["build"]["context"] / spec["build"]["dockerfile"]).resolve()
    assert dockerfile.is_file()
    sources, exposed, _ = dockerfile_facts(dockerfile)
    for source in sources:
        assert (ROOT / source).exists(), f"{dockerfile.name} copies missing {source}"
    published = {int(mapping.split(":")[1]) for mapping in spec["ports"]}
    assert published == exposed


def test_compose_volumes_reference_existing_files() -> None:
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith("."):
                continue  # a named volume
            relative = Path(source)
            if relative.parts[0] in GENERATED_AT_SETUP or relative.parts[:2] == ("secrets",):
                continue
            assert (DEPLOY / relative).exists(), f"{name} mounts missing {source}"


def test_compose_services_and_prometheus_targets_agree() -> None:
    services = compose()["services"]
    assert {"mosquitto", "adapter", "agent", "prometheus", "grafana"} <= set(services)
    prometheus = yaml.safe_load((ROOT / "config" / "prometheus" / "prometheus.yml").read_text())
    targets = {
        target
        for job in prometheus["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    for target in targets:
        host, port = target.split(":")
        assert host in services, f"prometheus scrapes unknown service {host}"
        container_ports = {int(m.split(":")[1]) for m in services[host]["ports"]}
        assert int(port) in container_ports
    assert "8883:8883" in services["mosquitto"]["ports"]


def test_compose_mosquitto_paths_match_the_shipped_config() -> None:
    config = (ROOT / "config" / "mosquitto" / "mosquitto.conf").read_text()
    mounts = {v.split(":")[1] for v in compose()["services"]["mosquitto"]["volumes"]}
    for needed in re.findall(r"^(?:password_file|acl_file) (\S+)", config, flags=re.MULTILINE):
        assert needed in mounts
    for needed in re.findall(r"^(?:cafile|certfile|keyfile) (\S+)", config, flags=re.MULTILINE):
        assert str(Path(needed).parent) in mounts


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((DEPLOY / "systemd" / name).read_text())
    return parser


@pytest.mark.parametrize(
    ("name", "subcommand"),
    [("streetsense-agent.service", "edge run"), ("streetsense-adapter.service", "broker run")],
)
def test_systemd_units_are_hardened(name: str, subcommand: str) -> None:
    service = unit(name)["Service"]
    assert service["User"] == "streetsense"
    assert service["ProtectSystem"] == "strict"
    assert service["PrivateTmp"] == "true"
    assert service["NoNewPrivileges"] == "true"
    assert service["Restart"] == "always"
    assert service["Type"] == "notify" and int(service["WatchdogSec"]) > 0
    assert service["ReadWritePaths"] == "/var/lib/streetsense"
    assert service["ExecStart"].startswith("/opt/streetsense/venv/bin/streetsense " + subcommand)
    config_path = service["ExecStart"].split("--config ")[1]
    assert config_path.startswith("/etc/streetsense/")


def test_install_script_uses_the_unit_layout() -> None:
    script = (DEPLOY / "install.sh").read_text()
    assert "/opt/streetsense" in script and "/etc/streetsense" in script
    assert "/var/lib/streetsense" in script
    for name in ("streetsense-agent.service", "streetsense-adapter.service"):
        assert (DEPLOY / "systemd" / name).is_file()
