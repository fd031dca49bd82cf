"""``streetsense edge run --config FILE``: run one agent until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from edge.outbox.errors import OutboxError
from streetsense.configfile import ConfigError
from streetsense.systemd import Notifier

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2


def run_agent(config_path: Path) -> int:
    """Load the config, run the agent, stop cleanly on a signal; return the exit status."""
    from edge.agent import Agent
    from edge.config import load_agent_config

    try:
        config = load_agent_config(config_path)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_CONFIG
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logger.info("received %s; stopping", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        try:
            agent = Agent(config)
        except OutboxError as exc:
            logger.error("agent cannot start: %s", exc)  # noqa: TRY400 - a clear message is enough
            return EXIT_FAILED
        try:
            agent.start()
        except OSError as exc:  # e.g. the API port is taken
            logger.error("agent cannot start: %s", exc)  # noqa: TRY400 - a clear message is enough
            agent.stop()
            return EXIT_FAILED
        notifier = Notifier()
        notifier.ready(f"{len(config.cameras)} camera(s)")
        notifier.start_watchdog(lambda: agent.health().alive)
        try:
            stop.wait()
        finally:
            notifier.stopping()
            notifier.close()
            agent.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return EXIT_OK
