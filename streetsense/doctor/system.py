"""Checks of the box itself: CPU features, execution providers, clock, spool disk."""

from __future__ import annotations

import os
import shutil
import socket
import struct
import tempfile
import time
from pathlib import Path

from streetsense.doctor.checks import CheckResult, Status

NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01
USEFUL_CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "fma", "sse4_2", "neon", "asimd")


def cpu_features(cpuinfo: Path = Path("/proc/cpuinfo")) -> CheckResult:
    """Report the SIMD features onnxruntime and FFmpeg use; warn when AVX2/NEON is absent."""
    try:
        text = cpuinfo.read_text(encoding="utf-8")
    except OSError as exc:
        return CheckResult("cpu features", Status.WARN, f"cannot read {cpuinfo}: {exc}")
    flags: set[str] = set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            flags.update(line.split(":", 1)[1].split())
    found = [flag for flag in USEFUL_CPU_FLAGS if flag in flags]
    detail = f"{os.cpu_count()} cores; " + (", ".join(found) or "no SIMD extensions found")
    if not {"avx2", "neon", "asimd"} & flags:
        return CheckResult(
            "cpu features",
            Status.WARN,
            detail,
            "inference will be slow without AVX2/NEON: lower analysis_fps or use a newer box",
        )
    return CheckResult("cpu features", Status.OK, detail)


def execution_providers(wanted: list[str]) -> CheckResult:
    """List onnxruntime's providers and say whether the configured preference is available."""
    try:
        import onnxruntime
    except ImportError as exc:
        return CheckResult(
            "execution providers",
            Status.FAIL,
            f"onnxruntime missing: {exc}",
            "pip install 'streetsense[edge]'",
        )
    available = list(onnxruntime.get_available_providers())
    detail = "available: " + ", ".join(available)
    missing = [name for name in wanted if name not in available]
    if wanted and len(missing) == len(wanted):
        return CheckResult(
            "execution providers",
            Status.WARN,
            f"{detail}; none of the configured {wanted} (falls back to CPU)",
            "install onnxruntime-gpu / onnxruntime-openvino, or configure providers: [cpu]",
        )
    return CheckResult("execution providers", Status.OK, detail)


def sntp_offset(server: str, port: int = 123, timeout: float = 2.0) -> float:
    """Clock offset in seconds against an (S)NTP server (RFC 4330), positive = we are behind."""
    request = b"\x1b" + 47 * b"\0"  # LI=0, VN=3, mode=3 (client)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sent = time.time()
        sock.sendto(request, (server, port))
        data, _ = sock.recvfrom(512)
        received = time.time()
    if len(data) < 48:
        raise ValueError(f"short NTP answer ({len(data)} bytes)")
    fields: tuple[int, int, int, int] = struct.unpack("!4I", data[32:48])
    receive_s, receive_f, transmit_s, transmit_f = fields
    server_receive = receive_s - NTP_EPOCH_OFFSET + receive_f / 2**32
    server_transmit = transmit_s - NTP_EPOCH_OFFSET + transmit_f / 2**32
    offset: float = ((server_receive - sent) + (server_transmit - received)) / 2
    return offset


def clock_offset(server: str, port: int = 123, max_offset: float = 1.0) -> CheckResult:
    """Event timestamps and DC-09's +20/-40 s window need a synchronised clock."""
    try:
        offset = sntp_offset(server, port)
    except (OSError, ValueError) as exc:
        return CheckResult(
            "clock offset",
            Status.WARN,
            f"cannot query NTP server {server}:{port}: {exc}",
            "allow UDP 123 to the NTP server, or set doctor.ntp_server to a reachable one",
        )
    detail = f"{offset * 1000:+.0f} ms against {server}"
    if abs(offset) > max_offset:
        return CheckResult(
            "clock offset",
            Status.FAIL,
            detail,
            "enable time sync (systemd-timesyncd or chrony) and check the NTP server",
        )
    return CheckResult("clock offset", Status.OK, detail)


def spool(directory: Path, min_free_bytes: int = 512 * 1024 * 1024) -> CheckResult:
    """The outbox spool directory must exist, be writable, and have room for an outage."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".doctor-") as handle:
            handle.write(b"ok")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        return CheckResult(
            "spool",
            Status.FAIL,
            f"{directory} is not writable: {exc}",
            f"chown streetsense {directory} (the systemd unit grants /var/lib/streetsense)",
        )
    free = shutil.disk_usage(directory).free
    detail = f"{directory} writable, {free / 2**30:.1f} GiB free"
    if free < min_free_bytes:
        return CheckResult(
            "spool", Status.FAIL, detail, "free disk space: the outbox needs room during outages"
        )
    return CheckResult("spool", Status.OK, detail)
