"""Run every doctor check for an agent config and print the table."""

from __future__ import annotations

import os
from pathlib import Path

from streetsense.configfile import ConfigError
from streetsense.doctor import system, targets
from streetsense.doctor.checks import CheckResult, Status, render_table

DEFAULT_NTP_SERVER = "pool.ntp.org"


def collect(config_path: Path) -> list[CheckResult]:
    """All check results for the agent config at ``config_path`` (config errors included)."""
    from edge.config import load_agent_config
    from edge.inference.providers import ORT_PROVIDERS

    try:
        config = load_agent_config(config_path)
    except ConfigError as exc:
        problems = "; ".join(str(problem) for problem in exc.problems)
        return [
            CheckResult(
                "config",
                Status.FAIL,
                problems,
                f"edit {config_path}; `streetsense config check {config_path}` lists every problem",
            )
        ]
    results = [CheckResult("config", Status.OK, f"{config_path} valid")]
    card = config.model.card
    if not card.is_absolute():
        card = (Path.cwd() / card).resolve()
    results.append(targets.model(card))
    results.extend(targets.camera(camera.name, camera.url) for camera in config.cameras)
    broker = config.broker
    tls = broker.tls
    results.append(
        targets.broker(
            targets.BrokerTarget(
                host=broker.host,
                port=broker.port,
                username=broker.username,
                password=broker.password.get_secret_value() if broker.password else None,
                tls=tls is not None,
                ca_file=tls.ca_file if tls else None,
                cert_file=tls.cert_file if tls else None,
                key_file=tls.key_file if tls else None,
            )
        )
    )
    results.append(system.spool(config.outbox.path.parent))
    ntp = os.environ.get("STREETSENSE_NTP_SERVER", DEFAULT_NTP_SERVER)
    host, _, port = ntp.partition(":")
    results.append(system.clock_offset(host, int(port or 123)))
    results.append(system.cpu_features())
    results.append(system.execution_providers([ORT_PROVIDERS[k] for k in config.model.providers]))
    return results


def run_doctor(config_path: Path) -> int:
    """Print the doctor's table; exit code 1 when any check failed."""
    results = collect(config_path)
    print(render_table(results))
    return 1 if any(result.status is Status.FAIL for result in results) else 0
