"""Shared benchmark plumbing: repeated runs, medians with min and max, tables, plots.

Each benchmark measures its ceilings in the same run as the thing it judges, so a
noisy shared machine still gives trustworthy ratios.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
CACHE = Path(__file__).resolve().parent / ".cache"


@dataclass
class Measurement:
    """Repeated samples of one quantity (higher or lower is better: the caller knows)."""

    name: str
    unit: str
    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        """Median of the samples."""
        return statistics.median(self.samples)

    @property
    def low(self) -> float:
        """Smallest sample."""
        return min(self.samples)

    @property
    def high(self) -> float:
        """Largest sample."""
        return max(self.samples)


def repeat(name: str, unit: str, runs: int, once: Callable[[], float]) -> Measurement:
    """Call ``once`` ``runs`` times, collecting the value it returns."""
    measurement = Measurement(name, unit)
    for _ in range(runs):
        measurement.samples.append(once())
    return measurement


def machine_line() -> str:
    """One line naming the machine the numbers came from."""
    cpu = platform.processor() or platform.machine()
    try:
        with Path("/proc/cpuinfo").open(encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def table(
    title: str,
    rows: Sequence[Measurement],
    ratio_to: Measurement | None = None,
    ratio_label: str = "ratio",
) -> str:
    """A Markdown table of medians with [min, max], and ratios to a reference median."""
    header = f"| {title} | median | min | max | unit |"
    rule = "|---|---:|---:|---:|---|"
    if ratio_to is not None:
        header += f" {ratio_label} |"
        rule += "---:|"
    lines = [header, rule]
    for row in rows:
        line = f"| {row.name} | {row.median:.3g} | {row.low:.3g} | {row.high:.3g} | {row.unit} |"
        if ratio_to is not None:
            line += f" {row.median / ratio_to.median:.2f} |"
        lines.append(line)
    return "\n".join(lines)


def write_report(name: str, command: str, sections: Sequence[str]) -> Path:
    """Write a Markdown report under benchmarks/results/ and print it."""
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    text = "\n\n".join([f"# {name}", f"`{command}` on {machine_line()}, {stamp}.", *sections])
    path = RESULTS / f"{name.lower().replace(' ', '-')}.md"
    path.write_text(text + "\n", encoding="utf-8")
    print(text)
    return path


def plot(
    name: str,
    x_label: str,
    y_label: str,
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
) -> Path:
    """Save a line plot (PNG) next to the tables; ``series`` maps label -> (xs, ys)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    RESULTS.mkdir(exist_ok=True)
    figure, axes = plt.subplots(figsize=(7, 4.2))
    for label, (xs, ys) in series.items():
        axes.plot(xs, ys, marker="o", label=label)
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.grid(visible=True, alpha=0.3)
    axes.legend()
    axes.set_title(name)
    path = RESULTS / f"{name.lower().replace(' ', '-')}.png"
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def make_clip(width: int, height: int, seconds: int = 20, fps: int = 25) -> Path:
    """An H.264 test clip (cached): moving test pattern, GOP of one second, no B-frames."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"clip-{width}x{height}-{fps}fps-{seconds}s.mp4"
    if not path.exists():
        subprocess.run(
            [
                "ffmpeg",
                "-loglevel",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                f"testsrc2=size={width}x{height}:rate={fps}",
                "-t",
                str(seconds),
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-profile:v",
                "main",
                "-bf",
                "0",
                "-g",
                str(fps),
                "-pix_fmt",
                "yuv420p",
                str(path),
            ],
            check=True,
        )
    return path


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def long_clip(width: int, height: int, seconds: int) -> Path:
    """``make_clip``'s 20-second clip repeated without re-encoding to ``seconds`` (cached).

    Every camera benchmark serves this same content, so decode costs compare.
    """
    base = make_clip(width, height)
    path = CACHE / f"clip-{width}x{height}-25fps-{seconds}s-looped.mp4"
    if not path.exists():
        partial = path.with_suffix(".part.mp4")
        subprocess.run(
            [
                "ffmpeg",
                "-loglevel",
                "error",
                "-y",
                "-stream_loop",
                str(max(0, -(-seconds // 20) - 1)),
                "-i",
                str(base),
                "-t",
                str(seconds),
                "-c",
                "copy",
                "-movflags",
                "+faststart",
                str(partial),
            ],
            check=True,
        )
        partial.rename(path)
    return path


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def box_busy_seconds() -> float:
    """CPU seconds all cores of the box spent busy since boot (to see other users' load)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class BoxLoad:
    """How busy the whole box was from construction to :meth:`sentence` (all processes)."""

    def __init__(self) -> None:
        self._busy = box_busy_seconds()
        self._started = time.monotonic()

    def percent(self) -> float:
        """Busy share of all cores since construction, in percent."""
        wall = max(1e-9, time.monotonic() - self._started)
        return 100.0 * (box_busy_seconds() - self._busy) / wall / cores()

    def sentence(self) -> str:
        """One line for a report: the measured load, not an assumption about it."""
        return (
            f"The whole box was {self.percent():.0f}% busy over this benchmark "
            "(every process, the benchmark's own included)."
        )


def rss_mib(pid: int | None = None) -> float:
    """Resident memory of ``pid`` (default: this process) in MiB."""
    status = Path(f"/proc/{pid or os.getpid()}/status").read_text(encoding="ascii")
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def cores() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0))
