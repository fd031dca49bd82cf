"""Event latency: capture of a clip's last frame -> the event arriving at an MQTT subscriber.

The agent runs N real-time RTSP cameras (default: the count ``benchmarks.cameras``
sustained, read from ``results/cameras.json``). The agent's fusion only emits on
incidents, so this run uses a copy of the model card with every alert threshold at
0 and fusion set to confirm after one clip and send an UPDATE on every clip
(``heartbeat_s`` 1 ms): every classified clip becomes one event. That is far more
events than a real site raises (each is fsynced into the outbox, one fsync per
fusion batch), so it is a worst case for the publishing path.

Two measurements per event, same clock (one box):

* subscriber side: ``arrival time.time()`` in a paho subscriber process (this one)
  minus the event's ``occurred_at`` (the capture time of the clip's last frame,
  truncated to the millisecond, so figures are up to 1 ms pessimistic);
* agent side: ``streetsense_event_latency_seconds`` (capture -> broker PUBACK),
  reported as the histogram's bucket that holds each percentile (it includes the
  heartbeat repeats described next, so it reads high), and
  ``streetsense_classification_latency_seconds`` (capture -> classified), which
  splits the path into decode + inference and fusion + publishing.

Fusion's one-second tick also sends heartbeat UPDATEs that repeat an incident's
last observation (same ``occurred_at``, up to a clip interval old): only the first
event per (camera, occurred_at), the one the clip itself caused, is measured.

    python -m benchmarks.latency [--cameras N] [--runs 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from benchmarks.camera_trial import TrialSpec
from benchmarks.cameras import DEFAULT_CARD, run_trial
from benchmarks.harness import RESULTS, BoxLoad, Measurement, table, write_report
from events import SourceKind, decode_event, topics
from models.card import load_card
from tests.support.mosquitto import Mosquitto

EVERY_CLIP = {
    "fusion": {"smoothing": {"confirm_clips": 1}, "incidents": {"heartbeat_s": 0.001}},
}


def always_alerting_card(card: Path, directory: Path) -> Path:
    """A copy of ``card`` whose alert thresholds are 0, ONNX paths made absolute."""
    raw: dict[str, Any] = yaml.safe_load(card.read_text(encoding="utf-8"))
    base = card.resolve().parent

    def absolute(node: Any) -> Any:
        if isinstance(node, dict):
            copied = {key: absolute(value) for key, value in node.items()}
            if "path" in node and "sha256" in node:  # a model file or its external data
                copied["path"] = str((base / node["path"]).resolve())
            return copied
        return node

    raw = absolute(raw)
    for alert in raw.get("alerts", {}).values():
        alert["threshold"] = 0.0
    target = directory / "card.yaml"
    target.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return target


@dataclass
class Arrivals:
    """Events the subscriber received: first arrival per (camera, occurred_at)."""

    first: dict[tuple[str, float], float]
    lock: threading.Lock


def subscribe(port: int) -> tuple[mqtt.Client, Arrivals]:
    """A paho subscriber to every agent's events, timestamping arrivals."""
    arrivals = Arrivals({}, threading.Lock())
    ready = threading.Event()

    def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        now = time.time()
        event = decode_event(message.payload)
        if event.source.kind is SourceKind.CAMERA:
            key = (event.source.id, event.occurred_at.timestamp())
            with arrivals.lock:
                arrivals.first.setdefault(key, now)

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"latency-{time.monotonic_ns()}")
    client.on_message = on_message
    client.on_subscribe = lambda *_: ready.set()
    client.connect("127.0.0.1", port)
    client.subscribe(topics.ALL_EVENTS, qos=1)
    client.loop_start()
    if not ready.wait(10):
        raise RuntimeError("the latency subscriber could not subscribe")
    return client, arrivals


def bucket_percentile(buckets: dict[str, float], fraction: float) -> float:
    """Upper bound (seconds) of the histogram bucket holding ``fraction`` of the counts."""
    ordered = sorted(((float(le), count) for le, count in buckets.items()), key=lambda b: b[0])
    total = ordered[-1][1] if ordered else 0.0
    for bound, count in ordered:
        if total and count >= fraction * total:
            return bound
    return float("nan")


def sustained_cameras(default: int) -> int:
    """The camera count the last cameras run sustained, or ``default``."""
    path = RESULTS / "cameras.json"
    if path.exists():
        found = int(json.loads(path.read_text(encoding="utf-8")).get("agent", 0))
        if found > 0:
            return found
    return default


