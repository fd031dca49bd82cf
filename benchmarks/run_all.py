"""Run every benchmark in sequence (``make bench``); ``--quick`` for a 3-5 minute smoke run.

Each benchmark runs as its own process and writes ``benchmarks/results/<name>.md``
(and PNG plots). A failing benchmark is reported and the rest still run; the
exit status is non-zero when any failed. Benchmarks that need the shipped model
are skipped, with a message, when ``models/fight/card.yaml`` is absent.

    python -m benchmarks.run_all [--quick] [--only cameras,latency]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.harness import RESULTS, machine_line

ROOT = Path(__file__).resolve().parent.parent
CARD = ROOT / "models" / "fight" / "card.yaml"

CARD_OPTION = {"cameras", "latency", "keyframe_accuracy", "profile"}  # take --card


def snapshot_model(card: Path, target: Path) -> Path:
    """Copy a card and its ONNX files (checksums verified) so a rebuild mid-run is harmless."""
    from edge.inference import InferenceConfig, load_model
    from models.card import load_card

    load_model(InferenceConfig(card=card))  # raises ModelError on a bad checksum
    parsed = load_card(card)
    target.mkdir(parents=True, exist_ok=True)
    files = [parsed.streaming.frame_model, parsed.streaming.clip_head] if parsed.streaming else []
    if parsed.fused is not None:
        files.append(parsed.fused.clip_model)
    files += list(parsed.int8.values())
    for file in files:
        for path, _checksum in file.checked_files(card.parent):  # the graph and its data file
            shutil.copy2(path, target / path.relative_to(card.parent.resolve()))
    shutil.copy2(card, target / card.name)
    load_model(InferenceConfig(card=target / card.name))  # the copy verifies too
    return target / card.name


# name, needs the model, full arguments, quick arguments
PLAN: list[tuple[str, bool, list[str], list[str]]] = [
    ("decode_ceiling", False, ["--runs", "3", "--seconds", "4"], ["--runs", "1", "--seconds", "2"]),
    ("rtsp_ceiling", False, [], ["--quick"]),
    ("mqtt_ceiling", False, ["--messages", "20000", "--runs", "3"],
     ["--messages", "5000", "--runs", "1"]),
    ("model_bench", True, [], ["--quick"]),
    ("cameras", True, ["--int8"], ["--quick", "--limit", "12"]),
    ("latency", True, [], ["--quick"]),
    ("adapter_throughput", False, [], ["--quick"]),
    ("keyframe_accuracy", True, [], ["--limit", "20"]),
    ("profile", True, [], ["--quick", "--cameras", "4"]),
]  # fmt: skip


def _accepts(name: str, option: str) -> bool:
    """Whether ``python -m benchmarks.<name> --help`` mentions ``option``."""
    shown = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{name}", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return option in shown.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short smoke run (3-5 minutes)")
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    args = parser.parse_args()
    only = {name for name in args.only.split(",") if name}
    outcomes: list[str] = []
    began = time.monotonic()
    print(f"benchmarks on {machine_line()}", flush=True)
    card: Path | None = None
    if CARD.exists():
        from edge.inference import ModelError

        for attempt in range(10):  # the model may be mid-rebuild: wait for a clean set
            try:
                card = snapshot_model(CARD, ROOT / "benchmarks" / ".cache" / "model")
                break
            except (ModelError, OSError) as exc:
                print(f"the shipped model does not load ({exc}); retry {attempt + 1}/10")
                time.sleep(20)
        else:
            print("model benchmarks skipped: the shipped model never loaded")
    has_model = card is not None
    for name, needs_model, full, quick in PLAN:
        if only and name not in only:
            continue
        if needs_model and not has_model:
            outcomes.append(f"| {name} | skipped: {CARD.relative_to(ROOT)} is missing | |")
            print(f"== {name}: skipped (no model card)", flush=True)
            continue
        if not (ROOT / "benchmarks" / f"{name}.py").exists():
            outcomes.append(f"| {name} | skipped: benchmarks/{name}.py is missing | |")
            continue
        chosen = quick if args.quick else full
        if chosen and not _accepts(name, chosen[0]):
            chosen = []  # a benchmark owned elsewhere without that option: its defaults
        if name in CARD_OPTION and card is not None:
            chosen = [*chosen, "--card", str(card)]
        command = [sys.executable, "-m", f"benchmarks.{name}", *chosen]
        print(f"== {name}: {' '.join(command[1:])}", flush=True)
        started = time.monotonic()
        code = subprocess.run(command, cwd=ROOT, check=False).returncode
        took = time.monotonic() - started
        verdict = "ok" if code == 0 else f"FAILED (exit {code})"
        outcomes.append(f"| {name} | {verdict} | {took:.0f} |")
        print(f"== {name}: {verdict} in {took:.0f} s", flush=True)
    total = time.monotonic() - began
    RESULTS.mkdir(exist_ok=True)
    summary = "\n".join(
        [
            "# Benchmark run",
            f"`python -m benchmarks.run_all{' --quick' if args.quick else ''}` on "
            f"{machine_line()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
            f"{total / 60:.1f} minutes.",
            "",
            "| benchmark | result | seconds |",
            "|---|---|---:|",
            *outcomes,
            "",
        ]
    )
    (RESULTS / "run-all.md").write_text(summary, encoding="utf-8")
    print(summary)
    return 1 if any("FAILED" in line for line in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
