"""Where the CPU goes: py-spy profiles of the baseline and the agent at the same camera count.

Each implementation runs a normal camera trial (``benchmarks.camera_trial``); once its
steady-state window starts, ``py-spy record`` samples the trial process (all
threads, idle samples excluded) for the window. Time inside C extensions (FFmpeg
decode in ``grab``, onnxruntime ``run``) is charged to the Python line that called
them. The tables list the top functions by share of busy samples ("self": the
sample's innermost Python frame) and the share of the main pipeline steps
(inclusive). "before" is the straightforward implementation, "after" the agent;
``--label`` adds a named agent run (e.g. after a code change) to the same report.

    python -m benchmarks.profile [--cameras 8] [--quick] [--label NAME]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path

from benchmarks.camera_trial import WINDOW_MARK, TrialSpec
from benchmarks.cameras import DEFAULT_CARD, ROOT
from benchmarks.harness import RESULTS, BoxLoad, write_report
from benchmarks.streams import rtsp_cameras
from tests.support.mosquitto import Mosquitto

PY_SPY = Path(sys.executable).with_name("py-spy")
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]+)(?::(?P<line>\d+))?\)$")

Frame = tuple[str, str, str]  # short function name, file name, line


def _calls(frames: list[Frame], func: str, *files: str) -> bool:
    return any(name == func and file in files for name, file, _ in frames)


def _innermost(frames: list[Frame], func: str, file: str) -> bool:
    return frames[-1][0] == func and frames[-1][1] == file


# Pipeline steps (inclusive): a sample counts for a step when its stack is inside it.
STEPS: dict[str, Callable[[list[Frame]], bool]] = {
    "decode (agent: grab every frame; baseline: read() = decode + BGR)": lambda f: (
        _calls(f, "grab", "opencv_stream.py", "pyav_stream.py")
        or _innermost(f, "_camera_loop", "baseline_pipeline.py")
    ),
    "convert sampled frames to BGR (retrieve)": lambda f: _calls(
        f, "retrieve", "opencv_stream.py", "pyav_stream.py"
    ),
    "preprocess (mask, resize, normalise)": lambda f: (
        _calls(f, "process", "preprocess.py") or _calls(f, "_prepare", "baseline_pipeline.py")
    ),
    "onnxruntime run": lambda f: _calls(f, "run", "onnxruntime_inference_collection.py"),
    "fusion": lambda f: _calls(f, "_fuse", "agent.py"),
    "outbox and MQTT": lambda f: (
        _calls(f, "_run", "publisher.py") or _calls(f, "submit", "outbox.py")
    ),
}


def _parse(line: str) -> tuple[list[Frame], int] | None:
    stack, _, count = line.rpartition(" ")
    if not stack or not count.isdigit():
        return None
    frames: list[Frame] = []
    for raw in stack.split(";"):
        match = _FRAME.match(raw.strip())
        if match:
            func = match["func"].rsplit(".", 1)[-1]
            frames.append((func, Path(match["file"]).name, match["line"] or ""))
    return frames, int(count)


def summarise(raw: Path, top: int = 12) -> dict[str, object]:
    """Self shares of the top functions and inclusive shares of the pipeline steps."""
    own: Counter[str] = Counter()
    steps: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        parsed = _parse(line)
        if parsed is None or not parsed[0]:
            continue
        frames, count = parsed
        total += count
        func, file, number = frames[-1]
        own[f"{func} ({file}:{number})"] += count
        for step, inside in STEPS.items():
            if inside(frames):
                steps[step] += count
    share = {key: value / total for key, value in own.most_common(top)} if total else {}
    return {
        "samples": total,
        "top": share,
        "steps": {step: steps[step] / total for step in STEPS} if total else {},
    }


@contextlib.contextmanager
def _broker() -> Iterator[int]:
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        broker = Mosquitto(Path(tmp))
        broker.start()
        try:
            yield broker.port
        finally:
            broker.kill()


def profile_trial(impl: str, cameras: int, card: Path, window_s: float, out: Path) -> None:
    """Run one trial and py-spy it during its steady-state window; raw stacks to ``out``."""
    with _broker() as port, rtsp_cameras(cameras) as served:
        spec = TrialSpec(impl, served.urls, str(card), 5.0, window_s, mqtt_port=port)
        process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.camera_trial", json.dumps(asdict(spec))],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started = threading.Event()

        def watch() -> None:
            assert process.stderr is not None
            for line in process.stderr:
                if WINDOW_MARK in line:
                    started.set()

        threading.Thread(target=watch, daemon=True).start()
        try:
            deadline = 60.0 + 3 * cameras
            while not started.wait(0.5):
                deadline -= 0.5
                if process.poll() is not None or deadline <= 0:
                    raise RuntimeError(f"{impl}: the trial ended or stalled before its window")
            subprocess.run(
                [str(PY_SPY), "record", "--pid", str(process.pid), "--format", "raw",
                 "--rate", "100", "--nonblocking", "--duration", str(int(window_s) - 1),
                 "--output", str(out)],
                check=True, capture_output=True, timeout=window_s + 60,
            )  # fmt: skip
            process.wait(timeout=window_s + 120)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def _tables(runs: dict[str, dict[str, object]]) -> list[str]:
    labels = list(runs)
    steps = ["| pipeline step (inclusive share of busy samples) | "
             + " | ".join(labels) + " |", "|---|" + "---:|" * len(labels)]  # fmt: skip
    for step in STEPS:
        values = [runs[label]["steps"].get(step, 0.0) for label in labels]  # type: ignore[attr-defined]
        steps.append(f"| {step} | " + " | ".join(f"{100 * v:.1f}%" for v in values) + " |")
    sections = ["\n".join(steps)]
    for label, run in runs.items():
        lines = [f"| {label}: top functions (self) | share |", "|---|---:|"]
        for name, share in run["top"].items():  # type: ignore[attr-defined]
            lines.append(f"| `{name}` | {100 * share:.1f}% |")
        lines.append(f"| busy samples | {run['samples']} |")
        sections.append("\n".join(lines))
    return sections


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--card", type=Path, default=DEFAULT_CARD)
    parser.add_argument("--cameras", type=int, default=8)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--label", default="", help="profile the agent only, under this name")
    args = parser.parse_args()
    window = 8.0 if args.quick else 20.0
    store = RESULTS / "profile.json"
    runs: dict[str, dict[str, object]] = (
        json.loads(store.read_text(encoding="utf-8")) if store.exists() and args.label else {}
    )
    plan = (
        [(f"agent ({args.label})", "agent")]
        if args.label
        else [("before: baseline", "baseline"), ("after: agent", "agent")]
    )
    RESULTS.mkdir(exist_ok=True)
    load = BoxLoad()
    with tempfile.TemporaryDirectory(prefix="bench-pyspy-") as tmp:
        for label, impl in plan:
            raw = Path(tmp) / f"{impl}.txt"
            profile_trial(impl, args.cameras, args.card, window, raw)
            runs[label] = summarise(raw)
    store.write_text(json.dumps(runs, indent=1), encoding="utf-8")
    write_report(
        "Profile",
        f"python -m benchmarks.profile --cameras {args.cameras}"
        + (" --quick" if args.quick else "")
        + (f" --label {args.label}" if args.label else ""),
        [
            f"py-spy (100 Hz, idle excluded) over the steady-state window of a trial with "
            f"{args.cameras} 720p25 RTSP cameras, model card `{args.card.name}` in "
            f"`{args.card.parent.name}`. Shares are of busy samples of all threads; time in "
            "C code is charged to the Python line that called it. " + load.sentence(),
            *_tables(runs),
        ],
    )


if __name__ == "__main__":
    main()