@dataclass
class Rows:
    """The tables of one configuration."""

    subscriber: dict[str, Measurement]
    agent: dict[str, Measurement]
    classified: dict[str, Measurement]
    events: Measurement
    verdicts: list[str]


NAMES = ("p50", "p95", "p99", "max")


def measure(
    card: Path, sample_fps: float, count: int, runs: int, timing: tuple[float, float],
    overrides: dict[str, Any], port: int,
) -> Rows:  # fmt: skip
    """``runs`` trials of ``count`` cameras; percentiles of each."""
    rows = Rows(
        {n: Measurement(f"subscriber {n}", "ms") for n in NAMES},
        {n: Measurement(f"agent histogram {n} (bucket bound)", "ms") for n in NAMES[:3]},
        {n: Measurement(f"agent histogram {n} (bucket bound)", "ms") for n in NAMES[:3]},
        Measurement("events measured per run", "events"),
        [],
    )
    for _ in range(runs):
        client, arrivals = subscribe(port)
        spec = TrialSpec("agent", [""] * count, str(card), *timing, agent_overrides=overrides)
        trial = run_trial(spec, sample_fps, port)
        time.sleep(1.0)
        client.disconnect()
        client.loop_stop()
        start = trial.result.window_started_at
        end = start + trial.result.window_s
        with arrivals.lock:
            lat = [
                1000.0 * (arrived - occurred)
                for (_camera, occurred), arrived in arrivals.first.items()
                if start <= occurred <= end
            ]
        if not lat:
            raise RuntimeError("no events arrived: check the agent and its card")
        values = np.array(lat)
        for name, value in zip(
            NAMES, (*np.percentile(values, [50, 95, 99]), values.max()), strict=True
        ):
            rows.subscriber[name].samples.append(float(value))
        for name, fraction in zip(NAMES[:3], (0.5, 0.95, 0.99), strict=True):
            bound = bucket_percentile(trial.result.event_latency, fraction)
            rows.agent[name].samples.append(1000.0 * bound)
            bound = bucket_percentile(trial.result.classification_latency, fraction)
            rows.classified[name].samples.append(1000.0 * bound)
        rows.events.samples.append(float(len(lat)))
        rows.verdicts.append(trial.verdict)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--card", type=Path, default=DEFAULT_CARD)
    parser.add_argument("--cameras", type=int, default=0, help="0: the sustained count")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    count = args.cameras or sustained_cameras(4 if args.quick else 8)
    runs = 1 if args.quick else args.runs
    timing = (5.0, 10.0) if args.quick else (5.0, 20.0)
    sample_fps = load_card(args.card).input.sample_fps
    load = BoxLoad()
    configs: dict[str, tuple[dict[str, Any], int]] = {
        "agent defaults (outbox synchronous: full, one fsync per fusion batch)": (EVERY_CLIP, runs),
        "outbox synchronous: normal (no fsync per batch)": (
            {**EVERY_CLIP, "outbox": {"synchronous": "normal"}},
            max(1, runs // 2),
        ),
    }
    if args.quick:
        configs = dict(list(configs.items())[:1])
    sections = [
        f"{count} 720p25 RTSP cameras (the sustained count), every clip an event (alert "
        "thresholds 0, UPDATE per clip); subscriber: paho QoS 1 on the same mosquitto."
    ]
    results: dict[str, Rows] = {}
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        card = always_alerting_card(args.card, Path(tmp))
        broker = Mosquitto(Path(tmp) / "mqtt")
        broker.start()
        try:
            for label, (overrides, config_runs) in configs.items():
                results[label] = measure(
                    card, sample_fps, count, config_runs, timing, overrides, broker.port
                )
        finally:
            broker.kill()
    for label, rows in results.items():
        sections.append(
            f"## {label}\n\nLoad check of each run: {', '.join(rows.verdicts)}.\n\n"
            + table("capture of last frame -> subscriber", list(rows.subscriber.values()))
            + "\n\n"
            + table("capture -> PUBACK (agent metric)", list(rows.agent.values()))
            + "\n\n"
            + table(
                "capture -> classified (agent metric; the rest is fusion and publishing)",
                list(rows.classified.values()),
            )
            + "\n\n"
            + table("sample size", [rows.events])
        )
    sections[0] += " " + load.sentence()
    default = next(iter(results.values()))
    sections.append(
        f"p99 with the agent's defaults, median over runs: "
        f"**{default.subscriber['p99'].median:.0f} ms** (target <= 250 ms)."
    )
    write_report(
        "Event latency", f"python -m benchmarks.latency --cameras {count} --runs {runs}", sections
    )


if __name__ == "__main__":
    main()
