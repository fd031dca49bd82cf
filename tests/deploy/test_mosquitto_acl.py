"""The shipped mosquitto config, for real: TLS, per-agent credentials and topic ACLs."""

from __future__ import annotations

import getpass
import queue
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from tests.conftest import ROOT
from tests.support.mosquitto import MOSQUITTO, free_port, wait_for_port

DEPLOY = ROOT / "deploy"
CONFIG = ROOT / "config" / "mosquitto"


class Site:
    """A mosquitto running the shipped config with TLS, passwords and the ACL."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.tls = tmp / "tls"
        subprocess.run([DEPLOY / "make-dev-ca", self.tls, "localhost", "127.0.0.1"], check=True)
        self.passwd = tmp / "passwd"
        self.acl = tmp / "acl"
        self.acl.write_text((CONFIG / "acl.base").read_text())
        self.passwords = {
            "s1.a1": self.issue("s1", "a1"),
            "s1.a2": self.issue("s1", "a2"),
        }
        self.passwords["streetsense-adapter"] = "adapter-secret"
        subprocess.run(
            ["mosquitto_passwd", "-b", self.passwd, "streetsense-adapter", "adapter-secret"],
            check=True,
        )
        conf = (CONFIG / "mosquitto.conf").read_text()
        conf = conf.replace("/etc/mosquitto/streetsense/tls", str(self.tls))
        conf = conf.replace("/etc/mosquitto/streetsense/passwd", str(self.passwd))
        conf = conf.replace("/etc/mosquitto/streetsense/acl", str(self.acl))
        conf = conf.replace("/var/lib/mosquitto/", f"{tmp}/")
        conf = conf.replace("listener 8883", f"listener {self.port} 127.0.0.1")
        conf = conf.replace("log_dest syslog", f"log_dest file {tmp}/mosquitto.log")
        # mosquitto started as root drops to user "mosquitto", who cannot read tmp files.
        conf += f"\nuser {getpass.getuser()}\n"
        (tmp / "mosquitto.conf").write_text(conf)
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(tmp / "mosquitto.conf")])
        try:
            wait_for_port(self.port)
        except TimeoutError:
            self.stop()
            raise

    def issue(self, site: str, agent: str) -> str:
        result = subprocess.run(
            [DEPLOY / "issue-agent-credentials", site, agent, self.passwd, self.acl],
            check=True,
            capture_output=True,
            text=True,
        )
        return result.stdout.strip().splitlines()[-1]

    def client(self, user: str, password: str | None = None) -> tuple[mqtt.Client, queue.Queue]:
        """A connected MQTT v5 client over TLS; its inbox receives (topic, payload)."""
        inbox: queue.Queue = queue.Queue()
        connected: queue.Queue = queue.Queue()
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"test-{user}", protocol=mqtt.MQTTv5
        )
        client.username_pw_set(user, password if password is not None else self.passwords[user])
        client.tls_set(ca_certs=str(self.tls / "ca.crt"), cert_reqs=ssl.CERT_REQUIRED)
        client.on_connect = lambda c, u, f, rc, p: connected.put(rc)
        client.on_message = lambda c, u, m: inbox.put((m.topic, m.payload))
        client.connect("localhost", self.port)
        client.loop_start()
        rc = connected.get(timeout=10)
        if rc.is_failure:
            client.loop_stop()
            raise ConnectionRefusedError(str(rc))
        return client, inbox

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    running = Site(tmp_path)
    try:
        yield running
    finally:
        running.stop()


def publish_reason(client: mqtt.Client, topic: str) -> ReasonCode:
    """Publish at QoS 1 and return the broker's PUBACK reason code."""
    acks: queue.Queue = queue.Queue()
    client.on_publish = lambda c, u, mid, rc, p: acks.put(rc)
    info = client.publish(topic, b"{}", qos=1)
    info.wait_for_publish(timeout=10)
    reason: ReasonCode = acks.get(timeout=10)
    return reason


def subscribe_reason(client: mqtt.Client, topic: str) -> ReasonCode:
    granted: queue.Queue = queue.Queue()
    client.on_subscribe = lambda c, u, mid, rcs, p: granted.put(rcs[0])
    client.subscribe(topic, qos=1)
    reason: ReasonCode = granted.get(timeout=10)
    return reason


def test_agent_publishes_only_under_its_own_prefix(site: Site) -> None:
    adapter, adapter_inbox = site.client("streetsense-adapter")
    assert not subscribe_reason(adapter, "streetsense/v1/+/+/events/#").is_failure
    agent, _ = site.client("s1.a1")

    own = "streetsense/v1/s1/a1/events/fight"
    assert not publish_reason(agent, own).is_failure
    assert adapter_inbox.get(timeout=10)[0] == own

    foreign = "streetsense/v1/s1/a2/events/fight"
    refused = publish_reason(agent, foreign)
    assert refused.is_failure
    assert refused.getName() == "Not authorized"
    with pytest.raises(queue.Empty):
        adapter_inbox.get(timeout=1.5)
    for client in (adapter, agent):
        client.disconnect()
        client.loop_stop()


def test_agent_reads_only_its_own_acks(site: Site) -> None:
    # mosquitto grants any subscription but delivers only what the ACL lets a user read.
    agent, agent_inbox = site.client("s1.a1")
    subscribe_reason(agent, "streetsense/v1/#")
    adapter, _ = site.client("streetsense-adapter")
    assert not publish_reason(adapter, "streetsense/v1/s1/a2/acks").is_failure
    assert not publish_reason(adapter, "streetsense/v1/s1/a1/acks").is_failure
    assert agent_inbox.get(timeout=10)[0] == "streetsense/v1/s1/a1/acks"
    with pytest.raises(queue.Empty):
        agent_inbox.get(timeout=1.5)
    for client in (adapter, agent):
        client.disconnect()
        client.loop_stop()


def test_wrong_password_is_refused(site: Site) -> None:
    with pytest.raises(ConnectionRefusedError):
        site.client("s1.a1", password="wrong")


def test_rotating_credentials_replaces_the_acl_block(site: Site) -> None:
    site.issue("s1", "a1")
    blocks = [line for line in site.acl.read_text().splitlines() if line == "user s1.a1"]
    assert blocks == ["user s1.a1"]
