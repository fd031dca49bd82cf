"""Checks of what the agent talks to: its model, its cameras, its MQTT broker."""

from __future__ import annotations

import queue
import ssl
import time
from dataclasses import dataclass
from pathlib import Path

from streetsense.doctor.checks import CheckResult, Status


def model(card_path: Path) -> CheckResult:
    """The card validates, every ONNX file exists with the card's checksum, and loads."""
    from pydantic import ValidationError

    from models.card import load_card, sha256_of

    name = "model"
    try:
        card = load_card(card_path)
    except (OSError, ValidationError) as exc:
        return CheckResult(name, Status.FAIL, f"card {card_path}: {exc}", "reinstall the model")
    files = []
    if card.streaming is not None:
        files += [card.streaming.frame_model, card.streaming.clip_head]
    if card.fused is not None:
        files.append(card.fused.clip_model)
    import onnxruntime

    for file in files:
        for path, expected in file.checked_files(card_path.parent):  # the model, its weights
            if not path.is_file():
                return CheckResult(
                    name, Status.FAIL, f"{path} is missing", "run `make model` or reinstall"
                )
            digest = sha256_of(path)
            if digest != expected:
                return CheckResult(
                    name,
                    Status.FAIL,
                    f"{path.name} checksum {digest[:12]} does not match the card ({expected[:12]})",
                    "the file is corrupt or from another build: reinstall the model",
                )
        path = file.resolve(card_path.parent)
        try:
            onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors
            return CheckResult(name, Status.FAIL, f"{path.name} does not load: {exc}")
    return CheckResult(
        name, Status.OK, f"{card.name} {card.version}: {len(files)} files, checksums match"
    )


def camera(name: str, url: str, frames: int = 10, timeout: float = 15.0) -> CheckResult:
    """Open the stream, decode a few frames, report fps and resolution."""
    import os

    os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
    import cv2

    check = f"camera {name}"
    started = time.monotonic()
    capture = cv2.VideoCapture(
        url,
        cv2.CAP_FFMPEG,
        [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 5000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 5000],
    )
    try:
        if not capture.isOpened():
            return CheckResult(
                check,
                Status.FAIL,
                "cannot open the stream",
                "check the URL, credentials and that the box reaches the camera (RTSP 554/TCP)",
            )
        decoded = 0
        width = height = 0
        first = None
        while decoded < frames and time.monotonic() - started < timeout:
            ok, image = capture.read()
            if not ok:
                break
            if first is None:
                first = time.monotonic()
            height, width = image.shape[:2]
            decoded += 1
        if decoded == 0:
            return CheckResult(
                check, Status.FAIL, "opened but decoded no frame", "check the codec (H.264/H.265)"
            )
        elapsed = time.monotonic() - first if first is not None else 0.0
        stream_fps = capture.get(cv2.CAP_PROP_FPS)
        measured = (decoded - 1) / elapsed if elapsed > 0 and decoded > 1 else 0.0
        return CheckResult(
            check,
            Status.OK,
            f"{width}x{height}, stream {stream_fps:.1f} fps, read {measured:.1f} fps",
        )
    finally:
        capture.release()


@dataclass(frozen=True, slots=True)
class BrokerTarget:
    """Where and how the agent connects to MQTT."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    tls: bool = False


def broker(target: BrokerTarget, timeout: float = 10.0) -> CheckResult:
    """Connect with the configured TLS and credentials and wait for the CONNACK."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    check = "broker"
    answers: queue.Queue[str] = queue.Queue()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"streetsense-doctor-{time.time_ns()}"
    )
    if target.username:
        client.username_pw_set(target.username, target.password)
    if target.tls or target.ca_file:
        client.tls_set(
            ca_certs=str(target.ca_file) if target.ca_file else None,
            certfile=str(target.cert_file) if target.cert_file else None,
            keyfile=str(target.key_file) if target.key_file else None,
            cert_reqs=ssl.CERT_REQUIRED,
        )
    client.on_connect = lambda _c, _u, _f, reason, _p: answers.put(str(reason))
    where = f"{target.host}:{target.port}{' (TLS)' if target.tls or target.ca_file else ''}"
    try:
        client.connect(target.host, target.port, keepalive=10)
    except (OSError, ssl.SSLError) as exc:
        return CheckResult(
            check,
            Status.FAIL,
            f"{where}: {exc}",
            "check host, port, firewall and the CA file; the broker must present a cert for this host",
        )
    client.loop_start()
    try:
        reason = answers.get(timeout=timeout)
    except queue.Empty:
        reason = "no CONNACK"
    finally:
        client.disconnect()
        client.loop_stop()
    if reason != "Success":
        return CheckResult(
            check,
            Status.FAIL,
            f"{where}: {reason}",
            "issue credentials with deploy/issue-agent-credentials and set the password env var",
        )
    return CheckResult(check, Status.OK, f"{where}: connected as {target.username or 'anonymous'}")
