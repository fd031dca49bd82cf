"""Decode ceilings: how many H.264 camera streams this box can decode at all.

Files are decoded as fast as possible by one process per core (OpenCV grab() with one
decode thread, PyAV decode-only, and OpenCV read() with BGR conversion for comparison);
the ceiling in cameras is total frames/s divided by 25 fps.

    python -m benchmarks.decode_ceiling [--runs 3] [--seconds 8]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from pathlib import Path

from benchmarks.harness import Measurement, make_clip, table, write_report

FPS = 25


def _decode_file(path: str, method: str, seconds: float) -> tuple[int, float]:
    """Decode ``path`` in a loop for ``seconds``; return frames and CPU seconds used."""
    os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = "threads;1"
    import cv2

    cv2.setNumThreads(1)
    frames = 0
    cpu_start = time.process_time()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if method == "pyav":
            import av

            with av.open(path) as container:
                stream = container.streams.video[0]
                stream.thread_count = 1
                stream.thread_type = "SLICE"
                for _frame in container.decode(stream):
                    frames += 1
                    if time.monotonic() >= deadline:
                        break
            continue
        if method == "pyav-keyframes":
            import av

            with av.open(path) as container:
                stream = container.streams.video[0]
                stream.codec_context.skip_frame = "NONKEY"
                for _frame in container.decode(stream):
                    frames += 25  # one decoded keyframe stands for a GOP of input frames
            continue
        capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
        while time.monotonic() < deadline:
            ok = capture.grab() if method == "grab" else capture.read()[0]
            if not ok:
                break
            frames += 1
        capture.release()
    return frames, time.process_time() - cpu_start


def _worker(args: tuple[str, str, float]) -> tuple[int, float]:
    return _decode_file(*args)


def measure(path: Path, method: str, seconds: float, processes: int) -> tuple[float, float]:
    """Total decoded frames/s over ``processes`` workers, and CPU-ms per frame."""
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        start = time.monotonic()
        results = pool.map(_worker, [(str(path), method, seconds)] * processes)
        wall = time.monotonic() - start
    frames = sum(r[0] for r in results)
    cpu = sum(r[1] for r in results)
    del wall
    return frames / seconds, 1000.0 * cpu / max(frames, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    sections = []
    for width, height in ((1280, 720), (1920, 1080)):
        clip = make_clip(width, height)
        rates: dict[str, Measurement] = {}
        costs: dict[str, Measurement] = {}
        for method in ("grab", "pyav", "read", "pyav-keyframes"):
            rates[method] = Measurement(f"{method}: cameras at {FPS} fps", "cameras")
            costs[method] = Measurement(f"{method}: CPU per input frame", "ms")
            for _ in range(args.runs):
                fps, cpu_ms = measure(clip, method, args.seconds, args.processes)
                rates[method].samples.append(fps / FPS)
                costs[method].samples.append(cpu_ms)
        sections.append(
            f"## {height}p, {args.processes} decode processes\n\n"
            + table("decode ceiling", list(rates.values()), rates["grab"], "vs grab")
            + "\n\n"
            + table("decode cost", list(costs.values()), costs["grab"], "vs grab")
        )
    write_report(
        "Decode ceiling",
        f"python -m benchmarks.decode_ceiling --runs {args.runs} --seconds {args.seconds}",
        sections,
    )


if __name__ == "__main__":
    main()
