"""Raw onnxruntime latency and throughput of the shipped fight model, fp32 and int8.

Forms: the frame model (per frame), the clip head (per clip, features in) and the
fused clip model (per clip, frames in); batch 1..8, 1 and 2 intra-op threads.
Each cell is the median with min and max over repeated runs; every run times a
few calls on real-looking input and reports milliseconds per item (frame or
clip). Ratios are int8 over fp32 and each batch over batch 1, from the same run.

    python -m benchmarks.model_bench [--quick] [--runs N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from benchmarks.harness import Measurement, repeat, table, write_report
from models import shipped_card_path
from models.card import ModelCard, load_card

COMMAND = "python -m benchmarks.model_bench"


def _session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _inputs(card: ModelCard, form: str, batch: int, rng: np.random.Generator) -> np.ndarray:
    spec = card.input
    frame = (spec.frames, 3, spec.height, spec.width)
    if form == "frame_model":
        return rng.standard_normal((batch, *frame[1:]), dtype=np.float32)
    if form == "clip_model":
        return rng.standard_normal((batch, *frame), dtype=np.float32)
    assert card.streaming is not None
    return rng.random((batch, spec.frames, card.streaming.feature_dim), dtype=np.float32)


def _ms_per_item(sess: ort.InferenceSession, value: np.ndarray, calls: int) -> float:
    name = sess.get_inputs()[0].name
    sess.run(None, {name: value})  # warm-up
    start = time.perf_counter()
    for _ in range(calls):
        sess.run(None, {name: value})
    return float((time.perf_counter() - start) * 1000 / (calls * value.shape[0]))


def _files(card: ModelCard) -> dict[tuple[str, str], Path]:
    root = shipped_card_path().parent
    files: dict[tuple[str, str], Path] = {}
    if card.streaming is not None:
        files["frame_model", "fp32"] = card.streaming.frame_model.resolve(root)
        files["clip_head", "fp32"] = card.streaming.clip_head.resolve(root)
    if card.fused is not None:
        files["clip_model", "fp32"] = card.fused.clip_model.resolve(root)
    for form, entry in card.int8.items():
        files[form, "int8"] = entry.resolve(root)
    return files


def measure(card: ModelCard, batches: list[int], threads: list[int], runs: int) -> list[str]:
    """One table per form and thread count, plus an int8 / fp32 ratio table."""
    rng = np.random.default_rng(0)
    files = _files(card)
    sections: list[str] = []
    ratio_lines = [
        "| form | threads | batch | int8 / fp32 (ms per item, median) |",
        "|---|---:|---:|---:|",
    ]
    units = {"frame_model": "ms/frame", "clip_head": "ms/clip", "clip_model": "ms/clip"}
    calls = {"frame_model": 4, "clip_head": 50, "clip_model": 1}
    for form in ("frame_model", "clip_head", "clip_model"):
        for count in threads:
            rows: list[Measurement] = []
            by_key: dict[tuple[str, int], Measurement] = {}
            for precision in ("fp32", "int8"):
                path = files.get((form, precision))
                if path is None:
                    continue
                sess = _session(path, count)
                for batch in batches:
                    value = _inputs(card, form, batch, rng)

                    def once(
                        s: ort.InferenceSession = sess, v: np.ndarray = value, n: int = calls[form]
                    ) -> float:
                        return _ms_per_item(s, v, n)

                    m = repeat(f"{precision} batch {batch}", units[form], runs, once)
                    rows.append(m)
                    by_key[precision, batch] = m
                    print(f"{form} {count}t {m.name}: {m.median:.3g} {m.unit}", flush=True)
            reference = by_key.get(("fp32", batches[0]))
            title = f"{form}, {count} thread{'s' if count > 1 else ''}"
            sections.append(
                f"## {title}\n\n" + table(title, rows, reference, f"vs fp32 batch {batches[0]}")
            )
            throughput = [
                f"| {m.name} | {1000 / m.median:.1f} | {1000 / m.high:.1f} | {1000 / m.low:.1f} |"
                for m in rows
            ]
            sections.append(
                f"Throughput ({units[form].split('/')[1]}s per second, {title}): median, min, max\n\n"
                "| config | median | min | max |\n|---|---:|---:|---:|\n" + "\n".join(throughput)
            )
            for batch in batches:
                if ("int8", batch) in by_key and ("fp32", batch) in by_key:
                    ratio = by_key["int8", batch].median / by_key["fp32", batch].median
                    ratio_lines.append(f"| {form} | {count} | {batch} | {ratio:.2f} |")
    sections.append("## int8 / fp32\n\n" + "\n".join(ratio_lines))
    return sections


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batches 1 and 8, 2 runs")
    parser.add_argument("--runs", type=int, default=5, help="repeated runs per cell")
    args = parser.parse_args()
    card = load_card(shipped_card_path())
    batches = [1, 8] if args.quick else [1, 2, 4, 8]
    runs = 2 if args.quick else args.runs
    sections = [
        f"Model {card.name} {card.version}: {card.input.frames} frames of "
        f"{card.input.width}x{card.input.height} per clip; {runs} runs per cell."
    ]
    sections += measure(card, batches, [1, 2], runs)
    write_report("model bench", COMMAND + (" --quick" if args.quick else ""), sections)


if __name__ == "__main__":
    main()
