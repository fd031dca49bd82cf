"""Decode ceiling over RTSP (720p and 1080p), beside the 720p file ceilings.

N real-time paced RTSP cameras are served from this box by gst-rtsp-server; one
process grabs every frame of each on one decode thread per camera and converts
nothing. Its CPU per frame, plus the server's share, gives the camera ceiling of
decoding alone: ``cores x 1000 / (25 x CPU ms per frame)``. The file ceilings
(``benchmarks.decode_ceiling``: one grab or read loop per core as fast as possible)
run on the same content in the same run.

    python -m benchmarks.rtsp_ceiling [--quick]
"""

from __future__ import annotations

import argparse

from benchmarks.cameras import FPS, decode_cost
from benchmarks.decode_ceiling import measure
from benchmarks.harness import BoxLoad, Measurement, cores, make_clip, table, write_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    runs = 1 if args.quick else 2
    warmup, window = (4.0, 6.0) if args.quick else (5.0, 12.0)
    counts = (8,) if args.quick else (4, 16)
    box = cores()
    load = BoxLoad()
    costs: list[Measurement] = []
    cameras: list[Measurement] = []
    sized = [((1280, 720), count) for count in counts] + [((1920, 1080), 4 if args.quick else 8)]
    for size, count in sized:
        cost, server, _ = decode_cost(count, warmup, window, runs, size)
        costs += [cost, server]
        cameras.append(
            Measurement(
                f"RTSP {size[1]}p, {count} streams: camera ceiling",
                "cameras",
                [box * 1000.0 / (FPS * sample) for sample in cost.samples],
            )
        )
    clip = make_clip(1280, 720)
    for method in ("grab", "read"):
        cost = Measurement(f"file, {method}(), 1 thread: CPU per frame", "CPU ms/frame")
        ceiling = Measurement(f"file, {method}(), {box} processes: camera ceiling", "cameras")
        for _ in range(runs):
            fps, cpu_ms = measure(clip, method, 3.0 if args.quick else 8.0, box)
            cost.samples.append(cpu_ms)
            ceiling.samples.append(fps / FPS)
        costs.append(cost)
        cameras.append(ceiling)
    write_report(
        "RTSP decode ceiling",
        "python -m benchmarks.rtsp_ceiling" + (" --quick" if args.quick else ""),
        [
            f"720p25 and 1080p25 H.264 (`harness.make_clip`, looped), {box} cores. RTSP: served by "
            "gst-rtsp-server on the same box, read over TCP by OpenCV `grab()` with one decode "
            "thread per camera; the server's CPU is included. CPU per frame is the figure "
            "that others' load on the box does not distort; frames/s of the file ceilings "
            f"is. {load.sentence()}",
            table("decode cost", costs, costs[0], f"vs RTSP {counts[0]} streams"),
            table("cameras this box could decode (nothing else)", cameras),
        ],
    )


if __name__ == "__main__":
    main()
