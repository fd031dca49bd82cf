"""The outbox over TLS with a password, against a real mosquitto TLS listener."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from edge.outbox import BrokerConfig, Outbox, OutboxConfig, TlsConfig
from tests.edge.test_outbox_mqtt import SITE, Subscriber, make_event, wait_until
from tests.support.mosquitto import Mosquitto
from tests.support.tls_broker import MAKE_CA, tls_mosquitto

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[Mosquitto, int, Path]]:
    with tls_mosquitto(tmp_path, "agent1", "right-password") as running:
        yield running


def outbox(tmp_path: Path, port: int, tls: TlsConfig, password: str, agent: str) -> Outbox:
    box = Outbox(
        OutboxConfig(path=tmp_path / f"{agent}.sqlite3"),
        BrokerConfig(
            host="127.0.0.1",
            port=port,
            tls=tls,
            username="agent1",
            password=SecretStr(password),
            reconnect_min_s=0.1,
            reconnect_max_s=0.5,
        ),
        site=SITE,
        agent=agent,
    )
    box.start()
    return box


def test_events_flow_over_tls_with_a_password(
    tmp_path: Path, tls_broker: tuple[Mosquitto, int, Path]
) -> None:
    broker, tls_port, pki = tls_broker
    sub = Subscriber(broker.port, f"streetsense/v1/{SITE}/tls/events/#", "sub-tls")
    box = outbox(tmp_path, tls_port, TlsConfig(ca_file=pki / "ca.crt"), "right-password", "tls")
    try:
        for n in range(5):
            assert box.submit(make_event(n))
        wait_until(lambda: len(sub.unique_ids()) == 5, 20, "events over TLS")
        assert box.connected
    finally:
        box.stop()
        sub.close()


# paho 2.2 does not close the TLS socket when the handshake fails; CPython closes it
# on deallocation right away, with a ResourceWarning that pytest turns into an error.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize(
    ("case", "expected"),
    [("unknown CA", "certificate verify failed"), ("wrong password", "refused")],
)
def test_untrusted_broker_or_wrong_password_never_connects(
    tmp_path: Path, tls_broker: tuple[Mosquitto, int, Path], case: str, expected: str
) -> None:
    _, tls_port, pki = tls_broker
    if case == "unknown CA":
        other = tmp_path / "other-pki"
        subprocess.run([MAKE_CA, other], check=True, capture_output=True)
        tls, password = TlsConfig(ca_file=other / "ca.crt"), "right-password"
    else:
        tls, password = TlsConfig(ca_file=pki / "ca.crt"), "wrong-password"
    box = outbox(tmp_path, tls_port, tls, password, "bad")
    try:
        box.submit(make_event(1))
        wait_until(lambda: expected in box.publisher.last_error, 20, f"the {case} error")
        assert not box.connected
        assert box.backlog() == 1  # kept on disk until a connection is possible
    finally:
        box.stop()
