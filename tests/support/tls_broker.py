"""A real mosquitto with a TLS listener (certificates from deploy/make-dev-ca) and a password."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.mosquitto import Mosquitto, free_port

MAKE_CA = Path(__file__).resolve().parents[2] / "deploy" / "make-dev-ca"


@contextmanager
def tls_mosquitto(workdir: Path, user: str, password: str) -> Iterator[tuple[Mosquitto, int, Path]]:
    """Yield (broker, TLS port, PKI dir with ca.crt); ``user``/``password`` may connect."""
    pki = workdir / "pki"
    subprocess.run([MAKE_CA, pki, "localhost", "127.0.0.1"], check=True, capture_output=True)
    passwords = workdir / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", passwords, user, password], check=True)
    passwords.chmod(0o600)
    tls_port = free_port()
    broker = Mosquitto(
        workdir / "mq",
        extra_config="\n".join(
            [
                f"password_file {passwords}",
                f"listener {tls_port} 127.0.0.1",
                f"cafile {pki / 'ca.crt'}",
                f"certfile {pki / 'server.crt'}",
                f"keyfile {pki / 'server.key'}",
            ]
        ),
    )
    broker.start()
    try:
        yield broker, tls_port, pki
    finally:
        broker.kill()
